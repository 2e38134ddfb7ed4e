"""Over SMTP a delivery is recorded as sent once the server has all of the mail but its
final "." line, and only then is that line sent: a server delivers nothing of a mail
whose connection ends before it. So a worker that dies before the record leaves a mail
that was never delivered (the sweep sends it, once), and one that dies after it leaves
a mail on record as sent, never a second copy."""

import pytest

from notifications import services
from notifications.models import Delivery, DeliveryStatus, Frequency
from notifications.tasks import sweep_deliveries
from tests import factories
from tests.notifications import deliveries
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import travel_to

pytestmark = pytest.mark.django_db(transaction=True)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, and nothing catches it."""


@pytest.fixture
def scheduled(monkeypatch, settings):
    settings.DELIVERY_STALE_SECONDS = 300
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = [factories.person() for _ in range(3)]
    ids = services.digests_schedule(period=Frequency.WEEKLY, enqueue=False).created
    return people, ids


def test_the_server_receives_a_mail_only_after_its_delivery_is_on_record_as_sent(
    scheduled, smtp_sink
):
    people, ids = scheduled
    seen_when_accepted = []
    accept = smtp_sink.handle_DATA

    async def handle_DATA(server, session, envelope):
        # Runs once the server has the final "." line: the mail is deliverable now.
        address = envelope.rcpt_tos[0]
        seen_when_accepted.append(
            await _status_of(address)  # read from another connection: committed only
        )
        return await accept(server, session, envelope)

    smtp_sink.handle_DATA = handle_DATA
    services.deliveries_send(delivery_ids=ids)

    assert seen_when_accepted == [DeliveryStatus.SENT] * 3
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)


async def _status_of(address: str) -> str:
    from asgiref.sync import sync_to_async

    def read():
        from django.db import connection

        try:
            return Delivery.objects.get(person__email=address).status
        finally:
            connection.close()  # this thread's own connection, not left to the teardown

    return await sync_to_async(read, thread_sensitive=False)()


def test_a_mail_refused_after_its_last_line_is_pending_again_not_sent(scheduled, smtp_sink):
    people, ids = scheduled
    smtp_sink.refuse_first = 1  # "451 Mailbox busy" to the first attempt, after the "."

    outcome = services.deliveries_send(delivery_ids=ids)

    assert smtp_sink.messages == []
    assert sorted(outcome.retry) == sorted(ids)
    for row in deliveries():
        assert (row.status, row.sent_at) == (DeliveryStatus.PENDING, None)
        assert "451" in row.last_error


def test_a_worker_killed_before_the_record_delivers_nothing_and_the_sweep_sends_it_once(
    scheduled, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    people, ids = scheduled
    real_mark = services._mark_sent
    marks = []

    def mark_then_die_on_the_second(delivery):
        marks.append(delivery.pk)
        if len(marks) == 2:
            raise WorkerKilled  # the body of the second mail is out; its "." is not
        real_mark(delivery)

    monkeypatch.setattr(services, "_mark_sent", mark_then_die_on_the_second)
    with pytest.raises(WorkerKilled):
        services.deliveries_send(delivery_ids=ids)
    monkeypatch.setattr(services, "_mark_sent", real_mark)

    assert len(smtp_sink.messages) == 1  # the second mail was cut off before its "."
    statuses = sorted(d.status for d in deliveries())
    assert statuses == sorted([DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.PENDING])

    travel_to(monkeypatch, DIGEST_DAY, hour=7, minute=6)
    with django_capture_on_commit_callbacks(execute=True):
        requeued = sweep_deliveries.delay().get()

    assert requeued == 2
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in people)
    assert {d.status for d in deliveries()} == {DeliveryStatus.SENT}
    assert Delivery.objects.filter(status=DeliveryStatus.SENT, sent_at__isnull=False).count() == 3


def test_a_delivery_taken_over_before_its_last_line_is_cut_off_not_sent_twice(
    scheduled, smtp_sink, monkeypatch
):
    people, ids = scheduled
    real_mark = services._mark_sent

    def queued_again_meanwhile(delivery):
        # As if the sweep had handed the row to another worker: the fence matches nothing.
        Delivery.objects.filter(pk=delivery.pk).update(attempts=delivery.attempts + 1)
        return real_mark(delivery)

    monkeypatch.setattr(services, "_mark_sent", queued_again_meanwhile)
    outcome = services.deliveries_send(delivery_ids=ids)

    assert smtp_sink.messages == []  # every mail cut off before its "."
    assert sorted(outcome.already) == sorted(ids)
    assert all(d.status == DeliveryStatus.SENDING for d in deliveries())


def test_a_server_closing_with_421_defers_the_rest_of_the_batch_without_using_their_attempts(
    scheduled, smtp_sink
):
    import asyncio

    people, ids = scheduled
    closed = []

    async def handle_RCPT(server, session, envelope, address, rcpt_options):
        if not closed:
            closed.append(address)
            # The reply goes out, then the server hangs up, as RFC 5321 3.8 describes.
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 Service shutting down, closing transmission channel"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp_sink.handle_RCPT = handle_RCPT
    outcome = services.deliveries_send(delivery_ids=ids)

    first, *rest = sorted(ids)
    assert list(outcome.retry) == [first]
    assert sorted(outcome.deferred) == rest
    rows = {row.pk: row for row in deliveries()}
    assert "421" in rows[first].last_error
    assert [(rows[pk].status, rows[pk].attempts) for pk in rest] == [
        (DeliveryStatus.PENDING, 0),
        (DeliveryStatus.PENDING, 0),
    ]
    assert smtp_sink.messages == []
