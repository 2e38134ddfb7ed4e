"""Services for written responses, commitments and ratings.

Publishing is the only way a response becomes visible, and it only ever adds: a new
version, a ledger entry, a commitment update. Nothing here edits or deletes a record.
"""

import datetime
from collections import Counter

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from concerns import services as concern_services
from concerns.anonymity import coarse_today, keyed_hash
from concerns.errors import IllegalTransition, InvalidInput, NotAllowed
from concerns.models import Concern, Status
from concerns.rendering import render_markdown
from ledger.services import ledger_append
from notifications.services import followers_notify
from responses.models import (
    OPEN_COMMITMENT_STATUSES,
    SUMMARY_MAX,
    Commitment,
    CommitmentStatus,
    CommitmentUpdate,
    Position,
    Rating,
    RatingValue,
    Response,
    ResponseVersion,
    content_hash,
    version_content,
)
from webhooks.models import EventType
from webhooks.services import webhook_emit

DETAILS_MAX = 50_000
REASON_MAX = 2_000
ESCALATION_MIN_RATERS = 5
RESPONDABLE = (Status.OPEN, Status.RESPONSE_DUE, Status.ANSWERED)

COMMITMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    CommitmentStatus.PLANNED: frozenset(
        {CommitmentStatus.IN_PROGRESS, CommitmentStatus.DONE, CommitmentStatus.DROPPED}
    ),
    CommitmentStatus.IN_PROGRESS: frozenset({CommitmentStatus.DONE, CommitmentStatus.DROPPED}),
    # A missed commitment can still be delivered late; the miss stays on record.
    CommitmentStatus.MISSED: frozenset({CommitmentStatus.DONE, CommitmentStatus.DROPPED}),
    CommitmentStatus.DONE: frozenset(),
    CommitmentStatus.DROPPED: frozenset(),
}


def _require_leader(person: User) -> None:
    if person.role != Role.LEADER or not person.is_active:
        raise NotAllowed("Only leaders can write and publish responses.")


def _locked_response(concern: Concern) -> Response:
    Concern.objects.select_for_update().filter(pk=concern.pk).first()
    response, _ = Response.objects.select_for_update().get_or_create(concern=concern)
    return response


def _validated_draft(position: str, summary: str, details: str) -> tuple[str, str, str]:
    if position not in Position.values:
        raise InvalidInput("Choose the leadership's position.")
    summary = (summary or "").strip()
    details = (details or "").strip()
    if not summary:
        raise InvalidInput("Write a summary of the response.")
    if len(summary) > SUMMARY_MAX:
        raise InvalidInput(f"The summary must be at most {SUMMARY_MAX} characters.")
    if not details:
        raise InvalidInput("Write the details of the response.")
    if len(details) > DETAILS_MAX:
        raise InvalidInput(f"The details must be at most {DETAILS_MAX:,} characters.")
    return position, summary, details


@transaction.atomic
def response_draft_save(
    *, concern: Concern, leader: User, position: str, summary: str, details: str
) -> Response:
    """Saves the private draft. Drafts may be incomplete; publishing checks them."""
    _require_leader(leader)
    if len(summary or "") > SUMMARY_MAX:
        raise InvalidInput(f"The summary must be at most {SUMMARY_MAX} characters.")
    response = _locked_response(concern)
    if Concern.objects.get(pk=concern.pk).status not in RESPONDABLE:
        raise IllegalTransition("Only open concerns can be answered.")
    response.draft_position = position or ""
    response.draft_summary = (summary or "").strip()
    response.draft_details = (details or "").strip()
    response.draft_updated_at = timezone.now()
    response.draft_updated_by = leader
    response.save()
    return response


@transaction.atomic
def response_publish(*, concern: Concern, leader: User, change_reason: str = "") -> ResponseVersion:
    """Publishes the draft as the next version, signed with the leader's name."""
    _require_leader(leader)
    response = _locked_response(concern)
    concern = Concern.objects.get(pk=concern.pk)
    if concern.status not in RESPONDABLE:
        raise IllegalTransition("Only open concerns can be answered.")
    position, summary, details = _validated_draft(
        response.draft_position, response.draft_summary, response.draft_details
    )
    previous = response.versions.order_by("-number").first()
    change_reason = (change_reason or "").strip()
    if previous is not None:
        if not change_reason:
            raise InvalidInput("Say why the published response is changing.")
        if len(change_reason) > REASON_MAX:
            raise InvalidInput(f"The reason must be at most {REASON_MAX:,} characters.")
        if (previous.position, previous.summary, previous.details) == (position, summary, details):
            raise InvalidInput("The draft is the same as the published version.")
    number = previous.number + 1 if previous else 1
    now = timezone.now()
    content = version_content(
        concern_id=concern.pk,
        number=number,
        position=position,
        summary=summary,
        details=details,
        change_reason=change_reason,
        signed_as=leader.display_name,
        published_at=now,
    )
    digest = content_hash(content)
    entry = ledger_append(
        kind="response.published",
        payload={
            "concern": str(concern.pk),
            "version": number,
            "signed_as": leader.display_name,
            "published_at": content["published_at"],
            "content_sha256": digest,
        },
    )
    version = ResponseVersion.objects.create(
        response=response,
        number=number,
        position=position,
        summary=summary,
        details=details,
        details_html=render_markdown(details),
        change_reason=change_reason,
        published_by=leader,
        signed_as=leader.display_name,
        published_at=now,
        content_hash=digest,
        ledger_sequence=entry.sequence,
    )
    if response.first_published_at is None:
        response.first_published_at = now
        response.first_due_since = concern.response_due_since
        response.first_due_on = concern.response_due_on
        response.save(update_fields=["first_published_at", "first_due_since", "first_due_on"])
    concern_services.concern_mark_answered(concern_id=concern.pk, leader=leader)
    webhook_emit(
        type=EventType.RESPONSE_PUBLISHED,
        payload={
            "concern": str(concern.pk),
            "version": number,
            "position": position,
            "summary": summary,
            "signed_as": leader.display_name,
            "published_at": content["published_at"],
            "content_sha256": digest,
            "ledger_sequence": entry.sequence,
        },
    )
    followers_notify(
        concern=concern,
        event_key=f"response-version:{version.pk}",
        headline=f"{leader.display_name} published version {number} of the written response: "
        f"{version.get_position_display()}. “{summary}”",
    )
    return version


# Commitments ---------------------------------------------------------------------


def _commitment_ledger(commitment: Commitment, update: CommitmentUpdate) -> int:
    entry = ledger_append(
        kind="commitment.status",
        payload={
            "commitment": commitment.pk,
            "concern": str(commitment.response.concern_id),
            "description": commitment.description,
            "owner": commitment.owner.display_name,
            "due_on": commitment.due_on.isoformat(),
            "from": update.from_status or None,
            "to": update.to_status,
            "note": update.note,
            "by": update.author.display_name if update.author else None,
            "at": update.created_at.astimezone(datetime.UTC).isoformat(),
        },
    )
    return entry.sequence


def _record_update(
    commitment: Commitment, *, from_status: str, to_status: str, note: str, author: User | None
) -> CommitmentUpdate:
    update = CommitmentUpdate(
        commitment=commitment,
        from_status=from_status,
        to_status=to_status,
        note=note,
        author=author,
        created_at=timezone.now(),
        ledger_sequence=0,
    )
    update.ledger_sequence = _commitment_ledger(commitment, update)
    update.save()
    webhook_emit(
        type=EventType.COMMITMENT_UPDATED,
        payload={
            "commitment": commitment.pk,
            "concern": str(commitment.response.concern_id),
            "description": commitment.description,
            "owner": commitment.owner.display_name,
            "due_on": commitment.due_on.isoformat(),
            "from": from_status or None,
            "to": to_status,
            "note": note,
        },
    )
    followers_notify(
        concern=commitment.response.concern,
        event_key=f"commitment-update:{update.pk}",
        headline=f"Commitment “{commitment.description}” is now "
        f"{CommitmentStatus(to_status).label.lower()}." + (f" {note}" if note else ""),
    )
    return update


@transaction.atomic
def commitment_add(
    *, concern: Concern, leader: User, description: str, owner: User, due_on: datetime.date
) -> Commitment:
    _require_leader(leader)
    response = _locked_response(concern)
    if not response.versions.exists():
        raise IllegalTransition("Publish the response before adding commitments to it.")
    description = (description or "").strip()
    if not description:
        raise InvalidInput("Say what will be done.")
    if len(description) > 500:
        raise InvalidInput("A commitment must be at most 500 characters.")
    if not owner.is_active:
        raise InvalidInput(f"{owner.display_name} is no longer active and cannot own it.")
    if due_on < timezone.localdate():
        raise InvalidInput("A new commitment cannot be due in the past.")
    commitment = Commitment.objects.create(
        response=response,
        description=description,
        owner=owner,
        due_on=due_on,
        created_at=timezone.now(),
        created_by=leader,
    )
    _record_update(
        commitment, from_status="", to_status=CommitmentStatus.PLANNED, note="", author=leader
    )
    return commitment


@transaction.atomic
def commitment_update(
    *, commitment: Commitment, author: User, to_status: str, note: str = ""
) -> CommitmentUpdate:
    commitment = (
        Commitment.objects.select_for_update().select_related("owner").get(pk=commitment.pk)
    )
    if author.pk != commitment.owner_id and author.role != Role.LEADER:
        raise NotAllowed("Only the commitment's owner or a leader can update it.")
    note = (note or "").strip()
    if len(note) > REASON_MAX:
        raise InvalidInput(f"An update must be at most {REASON_MAX:,} characters.")
    if to_status == commitment.status:
        if not note:
            raise InvalidInput("Write what has happened since the last update.")
    elif to_status not in COMMITMENT_TRANSITIONS.get(commitment.status, frozenset()):
        raise IllegalTransition(
            f"A commitment that is {CommitmentStatus(commitment.status).label.lower()} "
            f"cannot become {CommitmentStatus(to_status).label.lower()}."
            if to_status in CommitmentStatus.values
            else "Choose a valid status."
        )
    if to_status == CommitmentStatus.DROPPED and not note:
        raise InvalidInput("Dropping a commitment needs a reason.")
    update = _record_update(
        commitment, from_status=commitment.status, to_status=to_status, note=note, author=author
    )
    commitment.status = to_status
    commitment.save(update_fields=["status"])
    return update


@transaction.atomic
def commitments_mark_missed(*, today: datetime.date | None = None) -> int:
    """Marks every open commitment past its due date as missed. Safe to run twice."""
    today = today or timezone.localdate()
    late = Commitment.objects.select_for_update().filter(
        status__in=OPEN_COMMITMENT_STATUSES, due_on__lt=today
    )
    count = 0
    for commitment in late.select_related("owner", "response"):
        _record_update(
            commitment,
            from_status=commitment.status,
            to_status=CommitmentStatus.MISSED,
            note=f"Not done by {commitment.due_on:%-d %b %Y}.",
            author=None,
        )
        commitment.status = CommitmentStatus.MISSED
        commitment.save(update_fields=["status"])
        count += 1
    return count


# Ratings -------------------------------------------------------------------------


def rater_hash(*, person_id: int, version_id: int) -> str:
    return keyed_hash("rating", f"{person_id}:{version_id}")


@transaction.atomic
def rating_cast(*, concern: Concern, rater: User, value: str) -> Rating:
    """Rates the latest published version. A person has one rating per version and
    may change it. Enough "not answered" ratings make the response due again."""
    if value not in RatingValue.values:
        raise InvalidInput("Choose whether the response answered the concern.")
    Concern.objects.select_for_update().filter(pk=concern.pk).first()
    version = (
        ResponseVersion.objects.filter(response__concern_id=concern.pk).order_by("-number").first()
    )
    if version is None:
        raise IllegalTransition("There is no published response to rate yet.")
    hashed = rater_hash(person_id=rater.pk, version_id=version.pk)
    rating, created = Rating.objects.get_or_create(
        version=version,
        rater_hash=hashed,
        defaults={"value": value, "rated_on": coarse_today()},
    )
    if not created and rating.value != value:
        rating.value = value
        rating.save(update_fields=["value"])
    _escalation_check(concern.pk, version)
    return rating


def _escalation_check(concern_id, version: ResponseVersion) -> None:
    concern = Concern.objects.get(pk=concern_id)
    if concern.status != Status.ANSWERED:
        return
    counts = Counter(version.ratings.values_list("value", flat=True))
    raters = sum(counts.values())
    if raters >= ESCALATION_MIN_RATERS and counts[RatingValue.NOT_ANSWERED] * 2 > raters:
        concern_services.concern_escalate(
            concern_id=concern_id,
            note=f"{counts[RatingValue.NOT_ANSWERED]} of {raters} staff said version "
            f"{version.number} did not answer the concern: a new response is due.",
        )
