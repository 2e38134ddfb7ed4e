"""Delivering webhooks to a real HTTP receiver on 127.0.0.1: signed, logged attempt
by attempt, retried with growing backoff by the sweep while the receiver is down or
failing, given up after MAX_ATTEMPTS, and retried by an admin."""

import datetime
import hashlib
import hmac
import json
import socket
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from config.celery import app as celery_app
from tests import factories
from tests.webhooks import SECRET, endpoint
from webhooks import tasks
from webhooks.models import DeliveryStatus, EventType, WebhookAttempt, WebhookDelivery
from webhooks.services import MAX_ATTEMPTS, SIGNATURE_HEADER, webhooks_sweep

# Seconds between attempts: 30 s doubling, at most an hour.
BACKOFF = [min(30 * 2**n, 3600) for n in range(MAX_ATTEMPTS - 1)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it is sent and answers with the
    status it is told to. It can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.status = 200
        self.received: list[tuple[Message, bytes]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/answerable"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.headers, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(autouse=True)
def _tasks_run_in_the_test(settings):
    """Tasks run eagerly here whatever REDIS_URL says, and loopback targets are
    allowed, as they are in every test."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def clock(monkeypatch):
    """The product's clock, stopped; `clock.now` may be moved."""
    state = SimpleNamespace(now=timezone.now().replace(microsecond=0))
    monkeypatch.setattr(timezone, "now", lambda: state.now)
    return state


def verify(header: str, body: bytes, secret: str = SECRET, tolerance: int = 300) -> bool:
    """What a receiver does: recompute HMAC-SHA256 over "<t>.<body>" and compare."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"]) and (
        abs(time.time() - timestamp) <= tolerance
    )


@pytest.fixture
def moderator(db):
    return factories.moderator()


def _publish_concern(moderator, capture, **extra):
    """Publishes a concern (an anonymous one with the publication batch, which is what
    publishes it) and runs what the transactions queued on commit."""
    concern = factories.submission(**extra).concern
    with capture(execute=True):
        factories.published(concern, moderator)
    return concern


def _delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.select_related("event").get()


def test_a_delivery_is_signed_and_the_receiver_can_verify_it(
    receiver, moderator, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])

    concern = _publish_concern(moderator, django_capture_on_commit_callbacks)

    [(headers, body)] = receiver.received
    assert verify(headers[SIGNATURE_HEADER], body)
    assert not verify(headers[SIGNATURE_HEADER], body, secret="another-secret")
    assert not verify(headers[SIGNATURE_HEADER], body.replace(b"open", b"shut"))
    assert headers["Content-Type"] == "application/json"
    assert headers["Answerable-Event"] == "concern.published"
    delivery = _delivery()
    assert headers["Answerable-Delivery"] == str(delivery.pk)
    document = json.loads(body)
    assert document["type"] == "concern.published" and document["id"] == str(delivery.event_id)
    assert document["data"]["id"] == str(concern.pk)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1 and delivery.response_code == 200
    assert delivery.delivered_at is not None
    assert [(a.response_code, a.error) for a in delivery.log.all()] == [(200, "")]


def test_an_anonymous_concern_is_delivered_without_a_person(
    receiver, moderator, django_capture_on_commit_callbacks
):
    author = factories.person(username="quiet", first_name="Quinn", last_name="Quiet")
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])

    _publish_concern(moderator, django_capture_on_commit_callbacks, author=author, anonymous=True)

    [(_, body)] = receiver.received
    data = json.loads(body)["data"]
    assert data["anonymous"] is True and data["author"] is None
    assert not any(name in body.decode() for name in ("quiet", "Quinn", "Quiet"))


def test_every_subscribed_endpoint_gets_its_own_signed_copy(
    receiver, moderator, django_capture_on_commit_callbacks
):
    other = Receiver().start()
    try:
        endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
        endpoint(other.url, events=[EventType.CONCERN_PUBLISHED], secret="other-secret-0123456789")

        _publish_concern(moderator, django_capture_on_commit_callbacks)

        [(headers, body)] = receiver.received
        [(other_headers, other_body)] = other.received
        assert body == other_body
        assert verify(headers[SIGNATURE_HEADER], body)
        assert verify(other_headers[SIGNATURE_HEADER], other_body, secret="other-secret-0123456789")
    finally:
        other.stop()


def test_a_failing_receiver_is_retried_with_growing_backoff_until_it_recovers(
    receiver, moderator, clock, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    receiver.status = 500
    started = clock.now

    _publish_concern(moderator, django_capture_on_commit_callbacks)
    gaps = []
    for _ in range(3):
        delivery = _delivery()
        gaps.append((delivery.next_attempt_at - clock.now).total_seconds())
        clock.now = delivery.next_attempt_at - datetime.timedelta(seconds=1)
        assert webhooks_sweep(now=clock.now) == 0, "attempted before its time"
        clock.now = delivery.next_attempt_at
        assert webhooks_sweep(now=clock.now) == 1
    receiver.status = 204
    clock.now = _delivery().next_attempt_at
    webhooks_sweep(now=clock.now)

    assert gaps == BACKOFF[:3]
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 5
    assert [a.response_code for a in delivery.log.all()] == [500, 500, 500, 500, 204]
    assert len(receiver.received) == 5
    assert all(verify(h[SIGNATURE_HEADER], b) for h, b in receiver.received)
    assert delivery.delivered_at == clock.now > started


def test_a_receiver_that_is_down_is_retried_and_delivered_when_it_is_back(
    receiver, moderator, clock, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    receiver.stop()

    _publish_concern(moderator, django_capture_on_commit_callbacks)
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.response_code is None and "refused" in delivery.last_error.lower()
    assert (delivery.next_attempt_at - clock.now).total_seconds() == BACKOFF[0]
    clock.now = delivery.next_attempt_at
    webhooks_sweep(now=clock.now)
    assert _delivery().attempts == 2 and _delivery().status == DeliveryStatus.PENDING

    receiver.start()
    clock.now = _delivery().next_attempt_at
    assert webhooks_sweep(now=clock.now) == 1

    delivery = _delivery()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    log = list(delivery.log.all())
    assert [a.response_code for a in log] == [None, None, 200]
    assert all(a.error for a in log[:2]) and log[2].error == ""
    assert len(receiver.received) == 1


def test_after_max_attempts_the_delivery_fails_and_the_sweep_leaves_it_alone(
    receiver, moderator, clock, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    receiver.status = 500

    _publish_concern(moderator, django_capture_on_commit_callbacks)
    while _delivery().status == DeliveryStatus.PENDING:
        clock.now = _delivery().next_attempt_at
        webhooks_sweep(now=clock.now)

    delivery = _delivery()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == MAX_ATTEMPTS == len(receiver.received)
    assert WebhookAttempt.objects.filter(delivery=delivery, response_code=500).count() == 8
    assert webhooks_sweep(now=clock.now + datetime.timedelta(days=30)) == 0


def test_an_admin_sees_the_attempts_and_retries_a_failed_delivery(
    receiver, moderator, clock, client, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    receiver.status = 503
    _publish_concern(moderator, django_capture_on_commit_callbacks)
    while _delivery().status == DeliveryStatus.PENDING:
        clock.now = _delivery().next_attempt_at
        webhooks_sweep(now=clock.now)
    delivery = _delivery()
    admin = factories.person(is_staff=True, is_superuser=True)
    client.force_login(admin)

    listing = client.get("/admin/webhooks/webhookdelivery/", {"status__exact": "failed"})
    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post(
            "/admin/webhooks/webhookdelivery/",
            {"action": "retry", "_selected_action": [delivery.pk]},
        )

    assert listing.status_code == 200 and "concern.published" in listing.content.decode()
    assert page.status_code == 200 and page.content.decode().count("503") >= MAX_ATTEMPTS
    assert retried.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.response_code == 200
    assert len(receiver.received) == MAX_ATTEMPTS + 1
    assert delivery.log.count() == MAX_ATTEMPTS + 1


def test_retrying_a_delivery_that_has_not_failed_is_refused_with_a_message(
    receiver, moderator, client, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    _publish_concern(moderator, django_capture_on_commit_callbacks)
    client.force_login(factories.person(is_staff=True, is_superuser=True))

    answer = client.post(
        "/admin/webhooks/webhookdelivery/",
        {"action": "retry", "_selected_action": [_delivery().pk]},
        follow=True,
    )

    assert "Only failed deliveries can be retried." in answer.content.decode()
    assert len(receiver.received) == 1


def test_a_change_succeeds_while_the_broker_is_down_and_the_sweep_delivers_it_later(
    receiver, moderator, clock, monkeypatch, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as outage:
        outage.setattr(tasks.deliver_webhook, "delay", broker_down)
        concern = _publish_concern(moderator, django_capture_on_commit_callbacks)

    concern.refresh_from_db()
    assert concern.status == "open"
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
    assert receiver.received == []
    assert tasks.sweep_webhooks() == 1  # the beat's task, once the broker is back
    assert _delivery().status == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1


def test_a_repeated_task_does_not_deliver_twice(
    receiver, moderator, django_capture_on_commit_callbacks
):
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    _publish_concern(moderator, django_capture_on_commit_callbacks)

    assert tasks.deliver_webhook(_delivery().pk) == "skipped"
    assert webhooks_sweep() == 0
    assert len(receiver.received) == 1


def test_a_task_queued_twice_does_not_attempt_again_before_the_backoff_has_passed(
    receiver, moderator, clock, django_capture_on_commit_callbacks
):
    """The sweep may queue a delivery again while an earlier task for it still waits
    in the queue; the second task must respect the backoff the first one set."""
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    receiver.status = 500
    _publish_concern(moderator, django_capture_on_commit_callbacks)
    clock.now += datetime.timedelta(seconds=1)

    outcome = tasks.deliver_webhook(_delivery().pk)

    assert outcome == "skipped"
    assert _delivery().attempts == 1
    assert len(receiver.received) == 1
