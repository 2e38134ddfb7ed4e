"""Commitments inside a response: an owner, a due date and status updates that are
appended, never edited; late ones are marked missed, visibly and on the ledger."""

import pytest
from django.urls import reverse

from concerns.errors import IllegalTransition, InvalidInput, NotAllowed
from responses import services
from responses.models import Commitment, CommitmentStatus, CommitmentUpdate
from responses.tasks import mark_missed_commitments
from tests import factories
from tests.responses import (
    DAY_ONE,
    days_after,
    due_concern,
    ledger_payloads,
    publish,
    travel_to,
    visible_text,
)

pytestmark = pytest.mark.django_db

PLANNED, IN_PROGRESS, DONE, MISSED, DROPPED = (
    CommitmentStatus.PLANNED,
    CommitmentStatus.IN_PROGRESS,
    CommitmentStatus.DONE,
    CommitmentStatus.MISSED,
    CommitmentStatus.DROPPED,
)


@pytest.fixture
def leader():
    return factories.leader(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def owner():
    return factories.person(first_name="Omar", last_name="Owner")


@pytest.fixture
def answered(leader, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    concern = due_concern(leader=leader)
    publish(concern, leader)
    return concern


def commit(concern, leader, owner, *, due_in: int = 30, description="End the contracts"):
    return services.commitment_add(
        concern=concern,
        leader=leader,
        description=description,
        owner=owner,
        due_on=days_after(DAY_ONE, due_in),
    )


def history(commitment) -> list[tuple[str, str, str | None, str]]:
    return [
        (u.from_status, u.to_status, u.author.display_name if u.author else None, u.note)
        for u in commitment.updates.order_by("created_at", "pk")
    ]


def move(commitment, author, to_status, note="") -> Commitment:
    services.commitment_update(commitment=commitment, author=author, to_status=to_status, note=note)
    return Commitment.objects.get(pk=commitment.pk)


def reach(commitment, leader, status) -> Commitment:
    """Brings a commitment to `status` along legal steps."""
    if status == IN_PROGRESS:
        return move(commitment, leader, IN_PROGRESS, "Started.")
    if status == DONE:
        return move(commitment, leader, DONE, "Done.")
    if status == DROPPED:
        return move(commitment, leader, DROPPED, "No longer possible.")
    if status == MISSED:
        services.commitments_mark_missed(today=days_after(commitment.due_on, 1))
        return Commitment.objects.get(pk=commitment.pk)
    return commitment


# Adding ------------------------------------------------------------------------------


def test_a_commitment_is_added_with_its_first_update_on_the_ledger(
    client, answered, leader, owner, monkeypatch
):
    moment = travel_to(monkeypatch, days_after(DAY_ONE, 1), hour=10)

    commitment = commit(answered, leader, owner, due_in=30)

    assert commitment.status == PLANNED
    assert history(commitment) == [("", PLANNED, "Ada Lovelace", "")]
    assert commitment.updates.get().created_at == moment
    payload = ledger_payloads("commitment.status")[-1]
    assert payload == {
        "commitment": commitment.pk,
        "concern": str(answered.pk),
        "description": "End the contracts",
        "owner": "Omar Owner",
        "due_on": days_after(DAY_ONE, 30).isoformat(),
        "from": None,
        "to": "planned",
        "note": "",
        "by": "Ada Lovelace",
        "at": moment.isoformat(),
    }
    assert commitment.updates.get().ledger_sequence == max(
        u.ledger_sequence for u in CommitmentUpdate.objects.all()
    )
    client.force_login(factories.person())
    text = visible_text(client.get(answered.get_absolute_url()))
    assert "Planned End the contracts" in text
    assert "Owner Omar Owner · due 2 Apr 2031" in text
    assert "4 Mar 2031 Planned by Ada Lovelace" in text


def test_a_leader_adds_a_commitment_from_the_concern_page(client, answered, leader, owner):
    client.force_login(leader)

    response = client.post(
        reverse("responses:commitment-add", args=[answered.pk]),
        {"description": "Publish the contract list", "owner": owner.pk, "due_on": "2031-04-01"},
        follow=True,
    )

    assert "Commitment added and recorded on the ledger." in visible_text(response)
    assert Commitment.objects.get().description == "Publish the contract list"


def test_commitments_can_only_be_added_after_the_response_is_published(client, leader, owner):
    concern = due_concern(leader=leader)

    with pytest.raises(IllegalTransition, match="Publish the response before adding"):
        commit(concern, leader, owner)

    client.force_login(leader)
    response = client.post(
        reverse("responses:commitment-add", args=[concern.pk]),
        {"description": "Too early", "owner": owner.pk, "due_on": "2099-01-01"},
        follow=True,
    )
    assert "Publish the response before adding commitments to it." in visible_text(response)
    assert not Commitment.objects.exists()


def test_only_a_leader_can_add_a_commitment(client, answered, owner):
    with pytest.raises(NotAllowed):
        commit(answered, owner, owner)

    client.force_login(owner)
    response = client.post(
        reverse("responses:commitment-add", args=[answered.pk]),
        {"description": "Mine", "owner": owner.pk, "due_on": "2099-01-01"},
        follow=True,
    )
    assert "Only leaders can write and publish responses." in visible_text(response)
    assert not Commitment.objects.exists()


def test_a_new_commitment_cannot_be_due_in_the_past(client, answered, leader, owner):
    with pytest.raises(InvalidInput, match="cannot be due in the past"):
        commit(answered, leader, owner, due_in=-1)
    commit(answered, leader, owner, due_in=0)  # today is still possible

    client.force_login(leader)
    response = client.post(
        reverse("responses:commitment-add", args=[answered.pk]),
        {"description": "Late", "owner": owner.pk, "due_on": "2031-03-02"},
        follow=True,
    )
    assert "A new commitment cannot be due in the past." in visible_text(response)
    assert Commitment.objects.count() == 1


def test_a_deactivated_person_cannot_own_a_new_commitment(answered, leader):
    gone = factories.person(first_name="Gone", last_name="Away", is_active=False)

    with pytest.raises(InvalidInput, match="Gone Away is no longer active"):
        commit(answered, leader, gone)


# Updating ----------------------------------------------------------------------------


def test_the_owner_records_progress_that_is_appended_with_author_and_time(
    client, answered, leader, owner, monkeypatch
):
    commitment = commit(answered, leader, owner)
    moment = travel_to(monkeypatch, days_after(DAY_ONE, 5))
    client.force_login(owner)

    client.post(
        reverse("responses:commitment-update", args=[commitment.pk]),
        {"status": IN_PROGRESS, "note": "Legal has the contracts."},
    )

    commitment.refresh_from_db()
    assert commitment.status == IN_PROGRESS
    assert history(commitment) == [
        ("", PLANNED, "Ada Lovelace", ""),
        (PLANNED, IN_PROGRESS, "Omar Owner", "Legal has the contracts."),
    ]
    assert commitment.updates.order_by("pk").last().created_at == moment
    payload = ledger_payloads("commitment.status")[-1]
    assert (payload["from"], payload["to"], payload["by"], payload["at"]) == (
        "planned",
        "in_progress",
        "Omar Owner",
        moment.isoformat(),
    )
    text = visible_text(client.get(answered.get_absolute_url()))
    assert "8 Mar 2031 In progress by Omar Owner — Legal has the contracts." in text


def test_a_progress_note_without_a_change_of_status_is_appended(answered, leader, owner):
    commitment = commit(answered, leader, owner)

    move(commitment, owner, PLANNED, "Waiting for the board.")

    assert history(commitment)[-1] == (PLANNED, PLANNED, "Omar Owner", "Waiting for the board.")
    with pytest.raises(InvalidInput, match="Write what has happened"):
        move(commitment, owner, PLANNED, "")


def test_someone_else_cannot_update_a_commitment(client, answered, leader, owner):
    commitment = commit(answered, leader, owner)
    stranger = factories.person()

    with pytest.raises(NotAllowed, match="owner or a leader"):
        move(commitment, stranger, DONE, "Not mine.")

    client.force_login(stranger)
    response = client.post(
        reverse("responses:commitment-update", args=[commitment.pk]),
        {"status": DONE, "note": "Not mine."},
        follow=True,
    )
    assert "Only the commitment's owner or a leader can update it." in visible_text(response)
    assert Commitment.objects.get().status == PLANNED
    assert commitment.updates.count() == 1


def test_another_leader_can_update_a_commitment(answered, leader, owner):
    commitment = commit(answered, leader, owner)

    assert move(commitment, factories.leader(), DONE, "Delivered.").status == DONE


def test_dropping_a_commitment_needs_a_reason(client, answered, leader, owner):
    commitment = commit(answered, leader, owner)

    with pytest.raises(InvalidInput, match="Dropping a commitment needs a reason."):
        move(commitment, owner, DROPPED, "  ")

    client.force_login(owner)
    client.post(reverse("responses:commitment-update", args=[commitment.pk]), {"status": DROPPED})
    assert Commitment.objects.get().status == PLANNED
    dropped = move(commitment, owner, DROPPED, "The contracts were sold on.")
    assert dropped.status == DROPPED
    assert ledger_payloads("commitment.status")[-1]["note"] == "The contracts were sold on."


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (PLANNED, IN_PROGRESS),
        (PLANNED, DONE),
        (PLANNED, DROPPED),
        (IN_PROGRESS, DONE),
        (IN_PROGRESS, DROPPED),
        (MISSED, DONE),
        (MISSED, DROPPED),
    ],
)
def test_legal_status_changes_are_recorded(answered, leader, owner, start, to):
    commitment = reach(commit(answered, leader, owner), leader, start)

    assert move(commitment, owner, to, "Because.").status == to
    assert history(commitment)[-1][:2] == (start, to)


@pytest.mark.parametrize(
    ("start", "to", "message"),
    [
        (PLANNED, MISSED, "A commitment that is planned cannot become missed."),
        (IN_PROGRESS, PLANNED, "A commitment that is in progress cannot become planned."),
        (DONE, IN_PROGRESS, "A commitment that is done cannot become in progress."),
        (DONE, DROPPED, "A commitment that is done cannot become dropped."),
        (DROPPED, DONE, "A commitment that is dropped cannot become done."),
        (MISSED, IN_PROGRESS, "A commitment that is missed cannot become in progress."),
        (PLANNED, "finished", "Choose a valid status."),
    ],
)
def test_illegal_status_changes_are_refused(answered, leader, owner, start, to, message):
    commitment = reach(commit(answered, leader, owner), leader, start)
    updates = commitment.updates.count()

    with pytest.raises(IllegalTransition) as refusal:
        move(commitment, owner, to, "Because.")

    assert str(refusal.value) == message
    assert Commitment.objects.get().status == start
    assert commitment.updates.count() == updates


# Missed ------------------------------------------------------------------------------


def test_late_open_commitments_are_marked_missed_once_visibly_and_on_the_ledger(
    client, answered, leader, owner
):
    late = commit(answered, leader, owner, due_in=5, description="Publish the contracts")
    started = move(
        commit(answered, leader, owner, due_in=5, description="Brief staff"),
        owner,
        IN_PROGRESS,
        "Slides drafted.",
    )
    kept = move(
        commit(answered, leader, owner, due_in=5, description="Tell the board"),
        owner,
        DONE,
        "Done.",
    )
    later = commit(answered, leader, owner, due_in=9, description="End the contracts")

    assert services.commitments_mark_missed(today=days_after(DAY_ONE, 5)) == 0
    assert services.commitments_mark_missed(today=days_after(DAY_ONE, 6)) == 2
    assert services.commitments_mark_missed(today=days_after(DAY_ONE, 7)) == 0

    statuses = dict(Commitment.objects.values_list("pk", "status"))
    assert statuses == {late.pk: MISSED, started.pk: MISSED, kept.pk: DONE, later.pk: PLANNED}
    assert history(late)[-1] == (PLANNED, MISSED, None, "Not done by 8 Mar 2031.")
    assert history(started)[-1] == (IN_PROGRESS, MISSED, None, "Not done by 8 Mar 2031.")
    missed = [p for p in ledger_payloads("commitment.status") if p["to"] == "missed"]
    assert sorted((p["description"], p["from"], p["by"]) for p in missed) == [
        ("Brief staff", "in_progress", None),
        ("Publish the contracts", "planned", None),
    ]
    client.force_login(factories.person())
    text = visible_text(client.get(answered.get_absolute_url()))
    assert "Missed Publish the contracts" in text
    assert "Missed (recorded automatically) — Not done by 8 Mar 2031." in text


def test_a_commitment_due_today_is_not_yet_missed(answered, leader, owner):
    commit(answered, leader, owner, due_in=0)

    assert services.commitments_mark_missed(today=DAY_ONE) == 0


def test_a_missed_commitment_delivered_late_keeps_the_miss_on_record(answered, leader, owner):
    commitment = reach(commit(answered, leader, owner, due_in=5), leader, MISSED)

    move(commitment, owner, DONE, "Delivered a week late.")

    assert [(h[0], h[1]) for h in history(commitment)] == [
        ("", PLANNED),
        (PLANNED, MISSED),
        (MISSED, DONE),
    ]


def test_an_open_commitment_past_its_date_shows_as_late_before_it_is_marked(
    client, answered, leader, owner, monkeypatch
):
    commit(answered, leader, owner, due_in=5)
    travel_to(monkeypatch, days_after(DAY_ONE, 6))
    client.force_login(factories.person())

    assert "Planned · late End the contracts" in visible_text(
        client.get(answered.get_absolute_url())
    )


def test_the_hourly_commitment_task_marks_late_commitments_missed_once(
    answered, leader, owner, monkeypatch
):
    commitment = commit(answered, leader, owner, due_in=5)
    travel_to(monkeypatch, days_after(DAY_ONE, 6))

    assert mark_missed_commitments() == 1
    assert mark_missed_commitments() == 0

    assert Commitment.objects.get(pk=commitment.pk).status == MISSED
