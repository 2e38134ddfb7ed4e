"""Emitting events into the outbox and delivering them, signed, with backoff."""

import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from django.db import transaction
from django.utils import timezone

from concerns.errors import IllegalTransition
from webhooks.models import (
    DeliveryStatus,
    Endpoint,
    EventType,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "Answerable-Signature"


def webhook_emit(*, type: str, payload: dict) -> OutboxEvent | None:
    """Writes the event to the outbox inside the caller's transaction, with a delivery
    row for every active endpoint that asked for this type."""
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event {type!r}")
    endpoints = [e for e in Endpoint.objects.filter(active=True) if type in e.events]
    if not endpoints:
        return None
    event = OutboxEvent.objects.create(type=type, payload=payload)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint=e, event=event, next_attempt_at=now) for e in endpoints]
    )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return event


def _enqueue(delivery_ids: list[int]) -> None:
    from webhooks.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:  # noqa: BLE001 - the broker may be down; the sweep sends it later
            logger.warning("webhook delivery %s queued for the next sweep", delivery_id)


def targets_private_network(url: str) -> bool:
    """Whether the URL names this machine or a private, link-local or reserved
    address: a webhook must not become a way to reach internal services. Names are
    checked as written (localhost); other names are not resolved here."""
    host = (urllib.parse.urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost") or not host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def body_of(event: OutboxEvent) -> bytes:
    document = {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.astimezone(datetime.UTC).isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _backoff(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def webhook_deliver(*, delivery_id: int) -> str:
    """One attempt. Returns "delivered", "retry", "failed" or "skipped"."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint", "event")
            .filter(
                pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
            )
            .first()
        )
        if delivery is None:
            return "skipped"
        body = body_of(delivery.event)
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - admins register http(s) URLs only
            delivery.endpoint.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Answerable-Webhooks/1",
                "Answerable-Event": delivery.event.type,
                "Answerable-Delivery": str(delivery.pk),
                SIGNATURE_HEADER: signature(
                    secret=delivery.endpoint.secret, timestamp=timestamp, body=body
                ),
            },
        )
        code, error = None, ""
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                code = answer.status
        except urllib.error.HTTPError as failure:
            code, error = failure.code, f"HTTP {failure.code}"
        except (urllib.error.URLError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        WebhookAttempt.objects.create(delivery=delivery, response_code=code, error=error)
        delivery.attempts += 1
        delivery.response_code = code
        delivery.last_error = error
        if code is not None and 200 <= code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = timezone.now()
            outcome = "delivered"
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            outcome = "failed"
        else:
            delivery.next_attempt_at = timezone.now() + _backoff(delivery.attempts)
            outcome = "retry"
        delivery.save()
        return outcome


def webhooks_sweep(*, now: datetime.datetime | None = None) -> int:
    """Queues every pending delivery whose time has come: the outbox's safety net."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:1000]
    )
    _enqueue(due)
    return len(due)


@transaction.atomic
def webhook_retry(*, delivery: WebhookDelivery) -> None:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != DeliveryStatus.FAILED:
        raise IllegalTransition("Only failed deliveries can be retried.")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
