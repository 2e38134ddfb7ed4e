"""Read paths for responses, commitments, ratings, the overdue list and the
accountability dashboard. Each runs a fixed number of queries."""

import difflib
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Prefetch
from django.utils import timezone

from accounts.models import Role, User
from concerns.models import Concern, Status
from responses.models import (
    Commitment,
    CommitmentStatus,
    CommitmentUpdate,
    Rating,
    RatingValue,
    Response,
    ResponseVersion,
)
from responses.services import ESCALATION_MIN_RATERS, rater_hash


@dataclass
class VersionView:
    version: ResponseVersion
    changes: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ResponseView:
    response: Response | None
    versions: list[VersionView]
    commitments: list[Commitment]
    rating_counts: dict[str, int]
    raters: int
    viewer_rating: str | None

    @property
    def latest(self) -> ResponseVersion | None:
        return self.versions[-1].version if self.versions else None

    @property
    def rating_rows(self) -> list[tuple[str, str, int]]:
        return [(v, RatingValue(v).label, self.rating_counts.get(v, 0)) for v in RatingValue.values]


def _changes(before: ResponseVersion, after: ResponseVersion) -> list[tuple[str, str]]:
    """What changed between two versions, line by line: ("added" | "removed" | "same")."""
    lines: list[tuple[str, str]] = []
    if before.position != after.position:
        lines.append(("removed", f"Position: {before.get_position_display()}"))
        lines.append(("added", f"Position: {after.get_position_display()}"))
    if before.summary != after.summary:
        lines.append(("removed", f"Summary: {before.summary}"))
        lines.append(("added", f"Summary: {after.summary}"))
    for line in difflib.ndiff(before.details.splitlines(), after.details.splitlines()):
        tag, text = line[:2], line[2:]
        if tag == "+ ":
            lines.append(("added", text))
        elif tag == "- ":
            lines.append(("removed", text))
    return lines


def response_view(*, concern: Concern, viewer: User | None) -> ResponseView:
    response = Response.objects.filter(concern=concern).first()
    if response is None:
        return ResponseView(None, [], [], {}, 0, None)
    versions = list(response.versions.order_by("number"))
    views = [VersionView(v) for v in versions]
    for before, after in zip(views, views[1:], strict=False):
        after.changes = _changes(before.version, after.version)
    commitments = list(
        response.commitments.select_related("owner").prefetch_related(
            Prefetch(
                "updates",
                queryset=CommitmentUpdate.objects.select_related("author").order_by(
                    "created_at", "pk"
                ),
            )
        )
    )
    counts: dict[str, int] = {}
    viewer_rating = None
    if versions:
        latest = versions[-1]
        counts = dict(
            Rating.objects.filter(version=latest)
            .values_list("value")
            .annotate(n=Count("pk"))
            .values_list("value", "n")
        )
        if viewer is not None and viewer.is_authenticated:
            viewer_rating = (
                Rating.objects.filter(
                    version=latest, rater_hash=rater_hash(person_id=viewer.pk, version_id=latest.pk)
                )
                .values_list("value", flat=True)
                .first()
            )
    return ResponseView(
        response=response,
        versions=views,
        commitments=commitments,
        rating_counts={v: counts.get(v, 0) for v in RatingValue.values},
        raters=sum(counts.values()),
        viewer_rating=viewer_rating,
    )


def overdue_list() -> list[Concern]:
    """Concerns past their response deadline, longest overdue first."""
    today = timezone.localdate()
    concerns = list(
        Concern.objects.filter(status=Status.RESPONSE_DUE, response_due_on__lt=today)
        .select_related("accountable_leader")
        .order_by("response_due_on", "title")
        .only(
            "pk",
            "title",
            "status",
            "vote_count",
            "response_due_on",
            "response_due_since",
            "accountable_leader__first_name",
            "accountable_leader__last_name",
            "accountable_leader__username",
        )
    )
    return concerns


@dataclass
class LeaderFigures:
    leader: User
    assigned: int = 0
    answered: int = 0
    answered_on_time: int = 0
    median_days_to_respond: float | None = None
    overdue_now: int = 0
    commitments_kept: int = 0
    commitments_missed: int = 0
    commitments_open: int = 0
    ratings: dict[str, int] = field(default_factory=dict)

    @property
    def response_rate(self) -> int | None:
        return round(100 * self.answered / self.assigned) if self.assigned else None


@dataclass
class MonthFigures:
    month: str
    became_due: int = 0
    answered: int = 0
    deadlines_missed: int = 0


@dataclass
class Dashboard:
    leaders: list[LeaderFigures]
    months: list[MonthFigures]
    escalation_min_raters: int = ESCALATION_MIN_RATERS


def accountability_dashboard() -> Dashboard:
    """Every figure is computed from the records, in four queries."""
    today = timezone.localdate()
    figures = {
        leader.pk: LeaderFigures(leader)
        for leader in User.objects.filter(role=Role.LEADER).order_by("last_name", "username")
    }
    months: dict[str, MonthFigures] = defaultdict(lambda: MonthFigures(""))
    duties = Concern.objects.filter(accountable_leader__isnull=False).values_list(
        "accountable_leader_id",
        "status",
        "response_due_since",
        "response_due_on",
        "deadline_missed_on",
        "response__first_published_at",
        "response__first_due_since",
        "response__first_due_on",
    )
    days_to_respond: dict[int, list[int]] = defaultdict(list)
    for row in duties:
        leader_id, status, due_since, due_on, missed_on = row[:5]
        first_published, first_due_since, first_due_on = row[5:]
        figure = figures.get(leader_id)
        if figure is None:
            continue
        figure.assigned += 1
        # The first answer is judged against the duty it answered, not a later one.
        answered_duty_since = first_due_since if first_published else due_since
        if answered_duty_since or due_since:
            _month(months, answered_duty_since or due_since).became_due += 1
        if missed_on:
            _month(months, missed_on).deadlines_missed += 1
        if first_published is not None:
            published_on = timezone.localdate(first_published)
            figure.answered += 1
            _month(months, published_on).answered += 1
            if first_due_on is None or published_on <= first_due_on:
                figure.answered_on_time += 1
            if first_due_since:
                days_to_respond[leader_id].append(max(0, (published_on - first_due_since).days))
        if status == Status.RESPONSE_DUE and due_on and due_on < today:
            figure.overdue_now += 1
    for leader_id, days in days_to_respond.items():
        figures[leader_id].median_days_to_respond = statistics.median(days)
    commitments = Commitment.objects.filter(
        response__concern__accountable_leader__isnull=False
    ).values_list("response__concern__accountable_leader_id", "status")
    for leader_id, status in commitments:
        figure = figures.get(leader_id)
        if figure is None:
            continue
        if status == CommitmentStatus.DONE:
            figure.commitments_kept += 1
        elif status == CommitmentStatus.MISSED:
            figure.commitments_missed += 1
        elif status in (CommitmentStatus.PLANNED, CommitmentStatus.IN_PROGRESS):
            figure.commitments_open += 1
    ratings = (
        Rating.objects.filter(version__response__concern__accountable_leader__isnull=False)
        .values_list("version__response__concern__accountable_leader_id", "value")
        .annotate(n=Count("pk"))
        .values_list("version__response__concern__accountable_leader_id", "value", "n")
    )
    tallies: dict[int, Counter] = defaultdict(Counter)
    for leader_id, value, n in ratings:
        tallies[leader_id][value] += n
    for leader_id, tally in tallies.items():
        if leader_id in figures:
            figures[leader_id].ratings = {v: tally.get(v, 0) for v in RatingValue.values}
    return Dashboard(
        leaders=list(figures.values()),
        months=[months[key] for key in sorted(months)],
    )


def _month(months: dict[str, MonthFigures], day: date) -> MonthFigures:
    key = f"{day:%Y-%m}"
    months[key].month = key
    return months[key]
