"""What a digest or notification holds. Anonymous concerns appear like any other:
no author, and lists are ordered by support or title, never by submission."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from concerns.models import LISTED_STATUSES, Concern, Status
from ledger.selectors import ledger_head
from meetings.models import Meeting, MeetingStatus
from notifications.models import Delivery, Follow
from responses.models import OPEN_COMMITMENT_STATUSES, Commitment, CommitmentStatus, ResponseVersion

SECTION_LIMIT = 10


@dataclass
class Digest:
    since: datetime.datetime
    until: datetime.datetime
    new_concerns: list
    gaining: list
    responses: list
    overdue: list
    commitments_due: list
    commitments_missed: list
    next_meeting: Meeting | None
    agenda: list
    ledger_sequence: int
    ledger_hash: str

    @property
    def is_empty(self) -> bool:
        return not any(
            (self.new_concerns, self.gaining, self.responses, self.overdue,
             self.commitments_due, self.commitments_missed, self.agenda)
        )  # fmt: skip


def digest_content(*, since: datetime.datetime, until: datetime.datetime) -> Digest:
    """The same for everyone in a period; eight queries whatever the data size."""
    today = timezone.localdate(until)
    new_concerns = list(
        Concern.objects.filter(
            status__in=LISTED_STATUSES, published_at__gte=since, published_at__lt=until
        )
        .order_by("-vote_count", "title")
        .only("pk", "title", "vote_count", "status")[:SECTION_LIMIT]
    )
    gaining = list(
        Concern.objects.filter(status__in=LISTED_STATUSES)
        .annotate(
            gained=Count(
                "votes",
                filter=Q(votes__cast_on__gte=timezone.localdate(since), votes__cast_on__lte=today),
            )
        )
        .filter(gained__gt=0)
        .order_by("-gained", "title")
        .only("pk", "title", "vote_count", "status")[:5]
    )
    responses = list(
        ResponseVersion.objects.filter(published_at__gte=since, published_at__lt=until)
        .select_related("response__concern")
        .order_by("-published_at")[:SECTION_LIMIT]
    )
    overdue = list(
        Concern.objects.filter(status=Status.RESPONSE_DUE, response_due_on__lt=today)
        .select_related("accountable_leader")
        .order_by("response_due_on", "title")[:SECTION_LIMIT]
    )
    commitments = Commitment.objects.select_related("owner", "response__concern")
    commitments_due = list(
        commitments.filter(
            status__in=OPEN_COMMITMENT_STATUSES,
            due_on__gte=today,
            due_on__lte=today + datetime.timedelta(days=7),
        ).order_by("due_on", "pk")[:SECTION_LIMIT]
    )
    commitments_missed = list(
        commitments.filter(
            status=CommitmentStatus.MISSED,
            due_on__gte=timezone.localdate(since) - datetime.timedelta(days=1),
        ).order_by("due_on", "pk")[:SECTION_LIMIT]
    )
    next_meeting = (
        Meeting.objects.filter(status=MeetingStatus.PLANNED, scheduled_start__gte=until)
        .order_by("scheduled_start")
        .first()
    )
    agenda = (
        list(next_meeting.items.select_related("concern").order_by("position"))
        if next_meeting
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
        next_meeting=next_meeting,
        agenda=agenda,
        ledger_sequence=head.sequence,
        ledger_hash=head.entry_hash,
    )


def mail_context(delivery: Delivery) -> dict:
    kind = delivery.context.get("kind")
    if kind == "digest":
        since = datetime.datetime.fromisoformat(delivery.context["since"])
        until = datetime.datetime.fromisoformat(delivery.context["until"])
        return {"digest": digest_content(since=since, until=until), "delivery": delivery}
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
