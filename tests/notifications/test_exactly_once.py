"""Every mail is recorded before it is sent, so a second beat tick, a retry after a
refusal or two workers at once still mail each person exactly once; a mail that
finally fails is recorded, shown to admins and can be sent again."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import User
from concerns.models import Concern, Status
from config.celery import app as celery_app
from notifications import services
from notifications.models import Delivery, DeliveryStatus, Frequency
from notifications.services import MAX_ATTEMPTS, DeliveryFailed
from notifications.tasks import schedule_digests
from tests import factories
from tests.notifications import deliveries, visible

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> list[User]:
    return [factories.person() for _ in range(4)]


@pytest.fixture
def retries_run_at_once():
    """In eager mode Celery runs a retry at once instead of after the backoff, but only
    when eager errors do not propagate: with propagation the Retry itself is raised."""
    celery_app.conf.task_eager_propagates = False


def each_got_exactly_one(sink, people: list[User]) -> None:
    assert sorted(sink.recipients().elements()) == sorted(p.email for p in people)


def test_scheduling_the_weekly_digest_twice_mails_each_person_once(
    staff, smtp_sink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.digests_schedule(period=Frequency.WEEKLY)
    with django_capture_on_commit_callbacks(execute=True):
        second = services.digests_schedule(period=Frequency.WEEKLY)

    assert (len(first.created), first.skipped) == (4, 0)
    assert (len(second.created), second.skipped) == (0, 4)
    each_got_exactly_one(smtp_sink, staff)


def test_a_second_beat_tick_of_the_digest_task_mails_nobody_again(
    staff, smtp_sink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = schedule_digests.delay("weekly").get()
    with django_capture_on_commit_callbacks(execute=True):
        second = schedule_digests.delay("weekly").get()

    assert (first, second) == (4, 0)
    each_got_exactly_one(smtp_sink, staff)


def test_a_server_that_refuses_the_first_attempts_still_gets_one_mail_per_person(
    staff, smtp_sink, retries_run_at_once, django_capture_on_commit_callbacks
):
    smtp_sink.refuse_first = 2

    with django_capture_on_commit_callbacks(execute=True):
        schedule_digests.delay("weekly")

    each_got_exactly_one(smtp_sink, staff)
    for person in staff:
        assert smtp_sink.attempts[person.email] == 3
    for delivery in deliveries():
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 3)
        assert "451" in delivery.last_error


def test_sending_again_after_a_refusal_sends_once_and_then_never_again(staff, smtp_sink):
    [person, *_] = staff
    smtp_sink.refuse_first = 1
    services.digests_schedule(period=Frequency.WEEKLY, enqueue=False)
    delivery = Delivery.objects.get(person=person)

    with pytest.raises(DeliveryFailed, match="451"):
        services.delivery_send(delivery_id=delivery.pk)
    assert services.delivery_send(delivery_id=delivery.pk) == "sent"
    assert services.delivery_send(delivery_id=delivery.pk) == "already"

    [message] = smtp_sink.to(person.email)
    assert message["Message-ID"] == f"<delivery-{delivery.pk}@answerable.localhost>"


@pytest.fixture
def failed(smtp_sink, retries_run_at_once, django_capture_on_commit_callbacks) -> Delivery:
    """A digest the server refused every time the task tried it."""
    person = factories.person(first_name="Fay", last_name="Failing")
    smtp_sink.refuse_first = MAX_ATTEMPTS
    with django_capture_on_commit_callbacks(execute=True):
        schedule_digests.delay("weekly")
    return Delivery.objects.get(person=person)


def test_after_the_last_attempt_the_delivery_is_failed_with_the_error_recorded(failed, smtp_sink):
    assert failed.status == DeliveryStatus.FAILED
    assert failed.attempts == MAX_ATTEMPTS
    assert failed.sent_at is None
    assert "SMTPDataError" in failed.last_error
    assert "Mailbox busy, try again later" in failed.last_error
    assert smtp_sink.messages == []
    assert smtp_sink.attempts[failed.person.email] == MAX_ATTEMPTS


@pytest.fixture
def admin_client(client):
    client.force_login(
        User.objects.create_superuser("root", "root@example.test", "correct horse battery")
    )
    return client


def test_a_failed_mail_is_listed_for_admins_with_its_error(failed, admin_client):
    page = admin_client.get("/admin/notifications/delivery/?status__exact=failed")

    assert page.status_code == 200
    text = visible(page.content.decode())
    assert failed.key in text
    assert "Failed" in text
    assert "Mailbox busy, try again later" in text


def test_a_failed_mail_shows_its_error_on_its_admin_page(failed, admin_client):
    page = admin_client.get(f"/admin/notifications/delivery/{failed.pk}/change/")

    assert page.status_code == 200
    assert "Mailbox busy, try again later" in visible(page.content.decode())


def test_the_admin_retry_action_sends_a_failed_mail_once(
    failed, admin_client, smtp_sink, django_capture_on_commit_callbacks
):
    retry = {"action": "retry", "_selected_action": [failed.pk], "index": "0"}

    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post("/admin/notifications/delivery/", retry, follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        again = admin_client.post("/admin/notifications/delivery/", retry, follow=True)

    assert "1 delivery(ies) queued again." in visible(page.content.decode())
    assert "0 delivery(ies) queued again." in visible(again.content.decode())
    assert len(smtp_sink.to(failed.person.email)) == 1
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.SENT


def test_only_admins_see_the_deliveries(failed, client):
    client.force_login(factories.moderator())

    page = client.get("/admin/notifications/delivery/")

    assert page.status_code == 302
    assert "/admin/login/" in page["Location"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_delivery_at_once_send_one_mail(smtp_sink):
    person = factories.person()
    [delivery_id] = services.digests_schedule(period=Frequency.WEEKLY, enqueue=False).created
    smtp_sink.delay = 0.5  # the first sender holds the row lock while the server is slow
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[object] = [None, None]

    def send(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            outcomes[i] = services.delivery_send(delivery_id=delivery_id)
        except BaseException as error:  # the assertion below reports it
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(map(str, outcomes)) == ["already", "sent"]
    assert len(smtp_sink.to(person.email)) == 1
    assert Delivery.objects.get(pk=delivery_id).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_a_refused_mail_does_not_break_the_moderators_page(client, smtp_sink):
    """With no REDIS_URL tasks run in the web process (the embedded default, and any
    deployment without Redis): a mail server hiccup after the change committed must
    not turn the moderator's redirect into a server error."""
    smtp_sink.refuse_first = 1
    moderator = factories.moderator()
    concern = factories.open_concern(moderated_by=moderator)
    follower = factories.person()
    services.follow(person=follower, concern=concern)
    client.raise_request_exception = False
    client.force_login(moderator)

    page = client.post(reverse("concerns:moderate", args=[concern.pk, "require-response"]))

    assert page.status_code == 302
    assert Concern.objects.get(pk=concern.pk).status == Status.RESPONSE_DUE
    [delivery] = Delivery.objects.filter(person=follower)
    assert "451" in delivery.last_error, "the refusal is recorded on the delivery"
