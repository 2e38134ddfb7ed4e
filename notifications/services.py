"""Digests, follows, notifications and reminders, delivered exactly once.

Every mail starts as a `Delivery` row, unique per (person, key), written before any
sending, so a second beat tick or a retried or duplicated task finds the row and
sends nothing new.

Sending (`deliveries_send`: a batch of up to DELIVERY_BATCH rows over one SMTP
connection) treats each row on its own:

1. claim it: one conditional UPDATE from "pending" to "sending" (attempts + 1),
   committed before any byte goes to the SMTP server. The UPDATE takes the row
   lock, so of two workers holding the same row exactly one claims it; the other
   finds it no longer pending and leaves it;
2. send it over the batch's connection; over SMTP, mark it "sent" once the server
   has all of it but the final "." line, then send that line (notifications.mail:
   a server delivers nothing of a mail whose connection ends before it);
3. or record the refusal: pending again with the time of its retry (backoff), or
   failed after MAX_ATTEMPTS (a refusal of the "." undoes the "sent").

A refusal of one mail (4xx/5xx) costs only that mail a retry; a broken connection
stops the batch, and the rest of it, never claimed, is tried again later.

Recovery: `deliveries_requeue_stale` (beat, every minute) queues again the rows still
"pending" or "sending" DELIVERY_STALE_SECONDS after they were queued, claimed or due:
the batch of a killed worker, whose broker message would otherwise come back only
after the broker's visibility timeout. A pending row was never handed to SMTP, so
sending it is safe.

A row found "sending" is sent again: its worker died before recording "sent", so
before the mail's last line went out, and the server delivered nothing. The one
uncertain moment is between the commit of "sent" and the write of that last line (a
single socket write): a worker killed exactly then leaves a row "sent" whose mail the
server dropped. Recording "sent" after the server's answer instead left a window of
the server's reply plus a database round trip in which a killed worker's mail was
sent twice (bench/digests.py measured one such duplicate in 10,000 with four
processes killed). The Message-ID is derived from the delivery
(`<delivery-ID@MAIL_DOMAIN>`), so a copy sent again after a PostgreSQL crash (see
_quick_commits) is recognisable. See docs/mail-delivery.md.
"""

import contextlib
import datetime
import itertools
import logging
import secrets
import smtplib
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import User
from concerns.errors import IllegalTransition, InvalidInput
from concerns.models import Concern, Status
from notifications.mail import AnswerLost, DigestMail, NotHandedOver, send_handing_over
from notifications.models import (
    Delivery,
    DeliveryStatus,
    DigestEdition,
    Follow,
    Frequency,
    Preference,
)
from notifications.selectors import (
    Digest,
    digest_content,
    digest_editions,
    digest_of,
    mail_context,
)

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "answerable.unsubscribe"
MAX_ATTEMPTS = 5
# Seconds before the 2nd, 3rd, 4th and 5th try; well under the broker's visibility
# timeout, since a retry waits on the broker.
BACKOFF_SECONDS = (30, 120, 480, 1200)
REMINDER_DAYS = 3
# Mails per task, sent over one SMTP connection.
DELIVERY_BATCH = 50
# Most rows one sweep queues again; the next minute's sweep takes the rest.
SWEEP_LIMIT = 5000
# Refusals of one message: the connection stays usable (smtplib sends RSET).
MESSAGE_REFUSED = (smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)
LOST_WHILE_SENDING = (
    "The worker stopped while sending it, before it was recorded as sent (so before the"
    " mail's last line went out)."
)


class DeliveryFailed(Exception):
    """Sending failed this time; the task retries after `retry_in` seconds."""

    def __init__(self, message: str, *, retry_in: int = BACKOFF_SECONDS[0]) -> None:
        super().__init__(message)
        self.retry_in = retry_in


def preference_for(person: User) -> Preference:
    preference, _ = Preference.objects.get_or_create(person=person)
    return preference


@transaction.atomic
def preference_set(*, person: User, digest: str) -> Preference:
    if digest not in Frequency.values:
        raise InvalidInput("Choose daily, weekly or no digest.")
    preference = preference_for(person)
    preference.digest = digest
    preference.save(update_fields=["digest"])
    return preference


def unsubscribe_token(person: User) -> str:
    return signing.dumps({"person": person.pk}, salt=UNSUBSCRIBE_SALT, compress=True)


@transaction.atomic
def unsubscribe(*, token: str) -> User:
    """One-click unsubscribe: changes only the digest preference of the person the
    signed token names, without signing in."""
    try:
        person_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)["person"]
    except (signing.BadSignature, KeyError, TypeError) as error:
        raise InvalidInput("This unsubscribe link is not valid.") from error
    person = get_user_model().objects.filter(pk=person_id).first()
    if person is None:
        raise InvalidInput("This unsubscribe link is not valid.")
    preference_set(person=person, digest=Frequency.NONE)
    return person


@transaction.atomic
def follow(*, person: User, concern: Concern) -> bool:
    if not concern.is_public:
        raise IllegalTransition("Only public concerns can be followed.")
    _, created = Follow.objects.get_or_create(person=person, concern=concern)
    return created


@transaction.atomic
def unfollow(*, person: User, concern: Concern) -> bool:
    deleted, _ = Follow.objects.filter(person=person, concern=concern).delete()
    return bool(deleted)


# Deliveries --------------------------------------------------------------------------


def _enqueue(delivery_ids: list[int]) -> None:
    """Queues the deliveries after commit: one task for a single mail, otherwise one
    task per DELIVERY_BATCH mails, each sent over one SMTP connection."""
    from notifications.tasks import send_deliveries, send_delivery

    if len(delivery_ids) == 1:
        send_delivery.delay_on_commit(delivery_ids[0])
        return
    for batch in itertools.batched(delivery_ids, DELIVERY_BATCH):
        send_deliveries.delay_on_commit(list(batch))


def _deliveries_existing(rows: list[Delivery]) -> set[tuple[int, str]]:
    keys = {r.key for r in rows}
    return set(Delivery.objects.filter(key__in=keys).values_list("person_id", "key"))


def _deliveries_create(
    rows: list[Delivery], existing: set[tuple[int, str]] | None = None
) -> list[int]:
    """Writes the rows that do not exist yet and returns their ids. A row that exists
    already (a second beat tick, a retried task) is left alone and not sent again."""
    if not rows:
        return []
    if existing is None:
        existing = _deliveries_existing(rows)
    fresh = [r for r in rows if (r.person_id, r.key) not in existing]
    now = timezone.now()
    for row in fresh:
        row.due_at = now
    Delivery.objects.bulk_create(fresh, ignore_conflicts=True)
    created = Delivery.objects.filter(
        key__in={r.key for r in fresh}, status=DeliveryStatus.PENDING, attempts=0
    ).values_list("pk", "person_id", "key")
    wanted = {(r.person_id, r.key) for r in fresh}
    return sorted(pk for pk, person_id, key in created if (person_id, key) in wanted)


def digest_period_key(period: str, now: datetime.datetime) -> str:
    day = timezone.localdate(now)
    if period == Frequency.DAILY:
        return f"digest:daily:{day.isoformat()}"
    year, week, _ = day.isocalendar()
    return f"digest:weekly:{year}-W{week:02d}"


@dataclass
class Scheduled:
    created: list[int]
    skipped: int


@transaction.atomic
def digests_schedule(
    *, period: str, now: datetime.datetime | None = None, enqueue: bool = True
) -> Scheduled:
    """Records one digest per subscribed person for this period. Safe to run twice."""
    if period not in (Frequency.DAILY, Frequency.WEEKLY):
        raise InvalidInput("A digest period is daily or weekly.")
    now = now or timezone.now()
    key = digest_period_key(period, now)
    length = datetime.timedelta(days=1 if period == Frequency.DAILY else 7)
    people = get_user_model().objects.filter(is_active=True).exclude(email="")
    if period == Frequency.WEEKLY:
        # No preference row means the default: weekly.
        people = people.exclude(preference__digest__in=[Frequency.DAILY, Frequency.NONE])
    else:
        people = people.filter(preference__digest=Frequency.DAILY)
    last = dict(
        Preference.objects.exclude(last_digest_at=None).values_list("person_id", "last_digest_at")
    )
    rows = [
        Delivery(
            person_id=person_id,
            key=key,
            subject=f"Your {period} Answerable digest",
            context={
                "kind": "digest",
                "since": (last.get(person_id) or (now - length)).isoformat(),
                "until": now.isoformat(),
            },
        )
        for person_id in people.values_list("pk", flat=True)
    ]
    subscribed = len(rows)
    existing = _deliveries_existing(rows)
    rows = [r for r in rows if (r.person_id, r.key) not in existing]
    # The shared part is built once per window, not once per mail.
    editions: dict[str, int] = {}
    for row in rows:
        window = row.context["since"]
        if window not in editions:
            since = datetime.datetime.fromisoformat(window)
            content = digest_content(since=since, until=now)
            editions[window] = DigestEdition.objects.create(
                since=since, until=now, content=content.to_json()
            ).pk
        row.context["edition"] = editions[window]
    created = _deliveries_create(rows, existing)
    if enqueue:
        _enqueue(created)
    return Scheduled(created=created, skipped=subscribed - len(created))


def digests_unsent(*, period: str, exclude: list[int], now=None) -> list[int]:
    """This period's digests that were tried and not sent yet (still pending)."""
    key = digest_period_key(period, now or timezone.now())
    return list(
        Delivery.objects.filter(key=key, status=DeliveryStatus.PENDING, attempts__gt=0)
        .exclude(pk__in=exclude)
        .values_list("pk", flat=True)
    )


def followers_notify(*, concern: Concern, event_key: str, headline: str) -> int:
    """Tells everyone who follows the concern. Called inside the service transaction
    that made the change; the mails go out after it commits."""
    followers = Follow.objects.filter(concern=concern, person__is_active=True).exclude(
        person__email=""
    )
    rows = [
        Delivery(
            person_id=person_id,
            key=f"event:{event_key}",
            subject=f"Update: {concern.title}"[:200],
            context={"kind": "event", "concern": str(concern.pk), "headline": headline},
        )
        for person_id in followers.values_list("person_id", flat=True)
    ]
    created = _deliveries_create(rows)
    _enqueue(created)
    return len(created)


@transaction.atomic
def reminders_schedule(*, today: datetime.date | None = None) -> int:
    """Reminds leaders three days before a response or commitment is due, and when it
    becomes overdue. Keys name the due date, so each reminder goes out once."""
    from responses.models import OPEN_COMMITMENT_STATUSES, Commitment, CommitmentStatus

    today = today or timezone.localdate()
    soon = today + datetime.timedelta(days=REMINDER_DAYS)
    rows: list[Delivery] = []
    due = Concern.objects.filter(
        status=Status.RESPONSE_DUE, accountable_leader__isnull=False, response_due_on__isnull=False
    ).filter(response_due_on__lte=soon)
    for concern in due.only("pk", "title", "response_due_on", "accountable_leader_id"):
        # "Due soon" for anything due within three days, so a missed beat tick or a
        # short deadline still gets its reminder; the key makes it go out once.
        late = concern.response_due_on < today
        kind = "response-overdue" if late else "response-due-soon"
        rows.append(
            Delivery(
                person_id=concern.accountable_leader_id,
                key=f"reminder:{kind}:{concern.pk}:{concern.response_due_on.isoformat()}",
                subject=(
                    f"Overdue: your written response to “{concern.title}”"
                    if late
                    else f"Due {concern.response_due_on:%-d %b}: your written response to "
                    f"“{concern.title}”"
                )[:200],
                context={"kind": kind, "concern": str(concern.pk)},
            )
        )
    commitments = Commitment.objects.filter(
        status__in=OPEN_COMMITMENT_STATUSES, due_on__gte=today, due_on__lte=soon
    )
    for commitment in commitments.select_related("response"):
        rows.append(
            Delivery(
                person_id=commitment.owner_id,
                key=f"reminder:commitment-due-soon:{commitment.pk}:{commitment.due_on.isoformat()}",
                subject=f"Due {commitment.due_on:%-d %b}: {commitment.description}"[:200],
                context={
                    "kind": "commitment-due-soon",
                    "concern": str(commitment.response.concern_id),
                    "commitment": commitment.pk,
                },
            )
        )
    missed = Commitment.objects.filter(status=CommitmentStatus.MISSED)
    for commitment in missed.select_related("response"):
        rows.append(
            Delivery(
                person_id=commitment.owner_id,
                key=f"reminder:commitment-missed:{commitment.pk}:{commitment.due_on.isoformat()}",
                subject=f"Missed: {commitment.description}"[:200],
                context={
                    "kind": "commitment-missed",
                    "concern": str(commitment.response.concern_id),
                    "commitment": commitment.pk,
                },
            )
        )
    created = _deliveries_create(rows)
    _enqueue(created)
    return len(created)


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# Where each person's own name and unsubscribe link go in a digest rendered once for
# a whole batch: random, so no concern title or name can contain them.
_NAME_MARK = f"answerable-name-{secrets.token_hex(8)}"
_LINK_MARK = f"answerable-link-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class DigestLetter:
    """A digest mail rendered once for everyone who gets the same edition under the
    same subject, with marks where each person's name and unsubscribe link go."""

    text: str
    html: str

    def to(self, *, name: str, unsubscribe_url: str) -> tuple[str, str]:
        text = self.text.replace(_NAME_MARK, name).replace(_LINK_MARK, unsubscribe_url)
        html = self.html.replace(_NAME_MARK, escape(name))
        return text, html.replace(_LINK_MARK, escape(unsubscribe_url))


def digest_letter(digest: Digest, *, subject: str) -> DigestLetter:
    shared = {"digest": digest, "site_url": settings.SITE_URL}
    context = {
        "site_url": settings.SITE_URL,
        "body_text": render_to_string("emails/_digest_body.txt", shared),
        "body_html": render_to_string("emails/_digest_body.html", shared),
        "person": {"display_name": _NAME_MARK},
        "unsubscribe_url": _LINK_MARK,
        "delivery": {"subject": subject},
    }
    return DigestLetter(
        text=render_to_string("emails/digest.txt", context),
        html=render_to_string("emails/digest.html", context),
    )


class _DigestLettersOfBatch:
    """Renders each digest of a batch once: its stored edition, or, for a delivery
    recorded without one, the window's content as it is now."""

    def __init__(self, deliveries: list[Delivery]) -> None:
        editions = {d.context.get("edition") for d in deliveries if _is_digest(d)}
        self._digests = digest_editions(editions - {None})
        self._letters: dict[tuple, DigestLetter] = {}

    def __call__(self, delivery: Delivery) -> DigestLetter:
        edition = delivery.context.get("edition")
        stored = edition in self._digests
        window = edition if stored else (delivery.context["since"], delivery.context["until"])
        key = (window, delivery.subject)
        if key not in self._letters:
            digest = self._digests[edition] if stored else digest_of(delivery)
            self._letters[key] = digest_letter(digest, subject=delivery.subject)
        return self._letters[key]


def _is_digest(delivery: Delivery) -> bool:
    return delivery.context.get("kind") == "digest"


def _message(delivery: Delivery, *, letter: DigestLetter | None = None) -> EmailMultiAlternatives:
    """The mail of one delivery. A digest comes rendered once per batch (`letter`);
    only the person's name and unsubscribe link are put in here."""
    person = delivery.person
    token = unsubscribe_token(person)
    unsubscribe_url = absolute(reverse("notifications:unsubscribe", kwargs={"token": token}))
    if _is_digest(delivery):
        letter = letter or digest_letter(digest_of(delivery), subject=delivery.subject)
        text, html = letter.to(name=person.display_name, unsubscribe_url=unsubscribe_url)
        mail_class = DigestMail
    else:
        context = {
            "delivery": delivery,
            "person": person,
            "unsubscribe_url": unsubscribe_url,
            "site_url": settings.SITE_URL,
            **mail_context(delivery),
        }
        text = render_to_string("emails/notification.txt", context)
        html = render_to_string("emails/notification.html", context)
        mail_class = EmailMultiAlternatives
    message = mail_class(
        subject=delivery.subject,
        body=text,
        to=[person.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": f"<delivery-{delivery.pk}@{settings.MAIL_DOMAIN}>",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def backoff_after(attempts: int) -> int:
    """Seconds before the next try of a delivery that failed `attempts` times."""
    return BACKOFF_SECONDS[min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1]


@dataclass
class BatchOutcome:
    """What `deliveries_send` did with each delivery id it was given."""

    sent: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    # Refused this time: delivery id -> (seconds to wait, error). Each is retried alone.
    retry: dict[int, tuple[int, str]] = field(default_factory=dict)
    # Not tried: the SMTP connection broke on an earlier mail of the batch.
    deferred: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "sent": len(self.sent),
            "already": len(self.already),
            "failed": len(self.failed),
            "retry": len(self.retry),
            "deferred": len(self.deferred),
        }


# The two statements every mail runs, as plain SQL: the ORM's query building cost 0.8 ms
# per statement against 0.27 ms for the same UPDATE written out (bench/README.md).
_TABLE = Delivery._meta.db_table
# The model's own table name; every value is a parameter.
_CLAIM_SQL = (
    f'UPDATE "{_TABLE}" SET "status" = %s, "attempts" = "attempts" + 1, "due_at" = %s '  # noqa: S608
    'WHERE "id" = %s AND "status" = %s AND "attempts" = %s'
)
_MARK_SENT_SQL = (
    f'UPDATE "{_TABLE}" SET "status" = %s, "sent_at" = %s '  # noqa: S608
    'WHERE "id" = %s AND "status" = %s AND "attempts" = %s'
)


def _row_update(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _claim(delivery: Delivery, now: datetime.datetime) -> bool:
    """Marks a pending delivery "sending" and counts the attempt, committed before any
    byte goes to the SMTP server. The conditional UPDATE takes the row lock, so of two
    workers holding the same delivery exactly one claims it; the other sees it is no
    longer pending."""
    claimed = _row_update(
        _CLAIM_SQL,
        [DeliveryStatus.SENDING, now, delivery.pk, DeliveryStatus.PENDING, delivery.attempts],
    )
    if claimed:
        delivery.attempts += 1
    return bool(claimed)


def _mark_sent(delivery: Delivery) -> bool:
    # `attempts` fences the claim: a row the sweep already gave to another worker is
    # not marked by this one.
    marked = _row_update(
        _MARK_SENT_SQL,
        [
            DeliveryStatus.SENT,
            timezone.now(),
            delivery.pk,
            DeliveryStatus.SENDING,
            delivery.attempts,
        ],
    )
    if not marked:
        logger.warning("Delivery %s had been queued again meanwhile.", delivery.pk)
    return bool(marked)


def _mark_failed(delivery: Delivery, failure: str, *, final: bool) -> tuple[str, int]:
    """Records a refused attempt: "failed" for good, or back to pending with the time
    of its next try (the sweep leaves it alone until then)."""
    final = final or delivery.attempts >= MAX_ATTEMPTS
    wait = backoff_after(delivery.attempts)
    # "sent" too: over SMTP the row is marked sent just before the mail's last line,
    # and a server that refuses the mail after it has that mark undone here.
    Delivery.objects.filter(
        pk=delivery.pk,
        status__in=[DeliveryStatus.SENDING, DeliveryStatus.SENT],
        attempts=delivery.attempts,
    ).update(
        status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
        last_error=failure,
        sent_at=None,
        due_at=timezone.now() + datetime.timedelta(seconds=wait),
    )
    return ("failed" if final else "retry"), wait


def _digests_sent_record(last_sent: dict[int, datetime.datetime]) -> None:
    """Remembers where each person's next digest starts: one statement per batch."""
    if not last_sent:
        return
    Preference.objects.bulk_create(
        [Preference(person_id=p, last_digest_at=until) for p, until in sorted(last_sent.items())],
        update_conflicts=True,
        unique_fields=["person"],
        update_fields=["last_digest_at"],
    )


@contextlib.contextmanager
def _quick_commits():
    """The batch's claims and marks commit without waiting for the disk (PostgreSQL's
    synchronous_commit off, on this connection, for this batch): a commit that waits
    for fsync costs several milliseconds here, twice per mail. A worker that dies
    loses nothing by it, since PostgreSQL has every commit it acknowledged. Only a
    crash of PostgreSQL itself can lose the last fraction of a second of claims and
    marks; those deliveries are then pending or "sending" again and are sent again,
    like a row found "sending" (see the module docstring). None is lost."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _send_one(delivery: Delivery, message, mailer, outcome: BatchOutcome) -> str:
    """Sends one claimed delivery and records the result on its row: "sent",
    "refused" (this mail only), "broken" (the connection; the rest should wait) or
    "cut off" (the connection was dropped on purpose; the next mail opens a new one)."""
    marked = False

    def mark_sent() -> bool:
        nonlocal marked
        marked = True
        return _mark_sent(delivery)

    try:
        mailer.open()  # once per batch; again after a broken connection
        if isinstance(mailer, SmtpBackend):
            # Marked sent before the server can accept it (notifications.mail).
            send_handing_over(mailer, message, before_end=mark_sent)
        elif not mailer.send_messages([message]):
            raise ValueError("The mail has no recipient address.")
    except NotHandedOver:
        outcome.already.append(delivery.pk)  # another attempt owns it; nothing went out
        return "cut off"
    except AnswerLost:
        outcome.sent.append(delivery.pk)  # on record as sent; not sent again
        return "cut off"
    except (smtplib.SMTPException, OSError, ValueError) as error:
        failure = f"{type(error).__name__}: {error}"[:2000]
        result, wait = _mark_failed(delivery, failure, final=isinstance(error, ValueError))
        if result == "failed":
            outcome.failed.append(delivery.pk)
        else:
            outcome.retry[delivery.pk] = (wait, failure)
        refused = isinstance(error, (*MESSAGE_REFUSED, ValueError)) and not _closing(error)
        return "refused" if refused else "broken"
    if not marked:
        _mark_sent(delivery)
    outcome.sent.append(delivery.pk)
    return "sent"


def _closing(error: smtplib.SMTPException) -> bool:
    """A 421 reply ("service not available, closing the channel", RFC 5321 3.8) is
    about the connection, not the mail: the rest of the batch waits rather than being
    sent into a closed connection, each using up an attempt."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
    else:
        codes = [getattr(error, "smtp_code", None)]
    return 421 in codes


def deliveries_send(*, delivery_ids: list[int]) -> BatchOutcome:
    """Sends every delivery of the batch that is still pending, over one SMTP
    connection, each claimed and marked on its own row, so a refusal or a crash
    affects only the mail in hand. Safe to run twice and concurrently."""
    outcome = BatchOutcome()
    wanted = list(dict.fromkeys(delivery_ids))
    pending = list(
        Delivery.objects.filter(pk__in=wanted, status=DeliveryStatus.PENDING)
        .select_related("person")
        .order_by("pk")
    )
    found = {d.pk for d in pending}
    outcome.already = [pk for pk in wanted if pk not in found]
    letter_of = _DigestLettersOfBatch(pending)
    last_sent: dict[int, datetime.datetime] = {}
    mailer = mailers.default
    with _quick_commits():
        try:
            for position, delivery in enumerate(pending):
                if not _claim(delivery, timezone.now()):
                    outcome.already.append(delivery.pk)
                    continue
                digest = _is_digest(delivery)
                # Built after the claim: a mail that cannot be built uses up attempts.
                message = _message(delivery, letter=letter_of(delivery) if digest else None)
                result = _send_one(delivery, message, mailer, outcome)
                if result == "broken":
                    # The connection itself failed: the rest waits for the next try
                    # rather than each mail timing out against a server that is down.
                    outcome.deferred = [d.pk for d in pending[position + 1 :]]
                    break
                if result == "sent" and digest:
                    until = datetime.datetime.fromisoformat(delivery.context["until"])
                    last_sent[delivery.person_id] = until
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                mailer.close()
            _digests_sent_record(last_sent)
    return outcome


def delivery_send(*, delivery_id: int) -> str:
    """Sends one delivery unless it was sent already. Returns "sent", "already" or
    "failed"; raises DeliveryFailed when a retry should follow."""
    outcome = deliveries_send(delivery_ids=[delivery_id])
    if outcome.sent:
        return "sent"
    if outcome.failed:
        return "failed"
    if outcome.retry:
        [(wait, failure)] = outcome.retry.values()
        raise DeliveryFailed(failure, retry_in=wait)
    return "already"


def deliveries_requeue_stale(*, now: datetime.datetime | None = None) -> int:
    """Queues again the deliveries a worker took and never finished: still pending, or
    still "sending", well after they were queued, claimed or due for a retry (a worker
    killed with its tasks, a task lost). Sending an unsent row is idempotent.

    A row found "sending" was claimed and handed to the SMTP server, and its worker died
    before recording the answer: the server may or may not have accepted it. It is sent
    again (see the module docstring), unless it has used up its attempts."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.DELIVERY_STALE_SECONDS)
    unfinished = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=unfinished)
            .filter(Q(due_at__lt=cutoff) | Q(due_at__isnull=True, created_at__lt=cutoff))
            .order_by("pk")
            .values_list("pk", "status", "attempts")[:SWEEP_LIMIT]
        )
        lost = [pk for pk, status, _ in stale if status == DeliveryStatus.SENDING]
        spent = [
            pk
            for pk, status, attempts in stale
            if status == DeliveryStatus.SENDING and attempts >= MAX_ATTEMPTS
        ]
        Delivery.objects.filter(pk__in=spent).update(
            status=DeliveryStatus.FAILED, last_error=LOST_WHILE_SENDING + " No attempts left."
        )
        again = [pk for pk, _, _ in stale if pk not in set(spent)]
        Delivery.objects.filter(pk__in=set(lost) - set(spent)).update(
            status=DeliveryStatus.PENDING, last_error=LOST_WHILE_SENDING + " Sent again."
        )
        Delivery.objects.filter(pk__in=again).update(due_at=now)
        if again:
            logger.warning("Queued %s unfinished deliveries again.", len(again))
        _enqueue(again)
    return len(again)


@transaction.atomic
def delivery_retry(*, delivery: Delivery) -> None:
    """An admin sends a failed delivery again."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != DeliveryStatus.FAILED:
        raise IllegalTransition("Only failed deliveries can be retried.")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.due_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "due_at"])
    _enqueue([delivery.pk])
