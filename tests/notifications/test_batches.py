"""Digests at scale: what a digest says is built once per period window, not once per
mail, and mail goes out in batches over one SMTP connection, each delivery still
claimed and marked on its own row, so one refused mail costs the others nothing."""

import datetime

import pytest
from django.core import mail
from django.db import connection

from concerns import services as concern_services
from notifications import selectors, services
from notifications.models import Delivery, DeliveryStatus, DigestEdition, Frequency, Preference
from notifications.tasks import send_deliveries
from tests import factories
from tests.notifications import deliveries, section, text_of
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import days_after, rules, travel_to

pytestmark = pytest.mark.django_db


def staff(n: int) -> list:
    return [factories.person() for _ in range(n)]


def scheduled(period: str = Frequency.WEEKLY) -> list[int]:
    return services.digests_schedule(period=period, enqueue=False).created


def each_got_exactly_one(sink, people) -> None:
    assert sorted(sink.recipients().elements()) == sorted(p.email for p in people)


# Built once per window ---------------------------------------------------------------


def test_the_shared_digest_takes_nine_queries_however_much_happened(
    week, django_assert_num_queries
):
    since = datetime.datetime.fromisoformat("2031-03-17T07:00:00+00:00")
    until = datetime.datetime.fromisoformat("2031-03-24T09:00:00+00:00")
    with django_assert_num_queries(9):
        small = selectors.digest_content(since=since, until=until)
    for n in range(6):
        concern = factories.open_concern(title=f"More happened {n}", moderated_by=week.moderator)
        concern_services.vote_cast(concern=concern, voter=factories.person())

    with django_assert_num_queries(9):
        large = selectors.digest_content(since=since, until=until)

    assert len(large.new_concerns) == len(small.new_concerns) + 6
    assert len(large.gaining) == 5


def test_scheduling_builds_one_shared_digest_for_everyone_whatever_their_number(
    django_assert_num_queries, monkeypatch
):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    staff(3)
    with django_assert_num_queries(16):
        few = scheduled()
    travel_to(monkeypatch, days_after(DIGEST_DAY, 7), hour=7)
    staff(12)
    with django_assert_num_queries(16):
        many = scheduled()

    assert (len(few), len(many)) == (3, 15)
    [first, second] = DigestEdition.objects.order_by("pk")
    assert {d.context["edition"] for d in Delivery.objects.filter(pk__in=many)} == {second.pk}


def test_people_whose_last_digest_ended_elsewhere_get_the_digest_of_their_own_window(
    monkeypatch, django_capture_on_commit_callbacks
):
    rules(votes=50)
    travel_to(monkeypatch, days_after(DIGEST_DAY, -10))
    moderator = factories.moderator()
    factories.open_concern(title="Older than a week", moderated_by=moderator)
    travel_to(monkeypatch, days_after(DIGEST_DAY, -3))
    factories.open_concern(title="This week", moderated_by=moderator)
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    regular, returning = factories.person(), factories.person()
    Preference.objects.create(
        person=returning,
        last_digest_at=datetime.datetime.combine(
            days_after(DIGEST_DAY, -14), datetime.time(7), tzinfo=datetime.UTC
        ),
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.digests_schedule(period=Frequency.WEEKLY)

    assert DigestEdition.objects.count() == 2
    [regulars] = [m for m in mail.outbox if regular.email in m.to]
    [returnings] = [m for m in mail.outbox if returning.email in m.to]
    assert [line.split(" (")[0] for line in section(text_of(regulars), "NEW OPEN CONCERNS")] == [
        "This week"
    ]
    assert [line.split(" (")[0] for line in section(text_of(returnings), "NEW OPEN CONCERNS")] == [
        "Older than a week",
        "This week",
    ]


def test_the_digest_says_what_its_edition_says_even_after_things_changed(week, smtp_sink):
    [delivery_id, *_] = scheduled()
    edition = DigestEdition.objects.get()
    concern_services.vote_cast(concern=week.named, voter=factories.person())

    services.deliveries_send(delivery_ids=[delivery_id])

    [message] = smtp_sink.messages
    text = text_of(message)
    assert "Parking permits for night staff (0 votes)" in text
    assert f"#{edition.content['ledger_sequence']} {edition.content['ledger_hash']}" in text


def test_the_stored_edition_names_no_author_and_holds_no_submission_time(week):
    scheduled()

    stored = str(DigestEdition.objects.get().content)

    assert "Contracts with border agencies" in stored
    for person in [week.anonymous_author, *week.voters]:
        assert person.last_name not in stored
        assert person.username not in stored
        assert person.email not in stored
    assert str(week.anonymous.pk) in stored  # its link
    assert "published_at" not in stored and "created_at" not in stored


# Batches -----------------------------------------------------------------------------


def test_a_batch_of_digests_goes_out_over_one_smtp_connection(smtp_sink, monkeypatch):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = staff(6)

    outcome = send_deliveries.delay(scheduled()).get()

    assert outcome == {"sent": 6, "already": 0, "failed": 0, "retry": 0, "deferred": 0}
    each_got_exactly_one(smtp_sink, people)
    assert smtp_sink.connections() == 1
    assert {(d.status, d.attempts) for d in deliveries()} == {(DeliveryStatus.SENT, 1)}


def test_sending_a_batch_costs_two_queries_per_mail_and_three_more_in_all(
    smtp_sink, monkeypatch, django_assert_num_queries
):
    """Fetch the batch, read its edition, claim and mark each mail, record where each
    person's next digest starts: no digest content is computed per mail. (PostgreSQL
    adds two: synchronous_commit off for the batch, and back.)"""
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    staff(4)
    ids = scheduled()
    per_batch = 3 + (2 if connection.vendor == "postgresql" else 0)

    with django_assert_num_queries(per_batch + 2 * 4):
        services.deliveries_send(delivery_ids=ids)

    assert len(smtp_sink.messages) == 4


def test_a_sent_batch_is_not_sent_again(smtp_sink, monkeypatch):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = staff(3)
    ids = scheduled()

    first = services.deliveries_send(delivery_ids=ids)
    again = services.deliveries_send(delivery_ids=ids)

    assert (sorted(first.sent), again.sent, sorted(again.already)) == (sorted(ids), [], ids)
    each_got_exactly_one(smtp_sink, people)


def test_a_sent_digest_moves_where_the_next_one_starts(smtp_sink, monkeypatch):
    now = travel_to(monkeypatch, DIGEST_DAY, hour=7)
    [person] = staff(1)

    services.deliveries_send(delivery_ids=scheduled())

    assert Preference.objects.get(person=person).last_digest_at == now


def test_one_refused_mail_in_a_batch_is_retried_alone_and_the_others_go_once(
    smtp_sink, monkeypatch
):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = staff(5)
    refused = people[2]
    smtp_sink.refuse_first_for = {refused.email: 1}

    outcome = send_deliveries.delay(scheduled()).get()

    # The refused mail went back to pending and its own retry task sent it.
    assert (outcome["sent"], outcome["retry"]) == (4, 1)
    each_got_exactly_one(smtp_sink, people)
    assert smtp_sink.attempts[refused.email] == 2
    rows = {d.person_id: d for d in deliveries()}
    assert (rows[refused.pk].status, rows[refused.pk].attempts) == (DeliveryStatus.SENT, 2)
    assert "451" in rows[refused.pk].last_error
    for person in people:
        if person != refused:
            assert (rows[person.pk].status, rows[person.pk].attempts) == (DeliveryStatus.SENT, 1)
    # The four that went through on the first try shared one connection.
    assert len(set(smtp_sink.peers[:4])) == 1


def test_a_refused_mail_waits_for_its_backoff(smtp_sink, monkeypatch):
    now = travel_to(monkeypatch, DIGEST_DAY, hour=7)
    [person] = staff(1)
    smtp_sink.refuse_first = 1

    outcome = services.deliveries_send(delivery_ids=scheduled())

    [(delivery_id, (wait, failure))] = outcome.retry.items()
    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert wait == services.BACKOFF_SECONDS[0]
    assert delivery.due_at == now + datetime.timedelta(seconds=wait)
    assert "Mailbox busy" in failure
    assert smtp_sink.messages == []


def test_when_the_mail_server_is_down_the_batch_stops_and_the_rest_is_not_tried(
    settings, monkeypatch
):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    staff(4)
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": closed_port(), "timeout": 5},
        }
    }
    first, *rest = ids = scheduled()

    outcome = services.deliveries_send(delivery_ids=ids)

    assert list(outcome.retry) == [first]
    assert outcome.deferred == rest
    rows = {d.pk: d for d in deliveries()}
    assert rows[first].attempts == 1 and "ConnectionRefusedError" in rows[first].last_error
    for pk in rest:
        assert (rows[pk].status, rows[pk].attempts, rows[pk].last_error) == ("pending", 0, "")


def test_a_person_without_a_valid_address_fails_at_once_and_the_batch_goes_on(
    smtp_sink, monkeypatch
):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = staff(3)
    broken = factories.person(email="not an address@@example.test")

    outcome = services.deliveries_send(delivery_ids=scheduled())

    assert len(outcome.sent) == 3 and len(outcome.failed) == 1
    each_got_exactly_one(smtp_sink, people)
    row = Delivery.objects.get(person=broken)
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 1)
    assert "Invalid address" in row.last_error


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
