"""With the task broker's Redis really stopped, a change made through the API still
succeeds and its event waits in the outbox; once Redis is back, the beat's sweep
task and a real Celery worker deliver it, signed, exactly once.

The test runs its own redis-server on a free port (never the shared one on 6379)
and points Celery at it, the way webhook delivery reaches its worker in production.
It needs /usr/bin/redis-server: it is skipped without one on a laptop and fails in
CI (CI=true), where it must run."""

import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from celery import signals
from celery.contrib.testing.worker import start_worker

from accounts.models import Role
from concerns.models import Concern, Status
from config.celery import app as celery_app
from tests import factories
from tests.api.conftest import Api
from tests.webhooks import SECRET, endpoint
from tests.webhooks.test_delivery import Receiver, verify
from webhooks import tasks
from webhooks.models import DeliveryStatus, EventType, OutboxEvent, WebhookDelivery
from webhooks.services import SIGNATURE_HEADER

pytestmark = pytest.mark.django_db(transaction=True)

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SHARED_REDIS_PORT = 6379
WAIT_SECONDS = 30


def wait_for(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of this test's own, that keeps nothing on disk, and can be
    stopped and started again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        assert self.port != SHARED_REDIS_PORT
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        command += ["--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(command)  # noqa: S603 - our own fixed arguments
        assert wait_for(self.answers), "the test's redis-server did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=WAIT_SECONDS)
            self.process = None
        assert not self.answers()


@pytest.fixture
def redis_server(tmp_path):
    if not os.access(REDIS_SERVER, os.X_OK):
        message = f"needs {REDIS_SERVER} to stop and start a Redis of its own"
        if IN_CI:
            pytest.fail(f"{message}; it is required in CI", pytrace=False)
        pytest.skip(message)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _reset_broker_connections() -> None:
    """Celery keeps its connection and producer pools for the broker it first used."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker(redis_server, settings):
    """Celery sends tasks through the test's Redis instead of running them inline,
    and loopback receivers are allowed, as in every test. The cache (rate-limit
    counters, cached settings) lives in that Redis too, as in production, where both
    use REDIS_URL."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": "answerable",
        }
    }
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = redis_server.url, False
    _reset_broker_connections()
    yield redis_server
    conf.broker_url, conf.task_always_eager = saved
    _reset_broker_connections()


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def worker(monkeypatch):
    """A real Celery worker in a thread of this process, consuming from the broker.
    Celery is told to leave the test process's logging, warnings and environment
    as they are."""

    def keep_logging(**kwargs):
        return True

    finished: Counter[str] = Counter()

    def count(sender=None, **kwargs):
        finished[sender.name] += 1

    for name in ("CELERY_LOG_LEVEL", "CELERY_LOG_FILE"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    signals.setup_logging.connect(keep_logging)
    signals.task_postrun.connect(count)
    try:
        with (
            warnings.catch_warnings(),
            start_worker(
                celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=WAIT_SECONDS
            ),
        ):
            yield finished
    finally:
        logging.captureWarnings(False)
        signals.task_postrun.disconnect(count)
        signals.setup_logging.disconnect(keep_logging)


def test_with_redis_stopped_a_change_succeeds_and_its_event_is_delivered_once_redis_is_back(
    broker, receiver, caplog, request
):
    already_open = factories.open_concern(title="Broken lift")  # before any endpoint
    OutboxEvent.objects.all().delete()
    endpoint(receiver.url, events=[EventType.CONCERN_PUBLISHED])
    moderator = factories.person(role=Role.MODERATOR)
    concern = factories.submission(title="Ventilation in the lab").concern
    api = Api(moderator)

    voter = Api(factories.person())

    broker.stop()
    with caplog.at_level(logging.WARNING):
        answer = api.post(f"concerns/{concern.pk}/moderation/", {"action": "approve"})
        vote = voter.post(f"concerns/{already_open.pk}/vote/")

    assert answer.status_code == 200, answer.content
    # The rate limits, cached settings and live-meeting map work without the cache.
    assert vote.status_code == 200 and vote.json()["vote_count"] == 1, vote.content
    assert "Redis cache unreachable" in caplog.text
    assert answer.json()["status"] == "open"
    assert Concern.objects.get(pk=concern.pk).status == Status.OPEN
    event = OutboxEvent.objects.get()
    assert event.type == EventType.CONCERN_PUBLISHED
    assert event.payload["id"] == str(concern.pk)
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == event
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
    assert "queued for the next sweep" in caplog.text
    assert receiver.received == []

    broker.start()  # the same port: the broker Celery already knows
    tasks.sweep_webhooks.delay()  # what beat sends every minute
    finished = request.getfixturevalue("worker")
    delivered = wait_for(lambda: len(receiver.received) >= 1)
    tasks.sweep_webhooks.delay()  # a later tick finds nothing left to send
    swept_twice = wait_for(lambda: finished["webhooks.tasks.sweep_webhooks"] >= 2)

    assert delivered and swept_twice
    assert finished["webhooks.tasks.deliver_webhook"] == 1
    [(headers, body)] = receiver.received
    assert verify(headers[SIGNATURE_HEADER], body, secret=SECRET)
    assert headers["Answerable-Event"] == "concern.published"
    assert headers["Answerable-Delivery"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1 and delivery.response_code == 200
