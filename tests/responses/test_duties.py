"""Duties to respond: enough support obliges a leader to answer in writing by a
deadline, and a missed deadline is public."""

import re

import pytest
from django.urls import reverse

from concerns import services as concern_services
from concerns.errors import InvalidInput, NotAllowed
from concerns.models import LeaderRoute, Status
from concerns.tasks import enforce_response_deadlines
from ledger.services import ledger_flush_deferred
from responses.tasks import mark_missed_commitments
from tests import factories
from tests.responses import (
    DAY_ONE,
    days_after,
    due_concern,
    ledger_payloads,
    page_text,
    publish,
    refreshed,
    rules,
    travel_to,
    vote,
)

pytestmark = pytest.mark.django_db


# Becoming due --------------------------------------------------------------------------


def test_reaching_the_vote_threshold_makes_a_written_response_due_by_the_deadline(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(votes=3, days=10)
    concern = factories.open_concern()

    vote(concern, 2)
    assert refreshed(concern).status == Status.OPEN

    vote(concern, 1)
    concern = refreshed(concern)
    assert concern.status == Status.RESPONSE_DUE
    assert concern.response_due_since == DAY_ONE
    assert concern.response_due_on == days_after(DAY_ONE, 10)
    event = concern.events.order_by("-sequence").first()
    assert event.note == "Reached 3 votes: a written response is now due."
    # Nobody decided it and the deciding vote is nobody's business: the date only,
    # and its ledger entry waits for the shuffled batch, so the chain cannot time it.
    assert event.actor is None and event.occurred_at is None
    made_due = {
        "concern": str(concern.pk),
        "from": "open",
        "to": "response_due",
        "on": DAY_ONE.isoformat(),
        "by": None,
    }
    assert made_due not in ledger_payloads("concern.status")

    ledger_flush_deferred()

    assert ledger_payloads("concern.status")[-1] == made_due


def test_a_concern_that_became_due_shows_the_deadline_on_its_page(client, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(votes=1, days=14)
    concern = factories.open_concern()
    vote(concern, 1)
    client.force_login(factories.person())

    text = page_text(client.get(concern.get_absolute_url()))

    assert "Response due" in text
    assert "A written response was due by 17 Mar 2031; no leader is assigned yet." in text


def test_a_concern_that_becomes_due_is_routed_to_the_leader_of_its_tag(monkeypatch):
    rules(votes=2)
    hiring, policing = factories.tag("Hiring"), factories.tag("Policing")
    department = factories.department(size=5)
    by_tag = factories.leader(first_name="Tess", last_name="Tagged")
    LeaderRoute.objects.create(tag=policing, leader=by_tag)
    LeaderRoute.objects.create(department=department, leader=factories.leader())
    concern = factories.open_concern(tags=[hiring, policing], department=department)

    vote(concern, 2)

    assert refreshed(concern).accountable_leader == by_tag


def test_without_a_tag_route_the_department_route_chooses_the_leader():
    rules(votes=2)
    department = factories.department(size=5)
    other_tag = factories.tag()
    LeaderRoute.objects.create(tag=other_tag, leader=factories.leader())
    by_department = factories.leader()
    LeaderRoute.objects.create(department=department, leader=by_department)
    concern = factories.open_concern(tags=[factories.tag()], department=department)

    vote(concern, 2)

    assert refreshed(concern).accountable_leader == by_department


def test_a_route_to_a_deactivated_leader_is_not_followed():
    rules(votes=1)
    policing = factories.tag()
    LeaderRoute.objects.create(tag=policing, leader=factories.leader(is_active=False))
    concern = factories.open_concern(tags=[policing])

    vote(concern, 1)

    concern = refreshed(concern)
    assert concern.status == Status.RESPONSE_DUE
    assert concern.accountable_leader is None


def test_a_due_concern_stays_due_when_supporters_withdraw_their_votes():
    rules(votes=3)
    concern = factories.open_concern()
    voters = vote(concern, 3)

    for voter in voters:
        concern_services.vote_retract(concern=concern, voter=voter)

    concern = refreshed(concern)
    assert concern.vote_count == 0
    assert concern.status == Status.RESPONSE_DUE
    assert concern.response_due_on is not None


def test_votes_carried_over_by_a_merge_can_make_the_target_due(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(votes=4, days=7)
    moderator = factories.moderator()
    target = factories.open_concern(title="Facial recognition for police")
    duplicate = factories.open_concern(title="Selling face matching to the police")
    vote(target, 2)
    vote(duplicate, 2)

    concern_services.concern_merge(concern=duplicate, into=target, moderator=moderator)

    target = refreshed(target)
    assert target.vote_count == 4
    assert target.status == Status.RESPONSE_DUE
    assert target.response_due_on == days_after(DAY_ONE, 7)


# Moderators --------------------------------------------------------------------------


def test_a_moderator_assigns_the_accountable_leader_shown_on_the_page(client):
    moderator = factories.moderator()
    leader = factories.leader(first_name="Ada", last_name="Lovelace")
    concern = due_concern(moderator=moderator)
    client.force_login(moderator)

    response = client.post(
        reverse("concerns:moderate", args=[concern.pk, "assign"]), {"leader": leader.pk}
    )

    assert response.status_code == 302
    assert refreshed(concern).accountable_leader == leader
    text = page_text(client.get(concern.get_absolute_url()))
    assert "The accountable leader was assigned." in text
    assert "from Ada Lovelace." in text
    assert "Ada Lovelace is accountable for the written response." in text


def test_only_an_active_leader_can_be_made_accountable(client):
    moderator = factories.moderator()
    concern = due_concern(moderator=moderator)
    employee = factories.person(first_name="Eve", last_name="Employee")

    with pytest.raises(InvalidInput, match="Eve Employee is not an active leader"):
        concern_services.concern_assign_leader(
            concern=concern, moderator=moderator, leader=employee
        )
    with pytest.raises(InvalidInput, match="not an active leader"):
        concern_services.concern_assign_leader(
            concern=concern, moderator=moderator, leader=factories.leader(is_active=False)
        )

    client.force_login(moderator)
    client.post(reverse("concerns:moderate", args=[concern.pk, "assign"]), {"leader": employee.pk})
    assert "Choose an active leader." in page_text(client.get(concern.get_absolute_url()))
    assert refreshed(concern).accountable_leader is None


def test_an_employee_cannot_assign_a_leader():
    concern = due_concern()

    with pytest.raises(NotAllowed):
        concern_services.concern_assign_leader(
            concern=concern, moderator=factories.person(), leader=factories.leader()
        )

    assert refreshed(concern).accountable_leader is None


def test_a_moderator_can_require_a_response_before_the_threshold_is_reached(client, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(votes=50, days=21)
    moderator = factories.moderator(first_name="Morgan", last_name="Reviewer")
    concern = factories.open_concern(moderated_by=moderator)
    client.force_login(moderator)

    client.post(reverse("concerns:moderate", args=[concern.pk, "require-response"]))

    concern = refreshed(concern)
    assert concern.status == Status.RESPONSE_DUE
    assert concern.response_due_on == days_after(DAY_ONE, 21)
    text = page_text(client.get(concern.get_absolute_url()))
    assert "A written response is now due." in text
    assert "A moderator asked leadership for a written response." in text
    assert ledger_payloads("concern.status")[-1]["by"] == "Morgan Reviewer"


# Missed deadlines --------------------------------------------------------------------


def test_a_missed_deadline_is_recorded_once_and_on_the_ledger(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(days=14)
    leader = factories.leader(first_name="Ada", last_name="Lovelace")
    concern = due_concern(leader=leader)
    deadline = days_after(DAY_ONE, 14)

    assert concern_services.deadlines_enforce(today=deadline) == 0
    assert concern_services.deadlines_enforce(today=days_after(deadline, 1)) == 1
    assert concern_services.deadlines_enforce(today=days_after(deadline, 2)) == 0

    concern = refreshed(concern)
    assert concern.deadline_missed_on == days_after(deadline, 1)
    assert concern.status == Status.RESPONSE_DUE
    assert ledger_payloads("concern.deadline_missed") == [
        {
            "concern": str(concern.pk),
            "due_on": deadline.isoformat(),
            "recorded_on": days_after(deadline, 1).isoformat(),
            "leader": "Ada Lovelace",
        }
    ]
    notes = list(concern.events.values_list("note", flat=True))
    assert notes.count("The response deadline of 17 Mar 2031 was missed.") == 1


def test_an_answered_concern_never_misses_its_deadline(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    leader = factories.leader()
    concern = due_concern(leader=leader)
    publish(concern, leader)

    assert concern_services.deadlines_enforce(today=days_after(DAY_ONE, 100)) == 0
    assert ledger_payloads("concern.deadline_missed") == []


def test_an_overdue_concern_says_by_how_many_days_on_its_page_and_its_card(client, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(days=14)
    concern = due_concern(title="Face matching for immigration raids")
    travel_to(monkeypatch, days_after(DAY_ONE, 17))
    client.force_login(factories.person())

    detail = page_text(client.get(concern.get_absolute_url()))
    listing = page_text(client.get(reverse("concerns:list")))

    assert "Overdue by 3 days" in detail
    assert "Overdue by 3 days" in listing


def test_a_concern_one_day_late_is_overdue_by_one_day(client, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(days=14)
    concern = due_concern()
    travel_to(monkeypatch, days_after(DAY_ONE, 15))
    client.force_login(factories.person())

    assert "Overdue by 1 day." in page_text(client.get(concern.get_absolute_url()))


def test_the_overdue_page_lists_the_longest_overdue_first(client, monkeypatch):
    rules(days=10)
    leader = factories.leader(first_name="Ada", last_name="Lovelace")
    travel_to(monkeypatch, DAY_ONE)
    due_concern(title="Oldest duty", leader=leader)
    answered = due_concern(title="Answered duty", leader=leader)
    travel_to(monkeypatch, days_after(DAY_ONE, 4))
    due_concern(title="Newer duty")
    travel_to(monkeypatch, days_after(DAY_ONE, 12))
    publish(answered, leader)
    not_yet = due_concern(title="Not yet late")
    travel_to(monkeypatch, days_after(DAY_ONE, 16))
    client.force_login(factories.person())

    text = page_text(client.get(reverse("responses:overdue")))

    rows = re.findall(r"<tr><td><a href=\"[^\"]+\">([^<]+)</a></td>\s*<td[^>]*>(.*?)</td>", text)
    assert [(title, re.sub("<[^>]+>", "", cell)) for title, cell in rows] == [
        ("Oldest duty", "6 days overdue"),
        ("Newer duty", "2 days overdue"),
    ]
    assert "Ada Lovelace" in text and "not assigned" in text
    assert answered.title not in text and not_yet.title not in text


def test_the_hourly_deadline_task_records_a_missed_deadline_once(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(days=14)
    concern = due_concern()
    travel_to(monkeypatch, days_after(DAY_ONE, 15))

    assert enforce_response_deadlines() == 1
    assert enforce_response_deadlines() == 0

    assert refreshed(concern).deadline_missed_on == days_after(DAY_ONE, 15)
    assert len(ledger_payloads("concern.deadline_missed")) == 1


def test_the_deadline_and_commitment_tasks_are_scheduled_every_hour(settings):
    schedule = {
        entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }

    for task in (enforce_response_deadlines, mark_missed_commitments):
        assert task.name in schedule
        assert schedule[task.name].hour == set(range(24))
