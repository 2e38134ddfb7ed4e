"""Leaders are reminded three days before a written response is due and once when it
is overdue; commitment owners three days before their commitment is due. Each
reminder goes out once, however often the hourly job runs."""

import pytest
from django.core import mail

from concerns.models import Status
from notifications import services
from notifications.tasks import schedule_reminders
from responses import services as response_services
from responses.models import CommitmentStatus
from tests import factories
from tests.notifications import outbox_recipients, outbox_to, text_of
from tests.responses import DAY_ONE, days_after, due_concern, publish, rules, travel_to

pytestmark = pytest.mark.django_db

DUE_ON = days_after(DAY_ONE, 14)


@pytest.fixture
def leader():
    return factories.leader(first_name="Lena", last_name="Leader")


@pytest.fixture
def concern(leader, monkeypatch):
    rules(days=14)
    travel_to(monkeypatch, DAY_ONE)
    concern = due_concern(leader=leader, title="Canteen closes at two")
    assert (concern.status, concern.response_due_on) == (Status.RESPONSE_DUE, DUE_ON)
    return concern


def remind(capture, day) -> list[str]:
    """Runs the reminder job as of `day`; returns who got a mail from that run."""
    before = len(mail.outbox)
    with capture(execute=True):
        services.reminders_schedule(today=day)
    return sorted(address for m in mail.outbox[before:] for address in m.to)


def test_the_leader_is_reminded_exactly_three_days_before_the_response_is_due(
    concern, leader, django_capture_on_commit_callbacks
):
    sent = {
        day: remind(django_capture_on_commit_callbacks, days_after(DAY_ONE, day))
        for day in range(15)
    }

    assert {day: got for day, got in sent.items() if got} == {11: [leader.email]}
    [message] = outbox_to(leader.email)
    assert message.subject == (
        f"Due {DUE_ON:%-d %b}: your written response to “Canteen closes at two”"
    )
    assert "Canteen closes at two" in text_of(message)
    assert f"http://127.0.0.1:8000/concerns/{concern.pk}/" in text_of(message)


def test_running_the_reminders_twice_on_the_day_sends_nothing_more(
    concern, leader, django_capture_on_commit_callbacks
):
    first = remind(django_capture_on_commit_callbacks, days_after(DUE_ON, -3))
    again = remind(django_capture_on_commit_callbacks, days_after(DUE_ON, -3))

    assert (first, again) == ([leader.email], [])


def test_the_leader_is_reminded_once_when_the_response_becomes_overdue(
    concern, leader, django_capture_on_commit_callbacks
):
    on_the_day = remind(django_capture_on_commit_callbacks, DUE_ON)
    day_after = remind(django_capture_on_commit_callbacks, days_after(DUE_ON, 1))
    later = [
        remind(django_capture_on_commit_callbacks, days_after(DUE_ON, n)) for n in (1, 2, 3, 10)
    ]

    # A leader not yet reminded (say beat was down) hears on the day it is due.
    assert on_the_day == [leader.email]
    assert day_after == [leader.email]
    assert later == [[], [], [], []]
    overdue = [m for m in outbox_to(leader.email) if m.subject.startswith("Overdue")]
    assert [m.subject for m in overdue] == [
        "Overdue: your written response to “Canteen closes at two”"
    ]


def test_a_published_response_stops_the_reminders(
    concern, leader, monkeypatch, django_capture_on_commit_callbacks
):
    travel_to(monkeypatch, days_after(DAY_ONE, 2))
    publish(concern, leader)

    for day in (days_after(DUE_ON, -3), days_after(DUE_ON, 1)):
        assert remind(django_capture_on_commit_callbacks, day) == []


def test_a_concern_without_an_accountable_leader_reminds_nobody(
    monkeypatch, django_capture_on_commit_callbacks
):
    rules(days=14)
    travel_to(monkeypatch, DAY_ONE)
    due_concern(leader=None)

    for day in (days_after(DUE_ON, -3), days_after(DUE_ON, 1)):
        assert remind(django_capture_on_commit_callbacks, day) == []


def test_the_hourly_task_reminds_as_of_today(
    concern, leader, monkeypatch, django_capture_on_commit_callbacks
):
    travel_to(monkeypatch, days_after(DUE_ON, -3), hour=9)

    with django_capture_on_commit_callbacks(execute=True):
        first = schedule_reminders.delay().get()
    travel_to(monkeypatch, days_after(DUE_ON, -3), hour=10)
    with django_capture_on_commit_callbacks(execute=True):
        second = schedule_reminders.delay().get()

    assert (first, second) == (1, 0)
    assert outbox_recipients() == [leader.email]


# Commitments -------------------------------------------------------------------------


@pytest.fixture
def owner():
    return factories.person(first_name="Omar", last_name="Owner")


@pytest.fixture
def commitment(concern, leader, owner, monkeypatch):
    travel_to(monkeypatch, days_after(DAY_ONE, 2))
    publish(concern, leader)
    return response_services.commitment_add(
        concern=concern,
        leader=leader,
        description="Keep the canteen open until four",
        owner=owner,
        due_on=days_after(DAY_ONE, 20),
    )


def test_the_commitment_owner_is_reminded_three_days_before_it_is_due(
    commitment, owner, django_capture_on_commit_callbacks
):
    sent = {
        day: remind(django_capture_on_commit_callbacks, days_after(DAY_ONE, day))
        for day in range(2, 21)
    }
    again = remind(django_capture_on_commit_callbacks, days_after(DAY_ONE, 17))

    assert {day: got for day, got in sent.items() if got} == {17: [owner.email]}
    assert again == []
    [message] = outbox_to(owner.email)
    assert message.subject == (
        f"Due {days_after(DAY_ONE, 20):%-d %b}: Keep the canteen open until four"
    )


def test_a_commitment_already_done_is_not_reminded(
    commitment, leader, django_capture_on_commit_callbacks
):
    response_services.commitment_update(
        commitment=commitment, author=leader, to_status=CommitmentStatus.DONE, note="Done."
    )

    assert remind(django_capture_on_commit_callbacks, days_after(DAY_ONE, 17)) == []
