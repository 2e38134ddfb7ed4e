"""Digests, follows, notifications and reminders, delivered exactly once.

Every mail starts as a `Delivery` row, unique per (person, key), written before any
sending. Sending locks the row, sends, and marks it sent in one transaction, so a
second worker waits and then finds it sent. The one window left is a worker killed
after the SMTP server accepted the mail and before the commit; the Message-ID is
derived from the delivery so a receiving system can drop that rare duplicate.
"""

import datetime
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from concerns.errors import IllegalTransition, InvalidInput
from concerns.models import Concern, Status
from notifications.models import Delivery, DeliveryStatus, Follow, Frequency, Preference

UNSUBSCRIBE_SALT = "answerable.unsubscribe"
MAX_ATTEMPTS = 5
REMINDER_DAYS = 3


class DeliveryFailed(Exception):
    """Sending failed this time; the task retries with backoff."""


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
    from notifications.tasks import send_delivery

    for delivery_id in delivery_ids:
        send_delivery.delay_on_commit(delivery_id)


def _deliveries_create(rows: list[Delivery]) -> list[int]:
    """Writes the rows that do not exist yet and returns their ids. A row that exists
    already (a second beat tick, a retried task) is left alone and not sent again."""
    if not rows:
        return []
    keys = {(r.person_id, r.key) for r in rows}
    existing = set(
        Delivery.objects.filter(
            person_id__in={p for p, _ in keys}, key__in={k for _, k in keys}
        ).values_list("person_id", "key")
    )
    fresh = [r for r in rows if (r.person_id, r.key) not in existing]
    Delivery.objects.bulk_create(fresh, ignore_conflicts=True)
    created = Delivery.objects.filter(
        person_id__in={r.person_id for r in fresh},
        key__in={r.key for r in fresh},
        status=DeliveryStatus.PENDING,
        attempts=0,
    ).values_list("pk", "person_id", "key")
    wanted = {(r.person_id, r.key) for r in fresh}
    return [pk for pk, person_id, key in created if (person_id, key) in wanted]


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
    last = dict(Preference.objects.values_list("person_id", "last_digest_at"))
    rows = []
    for person_id in people.values_list("pk", flat=True):
        since = last.get(person_id) or (now - length)
        rows.append(
            Delivery(
                person_id=person_id,
                key=key,
                subject=f"Your {period} Answerable digest",
                context={"kind": "digest", "since": since.isoformat(), "until": now.isoformat()},
            )
        )
    created = _deliveries_create(rows)
    if enqueue:
        _enqueue(created)
    return Scheduled(created=created, skipped=len(rows) - len(created))


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


def _message(delivery: Delivery) -> EmailMultiAlternatives:
    from notifications.selectors import mail_context

    person = delivery.person
    context = mail_context(delivery)
    token = unsubscribe_token(person)
    unsubscribe_url = absolute(reverse("notifications:unsubscribe", kwargs={"token": token}))
    context.update(person=person, unsubscribe_url=unsubscribe_url, site_url=settings.SITE_URL)
    template = "digest" if delivery.context.get("kind") == "digest" else "notification"
    message = EmailMultiAlternatives(
        subject=delivery.subject,
        body=render_to_string(f"emails/{template}.txt", context),
        to=[person.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": f"<delivery-{delivery.pk}@{settings.MAIL_DOMAIN}>",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    return message


def delivery_send(*, delivery_id: int) -> str:
    """Sends one delivery unless it was sent already. Returns "sent", "already" or
    "failed"; raises DeliveryFailed when a retry should follow."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update().select_related("person").filter(pk=delivery_id)
        ).first()
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return "already"
        try:
            _message(delivery).send()
        except (smtplib.SMTPException, OSError) as error:
            failure = f"{type(error).__name__}: {error}"[:2000]
        else:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = timezone.now()
            delivery.attempts += 1
            delivery.save(update_fields=["status", "sent_at", "attempts"])
            if delivery.context.get("kind") == "digest":
                Preference.objects.update_or_create(
                    person_id=delivery.person_id,
                    defaults={
                        "last_digest_at": datetime.datetime.fromisoformat(delivery.context["until"])
                    },
                )
            return "sent"
    # Recorded in its own transaction, so a failure is never lost with a rollback.
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        delivery.last_error = failure
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        delivery.save(update_fields=["attempts", "last_error", "status"])
        if delivery.status == DeliveryStatus.FAILED:
            return "failed"
    raise DeliveryFailed(failure)


@transaction.atomic
def delivery_retry(*, delivery: Delivery) -> None:
    """An admin sends a failed delivery again."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != DeliveryStatus.FAILED:
        raise IllegalTransition("Only failed deliveries can be retried.")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.save(update_fields=["status", "attempts"])
    _enqueue([delivery.pk])
