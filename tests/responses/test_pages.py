"""The pages around responses: who sees which buttons, where links lead, and a concern
page that costs the same number of queries however long its record grows."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger.services import ledger_append
from responses import services
from responses.models import CommitmentStatus, RatingValue
from tests import factories
from tests.responses import (
    DAY_ONE,
    days_after,
    due_concern,
    page_text,
    publish,
    travel_to,
    visible_text,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def leader():
    return factories.leader(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def concern(leader):
    return due_concern(leader=leader, title="Face matching sold to police")


# Who sees what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["responses:overdue", "responses:dashboard", "ledger:ledger"],
)
def test_the_accountability_pages_need_a_signed_in_person(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))


def test_writing_a_response_needs_a_signed_in_leader(client, concern):
    response = client.get(reverse("responses:edit", args=[concern.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))


def test_a_leader_is_offered_to_write_the_response_and_then_a_new_version(client, concern, leader):
    client.force_login(leader)
    assert "Write the response" in visible_text(client.get(concern.get_absolute_url()))
    edit = visible_text(client.get(reverse("responses:edit", args=[concern.pk])))
    assert "This will be version 1; no reason is needed." in edit
    assert "Publish version 1" in edit

    publish(concern, leader, summary="We will end the contracts.")

    assert "Write a new version" in visible_text(client.get(concern.get_absolute_url()))
    edit = visible_text(client.get(reverse("responses:edit", args=[concern.pk])))
    assert "Publish version 2" in edit
    assert "Published version 1" in edit
    assert "We will end the contracts." in edit


def test_an_employee_is_offered_neither_writing_nor_commitments(client, concern, leader):
    publish(concern, leader)
    client.force_login(factories.person())

    text = visible_text(client.get(concern.get_absolute_url()))

    assert "Write a new version" not in text
    assert "Add a commitment" not in text
    assert "Did this answer the concern?" in text


def test_only_the_owner_and_leaders_see_the_update_form_of_an_open_commitment(
    client, concern, leader
):
    publish(concern, leader)
    owner = factories.person()
    commitment = services.commitment_add(
        concern=concern,
        leader=leader,
        description="End the contracts",
        owner=owner,
        due_on=days_after(DAY_ONE, 400),
    )
    form = reverse("responses:commitment-update", args=[commitment.pk])

    for person, sees in [(owner, True), (factories.leader(), True), (factories.person(), False)]:
        client.force_login(person)
        assert (form in page_text(client.get(concern.get_absolute_url()))) is sees

    services.commitment_update(
        commitment=commitment, author=owner, to_status=CommitmentStatus.DONE, note="Done."
    )
    client.force_login(owner)
    assert form not in page_text(client.get(concern.get_absolute_url()))


def test_response_actions_on_a_concern_that_is_not_public_are_not_found(client, leader):
    hidden = factories.submission().concern
    client.force_login(leader)

    for name in ("responses:commitment-add", "responses:rate"):
        assert client.post(reverse(name, args=[hidden.pk]), {}).status_code == 404


def test_the_overdue_page_and_the_dashboard_say_when_there_is_nothing_to_show(client):
    client.force_login(factories.person())

    assert "No response is overdue." in visible_text(client.get(reverse("responses:overdue")))
    assert "No responses are due yet." in visible_text(client.get(reverse("responses:dashboard")))


# Links -------------------------------------------------------------------------------


def test_the_ledger_link_of_a_response_leads_to_a_page_showing_its_entry(client, concern, leader):
    version = publish(concern, leader)
    for n in range(60):  # the ledger lists the newest 50 entries on its first page
        ledger_append(kind="test.entry", payload={"n": n})
    client.force_login(factories.person())
    text = page_text(client.get(concern.get_absolute_url()))
    link = re.search(rf'href="([^"#]*)#entry-{version.ledger_sequence}"', text).group(1)

    ledger_page = page_text(client.get(link))

    assert f'id="entry-{version.ledger_sequence}"' in ledger_page


# A fixed number of queries -----------------------------------------------------------


def long_record(concern, leader, *, versions: int, commitments: int, ratings: int) -> None:
    for number in range(1, versions + 1):
        publish(
            concern,
            leader,
            summary=f"Answer number {number}.",
            details=f"Line one.\nLine {number}.",
            reason="" if number == 1 else f"Change {number}.",
        )
    for n in range(commitments):
        commitment = services.commitment_add(
            concern=concern,
            leader=leader,
            description=f"Commitment {n}",
            owner=factories.person(),
            due_on=days_after(DAY_ONE, 10 + n),
        )
        services.commitment_update(
            commitment=commitment, author=leader, to_status=CommitmentStatus.IN_PROGRESS
        )
    for n in range(ratings):
        value = RatingValue.NOT_ANSWERED if n % 3 == 0 else RatingValue.ANSWERED
        services.rating_cast(concern=concern, rater=factories.person(), value=value)


@pytest.mark.parametrize("viewer", ["employee", "leader", "moderator"])
def test_a_concern_page_costs_the_same_queries_however_long_its_record(
    client, leader, monkeypatch, viewer
):
    travel_to(monkeypatch, DAY_ONE)
    short = due_concern(leader=leader)
    long = due_concern(leader=leader)
    long_record(short, leader, versions=1, commitments=1, ratings=0)
    long_record(long, leader, versions=5, commitments=10, ratings=20)
    services.commitments_mark_missed(today=days_after(DAY_ONE, 15))
    person = {"employee": factories.person, "leader": factories.leader}.get(
        viewer, factories.moderator
    )()
    client.force_login(person)

    def queries(concern) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(concern.get_absolute_url()).status_code == 200
        return len(captured)

    queries(short)  # warm up what is loaded once per process
    assert queries(long) == queries(short)
