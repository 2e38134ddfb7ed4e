"""What the overdue page, the dashboard, the ledger page's published heads and a
leader's saved draft show, the API answers too, from the same selectors."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import api_token_create
from concerns import services as concern_services
from ledger.services import ledger_head_publish
from responses import services as response_services
from tests import factories
from tests.responses import due_concern, travel_to

pytestmark = pytest.mark.django_db


def _get(person, path: str):
    secret = api_token_create(person=person, name="integration").secret
    return Client().get(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_overdue_list_names_the_concern_its_leader_and_how_late_it_is(monkeypatch):
    leader = factories.leader()
    concern = due_concern(leader=leader, title="Chained fire doors")
    travel_to(monkeypatch, concern.response_due_on + datetime.timedelta(days=3))

    answer = _get(factories.person(), "overdue/")

    assert answer.status_code == 200
    [row] = answer.json()
    assert row["title"] == "Chained fire doors"
    assert row["days_overdue"] == 3
    assert row["accountable_leader"] == leader.display_name
    page = Client()
    page.force_login(factories.person())
    assert "Chained fire doors" in page.get(reverse("responses:overdue")).content.decode()


def test_the_dashboard_gives_each_leaders_figures_and_suppressed_breakdowns():
    leader = factories.leader()
    due_concern(leader=leader)

    answer = _get(factories.person(), "dashboard/")

    assert answer.status_code == 200
    body = answer.json()
    [figures] = [row for row in body["leaders"] if row["leader"] == leader.display_name]
    assert figures["assigned"] == 1 and figures["overdue_now"] == 0
    assert set(body["departments"]) == {"shown", "hidden", "min_group_size"}
    assert body["departments"]["min_group_size"] == 5


def test_published_heads_are_listed_newest_first():
    concern_services.concern_submit(author=factories.person(), anonymous=False, title="A", body="B")
    ledger_head_publish()

    answer = _get(factories.person(), "ledger/heads/")

    assert answer.status_code == 200
    [head] = answer.json()
    assert set(head) == {"sequence", "entry_hash", "published_at"} and len(head["entry_hash"]) == 64


def test_a_leader_reads_the_draft_saved_for_a_concern_and_others_may_not():
    leader = factories.leader()
    concern = due_concern(leader=leader)
    response_services.response_draft_save(
        concern=concern, leader=leader, position="partly", summary="Half.", details="Some."
    )

    mine = _get(leader, f"concerns/{concern.pk}/response/draft/saved/")
    theirs = _get(factories.person(), f"concerns/{concern.pk}/response/draft/saved/")

    assert mine.status_code == 200
    assert mine.json()["summary"] == "Half." and mine.json()["position"] == "partly"
    assert theirs.status_code == 403
