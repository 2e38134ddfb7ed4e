"""Read paths for responses, commitments, ratings, the overdue list and the
accountability dashboard. Each runs a fixed number of queries.

The dashboard's breakdowns by department and by tag go through
`accounts.small_groups`, which hides every group of fewer than
ANONYMITY_MIN_GROUP_SIZE people and whatever else subtraction would give away. What
a row counts and which people it stands for:

- Concerns: only those the concern list shows (open, response due, answered,
  closed). A merged concern counts only as the one it was merged into; concerns
  waiting for a moderator or a publication batch, rejected or withdrawn count
  nowhere, as the concern list does not show them either.
- By department: each concern counts once, in the department it names or, when it
  names none and was raised under a name, in its author's department. A concern
  that names no department and was raised anonymously (or by someone in no
  department) counts in no row, and the page prints no total of the department
  rows: the sum of the hidden departments must not be one subtraction away.
  A department row stands for the department's active members.
- By tag: a concern counts in each of its tags. A tag row stands for the people who
  raised its concerns under their name. An anonymous submitter is an unknown
  person who may well be one of those authors, so anonymous concerns add nobody: a
  tag whose concerns could all stem from fewer than k people is hidden. Tag rows are
  not added up, as a concern can carry several tags.

Figures per row: concerns; answered (a response was published); answered on time
(the first response came by the deadline of the duty it answered, as in the
per-leader figures); overdue now.
"""

import difflib
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Prefetch
from django.utils import timezone

from accounts.models import Role, User
from accounts.small_groups import Breakdown, Group, breakdown
from concerns.models import LISTED_STATUSES, Concern, Status
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
    departments: Breakdown
    tags: Breakdown
    escalation_min_raters: int = ESCALATION_MIN_RATERS


def accountability_dashboard() -> Dashboard:
    """Every figure is computed from the records, in six queries: four for the
    leaders and months, two for the breakdowns."""
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
    departments, tags = _breakdowns(today)
    return Dashboard(
        leaders=list(figures.values()),
        months=[months[key] for key in sorted(months)],
        departments=departments,
        tags=tags,
    )


def _month(months: dict[str, MonthFigures], day: date) -> MonthFigures:
    key = f"{day:%Y-%m}"
    months[key].month = key
    return months[key]


BREAKDOWN_FIGURES = ("concerns", "answered", "answered_on_time", "overdue")


@dataclass
class _Row:
    label: str
    people: set = field(default_factory=set)
    concerns: set = field(default_factory=set)
    figures: Counter = field(default_factory=Counter)

    def count(self, concern_id, facts: tuple[bool, bool, bool]) -> None:
        if concern_id in self.concerns:
            return
        self.concerns.add(concern_id)
        self.figures["concerns"] += 1
        for name, fact in zip(BREAKDOWN_FIGURES[1:], facts, strict=True):
            self.figures[name] += fact

    def group(self, key) -> Group:
        figures = {name: self.figures[name] for name in BREAKDOWN_FIGURES}
        return Group(key=key, label=self.label, people=frozenset(self.people), figures=figures)


def _breakdowns(today: date) -> tuple[Breakdown, Breakdown]:
    """The breakdowns by department and by tag, in two queries (see the module's
    docstring for what each row counts)."""
    departments: dict[int, _Row] = {}
    members = User.objects.filter(is_active=True, department__isnull=False).values_list(
        "department_id", "department__name", "pk"
    )
    for department_id, name, person_id in members:
        departments.setdefault(department_id, _Row(name)).people.add(person_id)
    tags: dict[int, _Row] = {}
    # One row per (concern, tag), or one with no tag: a single query for both.
    rows = Concern.objects.filter(status__in=LISTED_STATUSES).values_list(
        "pk",
        "department_id",
        "department__name",
        "author_id",
        "author__department_id",
        "author__department__name",
        "status",
        "response_due_on",
        "response__first_published_at",
        "response__first_due_on",
        "tags__pk",
        "tags__name",
    )
    for row in rows:
        concern_id, named_id, named_name, author_id, home_id, home_name = row[:6]
        status, due_on, first_published, first_due_on, tag_id, tag_name = row[6:]
        published_on = timezone.localdate(first_published) if first_published else None
        facts = (
            published_on is not None,
            published_on is not None and (first_due_on is None or published_on <= first_due_on),
            status == Status.RESPONSE_DUE and due_on is not None and due_on < today,
        )
        # An anonymous concern has no author, so it can only count where it names one.
        department_id, name = (named_id, named_name) if named_id else (home_id, home_name)
        if department_id is not None:
            departments.setdefault(department_id, _Row(name)).count(concern_id, facts)
        if tag_id is not None:
            tag = tags.setdefault(tag_id, _Row(tag_name))
            tag.count(concern_id, facts)
            if author_id is not None:
                tag.people.add(author_id)
    return (
        breakdown(row.group(key) for key, row in sorted(departments.items(), key=_by_label)),
        breakdown(row.group(key) for key, row in sorted(tags.items(), key=_by_label)),
    )


def _by_label(item: tuple[int, _Row]) -> tuple[str, int]:
    return item[1].label.casefold(), item[0]


def response_draft(*, concern: Concern) -> Response:
    """The concern's response with its private draft; an empty, unsaved one if no
    leader has written anything yet."""
    return Response.objects.filter(concern=concern).first() or Response(concern=concern)
