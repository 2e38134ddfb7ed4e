"""A real Celery worker, fed through Redis, working on the test's PostgreSQL database
and sending to a real SMTP socket: two beat ticks of the weekly digest for twenty
people end with exactly one mail each, sent as one batch over one connection."""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from config.celery import app as celery_app
from notifications.models import Delivery, DeliveryStatus
from notifications.tasks import schedule_digests
from tests import factories

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

PROJECT = Path(__file__).resolve().parents[2]
CELERY = PROJECT / ".venv" / "bin" / "celery"
STARTUP_SECONDS = 20
WORK_SECONDS = 25
SHUTDOWN_SECONDS = 10


def worker_database_url() -> str:
    """DATABASE_URL names the development database; the worker must use the test's."""
    settings = connection.settings_dict
    user = quote(settings["USER"] or "", safe="")
    password = quote(settings["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(settings['NAME'], safe='')}"


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def worker(transactional_db, smtp_sink, tmp_path):
    """`celery -A config worker` in a subprocess, stopped with a warm shutdown."""
    celery_app.control.purge()  # tasks other tests left on the broker are not ours
    log = tmp_path / "worker.log"
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_sink.port),
        "PYTHONUNBUFFERED": "1",
    }
    command = [str(CELERY), "-A", "config", "worker", "--pool=solo", "-l", "info"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    command += ["-n", f"mail-test-{os.getpid()}@%h"]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own celery and fixed arguments
            command, cwd=PROJECT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    running = Worker(process=process, log=log)
    try:
        started = wait_for(
            lambda: " ready." in running.output() or process.poll() is not None,
            STARTUP_SECONDS,
        )
        assert started and process.poll() is None, f"the worker did not start:\n{running.output()}"
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=SHUTDOWN_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=SHUTDOWN_SECONDS)
                pytest.fail(f"the worker ignored SIGTERM:\n{running.output()}")


def test_a_real_worker_mails_each_of_twenty_people_exactly_once(worker, smtp_sink):
    # The worker keeps the real clock, so this test does too.
    moderator = factories.moderator()
    people = [moderator, *(factories.person() for _ in range(19))]
    factories.open_concern(
        title="Heating in the east wing", author=people[1], moderated_by=moderator
    )
    celery_app.conf.task_always_eager = False  # through Redis to the worker

    schedule_digests.delay("weekly")
    schedule_digests.delay("weekly")  # a second beat tick

    everyone_sent = wait_for(
        lambda: (
            Delivery.objects.filter(status=DeliveryStatus.SENT).count() >= len(people)
            and len(smtp_sink.messages) >= len(people)
        ),
        WORK_SECONDS,
    )
    assert everyone_sent, f"only {len(smtp_sink.messages)} mails arrived:\n{worker.output()}"
    time.sleep(1)  # anything sent twice would arrive now
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)
    assert Delivery.objects.count() == len(people)
    assert not Delivery.objects.exclude(status=DeliveryStatus.SENT).exists()
    [message, *_] = smtp_sink.messages
    assert message["Subject"] == "Your weekly Answerable digest"
    assert "Heating in the east wing" in message.get_body(("plain",)).get_content()

    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=SHUTDOWN_SECONDS) == 0
    log = worker.output()
    assert "notifications.tasks.schedule_digests" in log
    # Twenty digests are one batch: one task, one SMTP connection.
    assert log.count("notifications.tasks.send_deliveries[") >= 1
    assert "'sent': 20," in log
    assert smtp_sink.connections() == 1
