"""Services that change concerns, votes and the receipt conversation.

Every interface (pages, the API later, management commands) calls these; none of them
writes a concern, a vote or a message any other way.
"""

import functools
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Department, Organisation, Role, User
from concerns import events
from concerns.anonymity import (
    carried_vote_hash,
    coarse_today,
    receipt_hash,
    receipt_new,
    voter_hash,
)
from concerns.errors import (
    ConcernNotFound,
    IllegalTransition,
    InvalidInput,
    NotAllowed,
    ReceiptNotFound,
    WrongAccessPhrase,
)
from concerns.models import Concern, ConcernEvent, LeaderRoute, Message, Status, Tag, Vote
from concerns.rendering import render_markdown
from config import rawsql
from ledger.services import ledger_append, ledger_defer
from notifications.services import followers_notify

TITLE_MAX = 140
BODY_MAX = 20_000
MESSAGE_MAX = 5_000

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SUBMITTED: frozenset({Status.IN_REVIEW, Status.WITHDRAWN}),
    Status.IN_REVIEW: frozenset({Status.OPEN, Status.REJECTED, Status.MERGED, Status.WITHDRAWN}),
    Status.OPEN: frozenset(
        {Status.RESPONSE_DUE, Status.ANSWERED, Status.MERGED, Status.CLOSED, Status.WITHDRAWN}
    ),
    Status.RESPONSE_DUE: frozenset({Status.ANSWERED}),
    Status.ANSWERED: frozenset({Status.CLOSED, Status.RESPONSE_DUE}),
    Status.CLOSED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.MERGED: frozenset(),
    Status.WITHDRAWN: frozenset(),
}


@dataclass(frozen=True)
class Submission:
    concern: Concern
    # Shown once to an anonymous submitter and never stored; None for named concerns.
    receipt: str | None


def _label(status: str) -> str:
    return Status(status).label.lower()


def _locked(concern_id) -> Concern:
    return Concern.objects.select_for_update().get(pk=concern_id)


def _transition(
    concern: Concern,
    to_status: str,
    *,
    actor: User | None,
    note: str = "",
    by_anonymous_submitter: bool = False,
    date_only: bool = False,
    notify: bool = True,
    held: bool = False,
) -> ConcernEvent:
    """Moves a locked concern to a new status and records the change."""
    if to_status not in ALLOWED_TRANSITIONS[concern.status]:
        raise IllegalTransition(
            f"A concern that is {_label(concern.status)} cannot become {_label(to_status)}."
        )
    from_status = concern.status
    concern.status = to_status
    concern.save(update_fields=["status"])
    return _event_record(
        concern,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=note,
        by_anonymous_submitter=by_anonymous_submitter,
        date_only=date_only,
        notify=notify,
        held=held,
    )


def _event_record(
    concern: Concern,
    *,
    from_status: str,
    to_status: str,
    actor: User | None,
    note: str,
    by_anonymous_submitter: bool,
    date_only: bool = False,
    notify: bool = True,
    held: bool = False,
) -> ConcernEvent:
    """Records a change in the concern's history and, when its status changed, in the
    ledger. An anonymous submitter's own actions keep the date only, and their ledger
    entries wait for the next shuffled batch; so do changes a person's support set off
    (held: the deciding vote or rating must not be timable by the ledger's order), whose
    followers hear of them with the next publication batch."""
    sequence = concern.events.count() + 1
    now = timezone.now()
    held = held or by_anonymous_submitter
    coarse = held or date_only
    event = ConcernEvent.objects.create(
        concern=concern,
        sequence=sequence,
        from_status=from_status,
        to_status=to_status,
        occurred_on=coarse_today() if coarse else timezone.localdate(now),
        occurred_at=None if coarse else now,
        actor=None if by_anonymous_submitter else actor,
        note=note,
    )
    if from_status != to_status:
        payload = {
            "concern": str(concern.pk),
            "from": from_status or None,
            "to": to_status,
            "on": event.occurred_on.isoformat(),
            "by": None if concern.is_anonymous or actor is None else actor.display_name,
        }
        if held:
            # Followers hear of it later (digest or batch), not at the moment it happened.
            ledger_defer(kind="concern.status", payload=payload)
        else:
            ledger_append(kind="concern.status", payload=payload)
        if notify and not held:
            followers_notify(
                concern=concern,
                event_key=f"concern-event:{event.pk}",
                headline=f"This concern is now {_label(to_status)}." + (f" {note}" if note else ""),
            )
    return event


def _note_record(
    concern: Concern, *, actor: User | None, note: str, date_only: bool = False
) -> ConcernEvent:
    """A line in the concern's history that changes no status (so no ledger entry)."""
    return _event_record(
        concern,
        from_status=concern.status,
        to_status=concern.status,
        actor=actor,
        note=note,
        by_anonymous_submitter=False,
        date_only=date_only,
    )


def _require_moderator(person: User) -> None:
    if not person.can_moderate:
        raise NotAllowed("Only moderators can review concerns.")


def _clean_text(value: str, *, field: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"The {field} cannot be empty.")
    if len(value) > max_length:
        raise InvalidInput(f"The {field} must be at most {max_length:,} characters.")
    return value


def department_is_large_enough(department: Department) -> bool:
    return department.members.filter(is_active=True).count() >= settings.ANONYMITY_MIN_GROUP_SIZE


@transaction.atomic
def concern_submit(
    *,
    author: User | None,
    anonymous: bool,
    title: str,
    body: str,
    tags: Iterable[Tag] = (),
    department: Department | None = None,
    receipt: str | None = None,
    receipt_hash_value: str | None = None,
) -> Submission:
    """Records a new concern. An anonymous one keeps no link to `author` at all:
    `author` is only used to check that a signed-in person may submit.

    `receipt` is for the demo seed only, which derives receipts it can print again;
    `receipt_hash_value` carries over the receipt of an approved live question.
    Everyone else gets a fresh random receipt."""
    title = _clean_text(title, field="title", max_length=TITLE_MAX)
    body = _clean_text(body, field="description", max_length=BODY_MAX)
    if not anonymous and author is None:
        raise InvalidInput("A named concern needs a signed-in author.")
    if anonymous and department is not None and not department_is_large_enough(department):
        raise InvalidInput(
            f"{department.name} has fewer than {settings.ANONYMITY_MIN_GROUP_SIZE} people, "
            "so naming it could identify you. Leave the department empty."
        )
    if receipt is not None and not anonymous:
        raise InvalidInput("Only anonymous concerns have receipts.")
    receipt = (receipt or receipt_new()) if anonymous else None
    concern = Concern.objects.create(
        title=title,
        body=body,
        body_html=render_markdown(body),
        department=department,
        is_anonymous=anonymous,
        author=None if anonymous else author,
        submitted_on=coarse_today(),
        receipt_hash=receipt_hash_value or (receipt_hash(receipt) if receipt else None),
    )
    concern.tags.set(list(tags))
    _event_record(
        concern,
        from_status="",
        to_status=Status.SUBMITTED,
        actor=None if anonymous else author,
        note="",
        by_anonymous_submitter=anonymous,
    )
    return Submission(concern=concern, receipt=receipt)


@transaction.atomic
def concern_review_start(*, concern: Concern, moderator: User) -> Concern:
    _require_moderator(moderator)
    concern = _locked(concern.pk)
    _transition(concern, Status.IN_REVIEW, actor=moderator)
    return concern


def concern_submit_public(
    *,
    organisation: Organisation,
    access_phrase: str,
    title: str,
    body: str,
    tags: Iterable[Tag] = (),
    department: Department | None = None,
) -> Submission:
    """A concern through the form that needs no sign-in (page and API): anonymous
    always, and only with the organisation's access phrase. Whether the form is open,
    and the rate limit per client group, are the caller's: they need the request."""
    if not organisation.access_phrase_matches(access_phrase):
        raise WrongAccessPhrase("That is not the organisation's access phrase.")
    return concern_submit(
        author=None, anonymous=True, title=title, body=body, tags=tags, department=department
    )


def _review_started(concern: Concern, moderator: User) -> Concern:
    concern = _locked(concern.pk)
    if concern.status == Status.SUBMITTED:
        _transition(concern, Status.IN_REVIEW, actor=moderator)
    return concern


@transaction.atomic
def concern_approve(*, concern: Concern, moderator: User, at_once: bool = False) -> Concern:
    """Publishes a named concern at once: from now on everyone signed in can find and
    vote on it. An anonymous one is approved now and published with the next batch
    (publication_batch), so the moment it appears says nothing about when anyone was
    active; until then it stays in review and can still be rejected or merged.
    `at_once` is for a question a moderator approves in a live meeting: the room saw it
    at that moment already, so its time is the moderator's, not the asker's."""
    _require_moderator(moderator)
    concern = _review_started(concern, moderator)
    if concern.is_anonymous and not at_once:
        if concern.approved_by_id is not None:
            raise IllegalTransition(
                "This concern is already approved: it is published with the next batch, "
                f"at {next_publication_batch():%H:%M on %-d %b}."
            )
        concern.approved_by = moderator
        concern.save(update_fields=["approved_by"])
        _note_record(
            concern,
            actor=moderator,
            note="Approved: published with the next batch of anonymous concerns.",
        )
        return concern
    _publish(concern, actor=moderator, at=timezone.now())
    return concern


def _publish(concern: Concern, *, actor: User | None, at, note: str = "") -> None:
    _transition(concern, Status.OPEN, actor=actor, note=note)
    concern.published_at = at
    concern.save(update_fields=["published_at"])
    events.concern_published(concern)


def next_publication_batch(now=None):
    """The next time publication_batch runs: settings.PUBLICATION_BATCH_HOURS, local
    time, on the hour (the beat schedule uses the same setting)."""
    now = timezone.localtime(now)
    for days in (0, 1):
        day = now.date() + timedelta(days=days)
        for hour in sorted(settings.PUBLICATION_BATCH_HOURS):
            moment = timezone.make_aware(datetime.combine(day, time(hour)))
            if moment > now:
                return moment
    raise AssertionError("PUBLICATION_BATCH_HOURS is empty")  # refused by settings


@dataclass(frozen=True)
class Batch:
    published: int
    announced: int


@transaction.atomic
def publication_batch(*, now=None) -> Batch:
    """Run at fixed times (the beat schedule; `manage.py publish_batch`). Publishes
    every approved anonymous concern and announces every response that support made
    due since the last batch, each group in a shuffled order and with one timestamp
    for all, so neither the moment nor the order says anything about who was active
    when. Safe to run twice: what it handled no longer waits."""
    now = now or timezone.now()
    shuffle = random.SystemRandom().shuffle
    waiting = list(
        Concern.objects.select_for_update()
        .filter(status=Status.IN_REVIEW, is_anonymous=True, approved_by__isnull=False)
        .select_related("approved_by")
    )
    shuffle(waiting)
    for concern in waiting:
        _publish(
            concern,
            actor=concern.approved_by,
            at=now,
            note="Published with the batch of anonymous concerns.",
        )
    held = list(Concern.objects.select_for_update().filter(announcement_held=True))
    shuffle(held)
    announced = 0
    for concern in held:
        concern.announcement_held = False
        concern.save(update_fields=["announcement_held"])
        if concern.status != Status.RESPONSE_DUE:
            continue  # answered before the batch: the response announced itself
        # Keyed by the history entry that made it due, so a concern due again later
        # (even the same day) is announced again, and a retried batch is not.
        made_due = concern.events.filter(to_status=Status.RESPONSE_DUE).latest("sequence")
        events.concern_response_due(concern)
        followers_notify(
            concern=concern,
            event_key=f"concern-event:{made_due.pk}",
            headline="A written response is now due"
            + (f" by {concern.response_due_on:%-d %b %Y}." if concern.response_due_on else "."),
        )
        announced += 1
    return Batch(published=len(waiting), announced=announced)


@transaction.atomic
def concern_reject(*, concern: Concern, moderator: User, reason: str) -> Concern:
    _require_moderator(moderator)
    reason = _clean_text(reason, field="reason", max_length=MESSAGE_MAX)
    concern = _review_started(concern, moderator)
    _transition(concern, Status.REJECTED, actor=moderator, note=reason)
    concern.rejection_reason = reason
    concern.save(update_fields=["rejection_reason"])
    return concern


@transaction.atomic
def concern_merge(*, concern: Concern, into: Concern, moderator: User) -> Concern:
    """Merges a duplicate into another concern. Its votes carry over, and a person who
    voted on both is counted once."""
    _require_moderator(moderator)
    if concern.pk == into.pk:
        raise InvalidInput("A concern cannot be merged into itself.")
    # Lock both rows in a fixed order so two merges cannot deadlock.
    both = Concern.objects.select_for_update().filter(pk__in=[concern.pk, into.pk]).order_by("pk")
    locked = {c.pk: c for c in both}
    duplicate, target = locked[concern.pk], locked[into.pk]
    if not target.accepts_votes:
        raise IllegalTransition(
            f"Concerns can only be merged into an open one; “{target.title}” is "
            f"{_label(target.status)}."
        )
    if duplicate.status == Status.SUBMITTED:
        _transition(duplicate, Status.IN_REVIEW, actor=moderator)
    # The target is set first: a merged concern must always name it (a constraint).
    duplicate.merged_into = target
    duplicate.save(update_fields=["merged_into"])
    _transition(duplicate, Status.MERGED, actor=moderator, note=f"Merged into “{target.title}”.")
    carried = _votes_carry_over(duplicate=duplicate, target=target)
    _event_record(
        target,
        from_status=target.status,
        to_status=target.status,
        actor=moderator,
        note=f"“{duplicate.title}” was merged into this concern; {carried} new "
        f"supporter{'s' if carried != 1 else ''} carried over.",
        by_anonymous_submitter=False,
    )
    # After the merge note, so the history tells the cause before its effect.
    _response_duty_check(target.pk)
    return duplicate


def _votes_carry_over(*, duplicate: Concern, target: Concern) -> int:
    """Votes are keyed hashes of (person, concern), so the same person has different
    hashes on the two concerns. The service, which holds the key, recomputes both for
    every account to find who voted on both; nothing about that mapping is stored."""
    duplicate_hashes = dict(duplicate.votes.values_list("voter_hash", "cast_on"))
    target_hashes = set(target.votes.values_list("voter_hash", flat=True))
    new_votes: list[Vote] = []
    matched: set[str] = set()
    for person_id in get_user_model().objects.values_list("pk", flat=True).iterator():
        old = voter_hash(person_id=person_id, concern_id=duplicate.pk)
        if old not in duplicate_hashes:
            continue
        matched.add(old)
        new = voter_hash(person_id=person_id, concern_id=target.pk)
        if new not in target_hashes:
            new_votes.append(Vote(concern=target, voter_hash=new, cast_on=duplicate_hashes[old]))
            target_hashes.add(new)
    for old, cast_on in duplicate_hashes.items():
        if old in matched:
            continue
        # The voter's account is gone: nobody can vote as them again, so their
        # vote carries over under a stand-in hash.
        new = carried_vote_hash(vote_hash=old, concern_id=target.pk)
        if new not in target_hashes:
            new_votes.append(Vote(concern=target, voter_hash=new, cast_on=cast_on))
            target_hashes.add(new)
    Vote.objects.bulk_create(new_votes)
    Concern.objects.filter(pk=target.pk).update(vote_count=F("vote_count") + len(new_votes))
    return len(new_votes)


@transaction.atomic
def concern_withdraw(*, concern: Concern, author: User) -> Concern:
    concern = _locked(concern.pk)
    if concern.is_anonymous or concern.author_id != author.pk:
        raise NotAllowed("Only the person who raised a concern can withdraw it.")
    _transition(concern, Status.WITHDRAWN, actor=author, note="Withdrawn by the submitter.")
    return concern


def receipt_concern(*, receipt: str) -> Concern:
    """The concern a receipt belongs to. Every wrong receipt, malformed or not, costs
    one hash and one indexed look-up and ends in the same error."""
    concern = Concern.objects.filter(receipt_hash=receipt_hash(receipt)).first()
    if concern is None:
        raise ReceiptNotFound("No concern matches that receipt. Check it and try again.")
    return concern


@transaction.atomic
def concern_withdraw_by_receipt(*, receipt: str) -> Concern:
    concern = _locked(receipt_concern(receipt=receipt).pk)
    if concern.status == Status.WITHDRAWN:
        raise IllegalTransition("This concern was already withdrawn.")
    _transition(
        concern,
        Status.WITHDRAWN,
        actor=None,
        note="Withdrawn by the submitter.",
        by_anonymous_submitter=True,
    )
    return concern


def _message_record(
    concern: Concern, *, body: str, staff_author: User | None, from_submitter: bool
) -> Message:
    body = _clean_text(body, field="message", max_length=MESSAGE_MAX)
    sequence = concern.messages.count() + 1
    anonymous_reply = from_submitter and concern.is_anonymous
    now = timezone.now()
    return Message.objects.create(
        concern=concern,
        sequence=sequence,
        from_submitter=from_submitter,
        staff_author=staff_author,
        body=body,
        body_html=render_markdown(body),
        sent_on=coarse_today() if anonymous_reply else timezone.localdate(now),
        sent_at=None if anonymous_reply else now,
    )


@transaction.atomic
def message_ask(*, concern: Concern, author: User, body: str) -> Message:
    """A moderator or leader asks the submitter a question."""
    if not author.can_message_submitters:
        raise NotAllowed("Only moderators and leaders can write to a submitter.")
    concern = _locked(concern.pk)
    if not concern.is_public and not author.can_moderate:
        raise NotAllowed("Only moderators can write about a concern that is not public.")
    return _message_record(concern, body=body, staff_author=author, from_submitter=False)


@transaction.atomic
def message_reply_by_author(*, concern: Concern, author: User, body: str) -> Message:
    concern = _locked(concern.pk)
    if concern.is_anonymous or concern.author_id != author.pk:
        raise NotAllowed("Only the person who raised this concern can answer here.")
    return _message_record(concern, body=body, staff_author=None, from_submitter=True)


@transaction.atomic
def message_reply_by_receipt(*, receipt: str, body: str) -> Message:
    concern = _locked(receipt_concern(receipt=receipt).pk)
    return _message_record(concern, body=body, staff_author=None, from_submitter=True)


def message_send(*, concern: Concern, author: User, body: str) -> Message:
    """Staff ask the submitter; the named author answers. Both edges call this."""
    if author.can_message_submitters:
        return message_ask(concern=concern, author=author, body=body)
    return message_reply_by_author(concern=concern, author=author, body=body)


@dataclass(frozen=True)
class Support:
    """What a vote or a retraction did, and the count once it committed."""

    changed: bool
    vote_count: int


@transaction.atomic
def vote_change(*, concern_id, voter: User, cast: bool) -> Support:
    """Casts (cast=True) or retracts the person's vote: the one path for pages, API
    and commands. Idempotent: casting twice or retracting nothing changes nothing.

    The row lock on the concern serialises votes on one concern (the count update
    would take it anyway), which keeps the count equal to the rows under any load and
    makes a merge wait for votes in flight. With the lock held, the new count is known
    without reading the row again. Round trips: lock, insert or delete, count update,
    commit; the threshold and the live-meeting map come from the cache."""
    locked = _vote_lock(concern_id)
    if not locked.accepts_votes:
        raise IllegalTransition(f"Votes are closed: this concern is {_label(locked.status)}.")
    hashed = voter_hash(person_id=voter.pk, concern_id=locked.pk)
    if cast:
        changed = _vote_insert(concern_id=locked.pk, hashed=hashed)
    else:
        changed = rawsql.execute(_vote_sql().retract, [_key(locked.pk), hashed]) > 0
    if not changed:
        return Support(changed=False, vote_count=locked.vote_count)
    count = locked.vote_count + (1 if cast else -1)
    rawsql.execute(_vote_sql().count, [1 if cast else -1, _key(locked.pk)])
    if cast and locked.status == Status.OPEN:
        _response_duty_check(locked.pk, vote_count=count)
    _support_changed(locked.pk)
    return Support(changed=True, vote_count=count)


class _VoteSql:
    """A vote's statements as fixed SQL (config/rawsql.py): the ORM spent longer
    building them than PostgreSQL took to run them. Built on first use, for the
    database in use."""

    def __init__(self):
        q = rawsql.quote
        concerns, votes = q(Concern._meta.db_table), q(Vote._meta.db_table)
        self.concern = rawsql.Columns(Concern, "c", ["id", "status", "vote_count"])
        lock = ""
        if connection.features.has_select_for_update:
            lock = " " + connection.ops.for_update_sql(
                no_key=connection.features.has_select_for_no_key_update
            )
        self.lock = f"SELECT {self.concern.sql} FROM {concerns} c WHERE c.{q('id')} = %s{lock}"  # noqa: S608
        # One INSERT … ON CONFLICT DO NOTHING RETURNING (PostgreSQL and SQLite 3.35+)
        # instead of a look-up and an insert.
        self.cast = (
            f"INSERT INTO {votes} ({q('id')}, {q('concern_id')}, {q('voter_hash')}, "  # noqa: S608
            f"{q('cast_on')}) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT ({q('concern_id')}, {q('voter_hash')}) DO NOTHING RETURNING {q('id')}"
        )
        self.retract = (
            f"DELETE FROM {votes} WHERE {q('concern_id')} = %s AND {q('voter_hash')} = %s"  # noqa: S608
        )
        self.count = (
            f"UPDATE {concerns} SET {q('vote_count')} = {q('vote_count')} + %s "  # noqa: S608
            f"WHERE {q('id')} = %s"
        )


_vote_sql = functools.cache(_VoteSql)


def _vote_lock(concern_id) -> Concern:
    """The concern's id, status and count, its row locked until the vote commits."""
    try:
        key = _key(Concern._meta.pk.to_python(concern_id))
    except (ValueError, DjangoValidationError) as error:
        raise ConcernNotFound("No such concern.") from error
    row = rawsql.fetchone(_vote_sql().lock, [key])
    if row is None:
        raise ConcernNotFound("No such concern.")
    return _vote_sql().concern.read(row)


def _key(concern_id) -> object:
    """A concern id as the database takes it as a parameter (text on SQLite)."""
    return Concern._meta.pk.get_db_prep_value(concern_id, connection)


def _vote_insert(*, concern_id, hashed: str) -> bool:
    """True when the vote is new."""
    values = [
        Vote._meta.pk.get_db_prep_value(uuid.uuid4(), connection),
        _key(concern_id),
        hashed,
        connection.ops.adapt_datefield_value(coarse_today()),
    ]
    return rawsql.fetchone(_vote_sql().cast, values) is not None


def vote_cast(*, concern: Concern, voter: User) -> bool:
    """Adds the person's vote. Returns False when they had already voted."""
    return vote_change(concern_id=concern.pk, voter=voter, cast=True).changed


def vote_retract(*, concern: Concern, voter: User) -> bool:
    """Removes the person's vote. Returns False when there was none."""
    return vote_change(concern_id=concern.pk, voter=voter, cast=False).changed


def _support_changed(concern_id) -> None:
    # Imported here: meetings builds on concerns, so concerns cannot import it at load.
    from meetings.services import meetings_refresh_for_concern

    meetings_refresh_for_concern(concern_id=concern_id)


# Duties to respond -------------------------------------------------------------------


def _routed_leader(concern: Concern) -> User | None:
    routes = LeaderRoute.objects.select_related("leader").filter(leader__is_active=True)
    tag_ids = list(concern.tags.values_list("pk", flat=True))
    by_tag = routes.filter(tag_id__in=tag_ids).order_by("tag__name").first() if tag_ids else None
    if by_tag is not None:
        return by_tag.leader
    if concern.department_id:
        by_department = routes.filter(department_id=concern.department_id).first()
        if by_department is not None:
            return by_department.leader
    return None


def _make_response_due(concern: Concern, *, actor: User | None, note: str) -> None:
    """Gives a locked concern a written-response deadline and, where a route exists,
    an accountable leader. Triggered by support, so it keeps the date only: the
    moment of the deciding vote is nobody's business."""
    today = timezone.localdate()
    organisation = Organisation.current()
    by_support = actor is None
    _transition(concern, Status.RESPONSE_DUE, actor=actor, note=note, held=by_support)
    concern.response_due_since = today
    concern.response_due_on = today + timedelta(days=organisation.response_days)
    concern.deadline_missed_on = None
    concern.announcement_held = by_support
    if concern.accountable_leader_id is None:
        concern.accountable_leader = _routed_leader(concern)
    concern.save(
        update_fields=[
            "response_due_since",
            "response_due_on",
            "deadline_missed_on",
            "accountable_leader",
            "announcement_held",
        ]
    )
    if not by_support:
        events.concern_response_due(concern)


def _response_duty_check(concern_id, *, vote_count: int | None = None) -> None:
    """Called with the concern's row locked, after its vote count changed."""
    threshold = Organisation.cached().response_vote_threshold
    if vote_count is not None and vote_count < threshold:
        return
    concern = Concern.objects.get(pk=concern_id)
    if concern.status == Status.OPEN and concern.vote_count >= threshold:
        _make_response_due(
            concern,
            actor=None,
            note=f"Reached {threshold} votes: a written response is now due.",
        )


@transaction.atomic
def concern_assign_leader(*, concern: Concern, moderator: User, leader: User) -> Concern:
    _require_moderator(moderator)
    if leader.role != Role.LEADER or not leader.is_active:
        raise InvalidInput(f"{leader.display_name} is not an active leader.")
    concern = _locked(concern.pk)
    if concern.status not in (Status.OPEN, Status.RESPONSE_DUE, Status.ANSWERED):
        raise IllegalTransition(
            f"A concern that is {_label(concern.status)} does not need a leader."
        )
    concern.accountable_leader = leader
    concern.save(update_fields=["accountable_leader"])
    _note_record(
        concern,
        actor=moderator,
        note=f"{leader.display_name} is accountable for the written response.",
    )
    return concern


@transaction.atomic
def concern_require_response(*, concern: Concern, actor: User | None, note: str) -> Concern:
    """Makes a written response due for a reason other than votes: a moderator's
    decision, an escalation after ratings, or a meeting that discussed it."""
    concern = _locked(concern.pk)
    if concern.status == Status.RESPONSE_DUE:
        return concern
    _make_response_due(concern, actor=actor, note=note)
    return concern


@transaction.atomic
def concern_escalate(*, concern_id, note: str) -> Concern:
    """Staff said the response did not answer the concern: it is due again."""
    concern = _locked(concern_id)
    _make_response_due(concern, actor=None, note=note)
    concern.escalated_on = timezone.localdate()
    concern.save(update_fields=["escalated_on"])
    return concern


@transaction.atomic
def concern_mark_answered(*, concern_id, leader: User) -> Concern:
    """Called by response publication inside its transaction."""
    concern = _locked(concern_id)
    if concern.status in (Status.OPEN, Status.RESPONSE_DUE):
        # Followers hear of the published response itself, in one mail.
        _transition(concern, Status.ANSWERED, actor=leader, notify=False)
    return concern


@transaction.atomic
def deadlines_enforce(*, today=None) -> int:
    """Records every response deadline that has passed. Safe to run twice: a missed
    deadline is recorded once, guarded by `deadline_missed_on`."""
    today = today or timezone.localdate()
    missed = 0
    overdue = Concern.objects.select_for_update().filter(
        status=Status.RESPONSE_DUE, response_due_on__lt=today, deadline_missed_on__isnull=True
    )
    for concern in overdue:
        concern.deadline_missed_on = today
        concern.save(update_fields=["deadline_missed_on"])
        _note_record(
            concern,
            actor=None,
            note=f"The response deadline of {concern.response_due_on:%-d %b %Y} was missed.",
            date_only=True,
        )
        leader = concern.accountable_leader
        ledger_append(
            kind="concern.deadline_missed",
            payload={
                "concern": str(concern.pk),
                "due_on": concern.response_due_on.isoformat(),
                "recorded_on": today.isoformat(),
                "leader": leader.display_name if leader else None,
            },
        )
        events.concern_overdue(concern)
        missed += 1
    return missed


MODERATION_ACTIONS = ("review", "approve", "reject", "merge", "assign", "require_response")


def concern_moderate(
    *,
    concern: Concern,
    moderator: User,
    action: str,
    reason: str = "",
    into: Concern | None = None,
    leader: User | None = None,
) -> Concern:
    """One moderator action, by name: the page and the API both come through here."""
    if action == "review":
        return concern_review_start(concern=concern, moderator=moderator)
    if action == "approve":
        return concern_approve(concern=concern, moderator=moderator)
    if action == "reject":
        return concern_reject(concern=concern, moderator=moderator, reason=reason)
    if action == "merge":
        if into is None:
            raise InvalidInput("Choose an open concern to merge into.")
        return concern_merge(concern=concern, into=into, moderator=moderator)
    if action == "assign":
        if leader is None:
            raise InvalidInput("Choose an active leader.")
        return concern_assign_leader(concern=concern, moderator=moderator, leader=leader)
    if action == "require_response":
        _require_moderator(moderator)
        return concern_require_response(
            concern=concern,
            actor=moderator,
            note="A moderator asked leadership for a written response.",
        )
    raise InvalidInput("No such moderation action.")
