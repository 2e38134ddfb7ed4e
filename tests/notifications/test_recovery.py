"""A worker killed in the middle of a batch leaves its deliveries pending (never handed
to the mail server) or, for the one mail in hand, "sending". The sweep that beat runs
every minute queues them again once they are stale, so nobody waits for the broker's
hour-long visibility timeout; fresh rows, rows waiting for their retry and sent rows
are left alone. Two workers sending the same batch at once still mail each person
once."""

import datetime
import threading

import pytest
from django.db import connection

from config.celery import app as celery_app
from notifications import services
from notifications.models import Delivery, DeliveryStatus, Frequency
from notifications.services import MAX_ATTEMPTS
from notifications.tasks import sweep_deliveries
from tests import factories
from tests.notifications import deliveries
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import travel_to

pytestmark = pytest.mark.django_db

STALE = datetime.timedelta(minutes=5)


@pytest.fixture(autouse=True)
def _stale_after_five_minutes(settings):
    settings.DELIVERY_STALE_SECONDS = int(STALE.total_seconds())


@pytest.fixture
def scheduled(monkeypatch):
    """Four digests recorded and queued at 07:00, whose worker then died unseen."""
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = [factories.person() for _ in range(4)]
    ids = services.digests_schedule(period=Frequency.WEEKLY, enqueue=False).created
    return people, ids


def sweep_at(monkeypatch, minute: int, capture) -> int:
    travel_to(monkeypatch, DIGEST_DAY, hour=7, minute=minute)
    with capture(execute=True):
        return sweep_deliveries.delay().get()


def left_sending(delivery_id: int, *, attempts: int = 1) -> None:
    """As a worker leaves a row it claimed when it is killed before the server's answer."""
    Delivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.SENDING, attempts=attempts)


def test_the_sweep_leaves_fresh_pending_deliveries_to_their_task(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    requeued = sweep_at(monkeypatch, 4, django_capture_on_commit_callbacks)

    assert requeued == 0
    assert smtp_sink.messages == []
    assert {d.status for d in deliveries()} == {DeliveryStatus.PENDING}


def test_the_sweep_sends_deliveries_left_pending_by_a_lost_worker_once_each(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    people, _ = scheduled

    first = sweep_at(monkeypatch, 6, django_capture_on_commit_callbacks)
    again = sweep_at(monkeypatch, 20, django_capture_on_commit_callbacks)

    assert (first, again) == (4, 0)
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)
    assert {(d.status, d.attempts) for d in deliveries()} == {(DeliveryStatus.SENT, 1)}
    assert smtp_sink.connections() == 1, "queued again as one batch"


def test_a_delivery_left_sending_by_a_killed_worker_is_sent_again_and_says_so(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    people, [in_hand, *rest] = scheduled
    left_sending(in_hand)
    services.deliveries_send(delivery_ids=rest)  # the others went out before the kill

    requeued = sweep_at(monkeypatch, 6, django_capture_on_commit_callbacks)

    assert requeued == 1
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)
    row = Delivery.objects.get(pk=in_hand)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert "The worker stopped while sending it" in row.last_error
    assert "Sent again." in row.last_error


def test_a_delivery_claimed_moments_ago_is_not_taken_from_its_worker(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    _, [in_hand, *_] = scheduled
    travel_to(monkeypatch, DIGEST_DAY, hour=7, minute=3)
    Delivery.objects.filter(pk=in_hand).update(
        status=DeliveryStatus.SENDING, attempts=1, due_at=services.timezone.now()
    )

    sweep_at(monkeypatch, 6, django_capture_on_commit_callbacks)

    assert Delivery.objects.get(pk=in_hand).status == DeliveryStatus.SENDING
    assert len(smtp_sink.messages) == 3


def test_a_delivery_that_lost_its_worker_on_every_attempt_is_failed_not_sent_forever(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    _, [in_hand, *_] = scheduled
    left_sending(in_hand, attempts=MAX_ATTEMPTS)

    sweep_at(monkeypatch, 6, django_capture_on_commit_callbacks)

    row = Delivery.objects.get(pk=in_hand)
    assert row.status == DeliveryStatus.FAILED
    assert "No attempts left." in row.last_error
    assert row.person.email not in smtp_sink.recipients()


def test_a_refused_delivery_waits_for_its_backoff_before_the_sweep_takes_it(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    people, [refused, *rest] = scheduled
    services.deliveries_send(delivery_ids=rest)
    travel_to(monkeypatch, DIGEST_DAY, hour=7, minute=1)
    Delivery.objects.filter(pk=refused).update(
        attempts=4,
        last_error="SMTPDataError: (451, 'busy')",
        # Its fourth refusal at 07:01 put its next try at 07:21.
        due_at=services.timezone.now() + datetime.timedelta(minutes=20),
    )

    early = sweep_at(monkeypatch, 24, django_capture_on_commit_callbacks)
    late = sweep_at(monkeypatch, 27, django_capture_on_commit_callbacks)

    assert (early, late) == (0, 1)
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)
    assert Delivery.objects.get(pk=refused).status == DeliveryStatus.SENT


def test_sent_and_failed_deliveries_are_never_queued_again(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    people, [failed, *rest] = scheduled
    services.deliveries_send(delivery_ids=rest)
    Delivery.objects.filter(pk=failed).update(status=DeliveryStatus.FAILED, attempts=MAX_ATTEMPTS)

    requeued = sweep_at(monkeypatch, 50, django_capture_on_commit_callbacks)

    assert requeued == 0
    assert len(smtp_sink.messages) == 3


def test_the_sweep_runs_every_minute_on_beat():
    entry = celery_app.conf.beat_schedule["delivery-sweep"]
    assert entry["task"] == "notifications.tasks.sweep_deliveries"
    assert entry["schedule"] == 60.0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_batch_at_once_mail_each_person_once(smtp_sink):
    people = [factories.person() for _ in range(8)]
    ids = services.digests_schedule(period=Frequency.WEEKLY, enqueue=False).created
    smtp_sink.delay = 0.05  # both workers are busy with the batch at the same time
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[object] = [None, None]

    def send(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            outcomes[i] = services.deliveries_send(delivery_ids=ids)
        except BaseException as error:  # the assertion below reports it
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    first, second = outcomes
    assert isinstance(first, services.BatchOutcome), first
    assert isinstance(second, services.BatchOutcome), second
    assert sorted(first.sent + second.sent) == sorted(ids)
    assert sorted(first.already + second.already) == sorted(ids)
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)
    assert {(d.status, d.attempts) for d in deliveries()} == {(DeliveryStatus.SENT, 1)}
