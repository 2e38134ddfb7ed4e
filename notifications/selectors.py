"""What a digest or notification holds. Anonymous concerns appear like any other:
no author, and lists are ordered by support or title, never by submission.

A digest's shared part is the same for everyone with the same window (since, until):
`digest_content` builds it (a fixed number of queries whatever the data size) as plain
values, `DigestEdition` stores it once per window when digests are scheduled, and
every mail of that window reads it back with `digest_of`."""

import datetime
from dataclasses import asdict, dataclass, field

from django.db.models import Count
from django.utils import timezone

from concerns.models import LISTED_STATUSES, Concern, Status, Vote
from ledger.selectors import ledger_head
from meetings.models import Meeting, MeetingStatus
from notifications.models import Delivery, DigestEdition, Follow
from responses.models import OPEN_COMMITMENT_STATUSES, Commitment, CommitmentStatus, ResponseVersion

SECTION_LIMIT = 10
GAINING_LIMIT = 5


@dataclass(frozen=True)
class ConcernLine:
    title: str
    url: str
    vote_count: int
    gained: int = 0


@dataclass(frozen=True)
class ResponseLine:
    title: str
    url: str
    number: int
    position: str
    signed_as: str
    summary: str


@dataclass(frozen=True)
class OverdueLine:
    title: str
    url: str
    days_overdue: int
    leader: str


@dataclass(frozen=True)
class CommitmentLine:
    description: str
    owner: str
    due_on: datetime.date


@dataclass(frozen=True)
class MeetingLine:
    title: str
    scheduled_start: datetime.datetime


@dataclass(frozen=True)
class AgendaLine:
    title: str


@dataclass
class Digest:
    since: datetime.datetime
    until: datetime.datetime
    new_concerns: list[ConcernLine] = field(default_factory=list)
    gaining: list[ConcernLine] = field(default_factory=list)
    responses: list[ResponseLine] = field(default_factory=list)
    overdue: list[OverdueLine] = field(default_factory=list)
    commitments_due: list[CommitmentLine] = field(default_factory=list)
    commitments_missed: list[CommitmentLine] = field(default_factory=list)
    next_meeting: MeetingLine | None = None
    agenda: list[AgendaLine] = field(default_factory=list)
    ledger_sequence: int = 0
    ledger_hash: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(
            (self.new_concerns, self.gaining, self.responses, self.overdue,
             self.commitments_due, self.commitments_missed, self.agenda)
        )  # fmt: skip

    def to_json(self) -> dict:
        """Plain JSON for `DigestEdition.content`: dates as ISO strings."""
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        for key in ("commitments_due", "commitments_missed"):
            for line in data[key]:
                line["due_on"] = line["due_on"].isoformat()
        if self.next_meeting:
            data["next_meeting"]["scheduled_start"] = self.next_meeting.scheduled_start.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Digest":
        def commitments(key: str) -> list[CommitmentLine]:
            return [
                CommitmentLine(**(line | {"due_on": datetime.date.fromisoformat(line["due_on"])}))
                for line in data[key]
            ]

        meeting = data["next_meeting"]
        return cls(
            since=datetime.datetime.fromisoformat(data["since"]),
            until=datetime.datetime.fromisoformat(data["until"]),
            new_concerns=[ConcernLine(**line) for line in data["new_concerns"]],
            gaining=[ConcernLine(**line) for line in data["gaining"]],
            responses=[ResponseLine(**line) for line in data["responses"]],
            overdue=[OverdueLine(**line) for line in data["overdue"]],
            commitments_due=commitments("commitments_due"),
            commitments_missed=commitments("commitments_missed"),
            next_meeting=(
                MeetingLine(
                    title=meeting["title"],
                    scheduled_start=datetime.datetime.fromisoformat(meeting["scheduled_start"]),
                )
                if meeting
                else None
            ),
            agenda=[AgendaLine(**line) for line in data["agenda"]],
            ledger_sequence=data["ledger_sequence"],
            ledger_hash=data["ledger_hash"],
        )


def _gaining(*, first_day: datetime.date, last_day: datetime.date) -> list[ConcernLine]:
    """The listed concerns that gained most votes in the window, by support then title.
    Counted from the vote side, so the `vote_cast_on` (cast_on, concern) index reads
    only the window's votes instead of every vote of every listed concern."""
    rows = (
        Vote.objects.filter(
            cast_on__gte=first_day, cast_on__lte=last_day, concern__status__in=LISTED_STATUSES
        )
        .values("concern_id", "concern__title", "concern__vote_count")
        .annotate(gained=Count("pk"))
        .order_by("-gained", "concern__title", "concern_id")[:GAINING_LIMIT]
    )
    return [
        ConcernLine(
            title=row["concern__title"],
            url=Concern(pk=row["concern_id"]).get_absolute_url(),
            vote_count=row["concern__vote_count"],
            gained=row["gained"],
        )
        for row in rows
    ]


def digest_content(*, since: datetime.datetime, until: datetime.datetime) -> Digest:
    """The same for everyone in a period; nine queries whatever the data size (eight
    when no all-hands is planned)."""
    today = timezone.localdate(until)
    new_concerns = [
        ConcernLine(title=c.title, url=c.get_absolute_url(), vote_count=c.vote_count)
        for c in Concern.objects.filter(
            status__in=LISTED_STATUSES, published_at__gte=since, published_at__lt=until
        )
        .order_by("-vote_count", "title")
        .only("pk", "title", "vote_count")[:SECTION_LIMIT]
    ]
    gaining = _gaining(first_day=timezone.localdate(since), last_day=today)
    responses = [
        ResponseLine(
            title=v.response.concern.title,
            url=v.response.concern.get_absolute_url(),
            number=v.number,
            position=v.get_position_display(),
            signed_as=v.signed_as,
            summary=v.summary,
        )
        for v in ResponseVersion.objects.filter(published_at__gte=since, published_at__lt=until)
        .select_related("response__concern")
        .order_by("-published_at")[:SECTION_LIMIT]
    ]
    overdue = [
        OverdueLine(
            title=c.title,
            url=c.get_absolute_url(),
            days_overdue=(today - c.response_due_on).days,
            leader=c.accountable_leader.display_name if c.accountable_leader else "",
        )
        for c in Concern.objects.filter(status=Status.RESPONSE_DUE, response_due_on__lt=today)
        .select_related("accountable_leader")
        .order_by("response_due_on", "title")[:SECTION_LIMIT]
    ]
    commitments = Commitment.objects.select_related("owner")
    commitments_due = [
        CommitmentLine(description=k.description, owner=k.owner.display_name, due_on=k.due_on)
        for k in commitments.filter(
            status__in=OPEN_COMMITMENT_STATUSES,
            due_on__gte=today,
            due_on__lte=today + datetime.timedelta(days=7),
        ).order_by("due_on", "pk")[:SECTION_LIMIT]
    ]
    commitments_missed = [
        CommitmentLine(description=k.description, owner=k.owner.display_name, due_on=k.due_on)
        for k in commitments.filter(
            status=CommitmentStatus.MISSED,
            due_on__gte=timezone.localdate(since) - datetime.timedelta(days=1),
        ).order_by("due_on", "pk")[:SECTION_LIMIT]
    ]
    meeting = (
        Meeting.objects.filter(status=MeetingStatus.PLANNED, scheduled_start__gte=until)
        .order_by("scheduled_start")
        .first()
    )
    agenda = (
        [
            AgendaLine(title=item.title)
            for item in meeting.items.select_related("concern").order_by("position")
        ]
        if meeting
        else []
    )
    head = ledger_head()
    return Digest(
        since=since,
        until=until,
        new_concerns=new_concerns,
        gaining=gaining,
        responses=responses,
        overdue=overdue,
        commitments_due=commitments_due,
        commitments_missed=commitments_missed,
        next_meeting=(
            MeetingLine(title=meeting.title, scheduled_start=meeting.scheduled_start)
            if meeting
            else None
        ),
        agenda=agenda,
        ledger_sequence=head.sequence,
        ledger_hash=head.entry_hash,
    )


def digest_editions(edition_ids) -> dict[int, Digest]:
    """The stored digests of these editions, in one query."""
    return {
        edition.pk: Digest.from_json(edition.content)
        for edition in DigestEdition.objects.filter(pk__in=set(edition_ids))
    }


def digest_of(delivery: Delivery) -> Digest:
    """What this digest delivery says: its stored edition, or, for a delivery recorded
    without one, the content of its window as it is now."""
    edition_id = delivery.context.get("edition")
    if edition_id is not None:
        edition = DigestEdition.objects.filter(pk=edition_id).first()
        if edition is not None:
            return Digest.from_json(edition.content)
    return digest_content(
        since=datetime.datetime.fromisoformat(delivery.context["since"]),
        until=datetime.datetime.fromisoformat(delivery.context["until"]),
    )


def mail_context(delivery: Delivery) -> dict:
    kind = delivery.context.get("kind")
    if kind == "digest":
        return {"digest": digest_of(delivery), "delivery": delivery}
    concern = Concern.objects.filter(pk=delivery.context.get("concern")).first()
    return {
        "delivery": delivery,
        "concern": concern,
        "headline": delivery.context.get("headline", delivery.subject),
        "kind": kind,
    }


def latest_digest(*, person) -> Delivery | None:
    return (
        Delivery.objects.filter(person=person, key__startswith="digest:")
        .order_by("-created_at", "-pk")
        .first()
    )


def follows_of(*, person) -> list[Follow]:
    return list(
        Follow.objects.filter(person=person).select_related("concern").order_by("concern__title")
    )
