"""The ledger, meetings and the caller's own profile, preferences and follows
through the API."""

import datetime

import pytest
from django.utils import timezone

from ledger.models import GENESIS_HASH, LedgerEntry, LedgerHead
from ledger.services import ledger_append
from meetings import services as meeting_services
from notifications.models import Follow, Preference
from tests import factories
from tests.api.conftest import Api, assert_problem

# Ledger ----------------------------------------------------------------------------


def _append(n: int) -> None:
    for i in range(n):
        ledger_append(kind="test.entry", payload={"n": i})


def test_following_next_through_the_ledger_gives_every_entry_once_in_order(api):
    _append(130)
    client = api("employee")

    first = client.get("ledger/entries/").json()
    second = client.client.get(first["next"], headers=client.headers).json()

    sequences = [e["sequence"] for e in first["results"] + second["results"]]
    assert sequences == list(range(1, 131))
    assert len(first["results"]) == 100 and second["next"] is None
    entry = first["results"][0]
    assert entry["previous_hash"] == GENESIS_HASH
    assert entry["kind"] == "test.entry" and entry["payload"] == '{"n":0}'
    assert first["results"][1]["previous_hash"] == entry["entry_hash"]


def test_the_head_is_the_last_entry(api):
    assert api("employee").get("ledger/head/").json() == {
        "sequence": 0,
        "entry_hash": GENESIS_HASH,
    }
    _append(3)

    head = api("employee").get("ledger/head/").json()

    stored = LedgerHead.objects.get()
    assert head == {"sequence": 3, "entry_hash": stored.entry_hash}
    assert LedgerEntry.objects.get(sequence=3).entry_hash == stored.entry_hash


def test_the_ledger_verifies_with_and_without_a_head_published_earlier(api):
    _append(5)
    earlier = LedgerEntry.objects.get(sequence=2)
    _append(2)
    client = api("employee")

    plain = client.post("ledger/verify/", {})
    blank = client.post("ledger/verify/", {"head": ""})
    anchored = client.post("ledger/verify/", {"head": f"2:{earlier.entry_hash.upper()}"})
    genesis = client.post("ledger/verify/", {"head": f"0:{GENESIS_HASH}"})
    forged = client.post("ledger/verify/", {"head": f"2:{'ab' * 32}"})

    assert plain.json() == {
        "ok": True,
        "checked": 7,
        "head_sequence": 7,
        "head_hash": LedgerHead.objects.get().entry_hash,
        "broken_sequence": None,
        "problem": "",
    }
    assert blank.json()["ok"] is True
    assert anchored.json()["ok"] is True
    assert genesis.json()["ok"] is True
    assert forged.status_code == 200 and forged.json()["ok"] is False
    assert forged.json()["problem"]


@pytest.mark.parametrize(
    "head",
    ["nonsense", "2", "2:abc", f"x:{'a' * 64}", f"2:{'g' * 64}", f"-1:{'a' * 64}", ":"],
)
def test_a_malformed_head_is_a_field_error(api, head):
    _append(1)

    answer = api("employee").post("ledger/verify/", {"head": head})

    body = assert_problem(answer, 400, fields=("head",))
    assert "SEQUENCE:HASH" in body["errors"]["head"][0]


def test_the_ledger_needs_a_signed_in_caller(db):
    for path in ("ledger/entries/", "ledger/head/"):
        assert_problem(Api().get(path), 401)
    assert_problem(Api().post("ledger/verify/", {}), 401)


# Meetings --------------------------------------------------------------------------


@pytest.fixture
def meeting(people):
    """A live meeting hosted by a second leader, with one approved question, one
    pending named question and one pending anonymous question."""
    host = factories.leader(first_name="Hana", last_name="Host")
    concern = factories.open_concern(title="Canteen prices", moderated_by=people.moderator)
    meeting = meeting_services.meeting_create(
        organiser=people.moderator,
        title="All hands",
        scheduled_start=timezone.now() + datetime.timedelta(hours=1),
        hosts=[host],
    )
    meeting_services.agenda_item_add(meeting=meeting, moderator=people.moderator, concern=concern)
    meeting_services.meeting_start(meeting=meeting, actor=people.moderator)
    approved, _ = meeting_services.question_ask(
        meeting=meeting, asker=people.employee, text="Approved question", anonymous=False
    )
    meeting_services.question_approve(question=approved, actor=people.moderator)
    meeting_services.question_ask(
        meeting=meeting, asker=people.employee, text="Pending named question", anonymous=False
    )
    meeting_services.question_ask(
        meeting=meeting, asker=people.employee, text="Pending anonymous question", anonymous=True
    )
    meeting.host = host
    return meeting


def test_meetings_are_listed_live_first(api, people, meeting):
    later = meeting_services.meeting_create(
        organiser=people.moderator,
        title="Next quarter",
        scheduled_start=timezone.now() + datetime.timedelta(days=90),
    )

    listed = api("employee").get("meetings/").json()

    assert [(m["id"], m["status"]) for m in listed] == [
        (meeting.pk, "live"),
        (later.pk, "planned"),
    ]
    assert listed[0]["url"] == f"/meetings/{meeting.pk}/"


def test_employees_see_the_agenda_and_approved_questions_only(api, meeting):
    state = api("employee").get(f"meetings/{meeting.pk}/").json()

    assert state["status"] == "live" and state["title"] == "All hands"
    assert [i["title"] for i in state["items"]] == ["Canteen prices"]
    assert [q["text"] for q in state["questions"]] == ["Approved question"]
    assert "Pending" not in str(state)


@pytest.mark.parametrize("driver", ["moderator", "admin", "host"])
def test_drivers_also_see_pending_questions_without_naming_anonymous_askers(
    api, people, meeting, driver
):
    client = Api(meeting.host) if driver == "host" else api(driver)

    questions = client.get(f"meetings/{meeting.pk}/").json()["questions"]

    by_text = {q["text"]: q for q in questions}
    assert set(by_text) == {
        "Approved question",
        "Pending named question",
        "Pending anonymous question",
    }
    assert by_text["Pending named question"]["by"] == people.employee.display_name
    assert by_text["Pending anonymous question"]["by"] is None
    assert by_text["Pending anonymous question"]["status"] == "pending"


def test_a_leader_who_is_not_a_host_does_not_drive(api, meeting):
    questions = api("leader").get(f"meetings/{meeting.pk}/").json()["questions"]

    assert [q["text"] for q in questions] == ["Approved question"]


def test_an_unknown_meeting_is_a_404_problem(api):
    assert_problem(api("employee").get("meetings/999999/"), 404)


# Me --------------------------------------------------------------------------------


def test_the_caller_sees_their_own_profile(api, people):
    people.employee.department = factories.department("Warehouse")
    people.employee.save()

    assert api("employee").get("me/").json() == {
        "username": people.employee.username,
        "name": "Erin Employee",
        "email": people.employee.email,
        "role": "employee",
        "department": "Warehouse",
    }
    assert api("admin").get("me/").json()["department"] is None


def test_the_caller_reads_and_changes_their_digest_preference(api, people):
    client = api("employee")

    assert client.get("me/preferences/").json() == {"digest": "weekly"}
    changed = client.put("me/preferences/", {"digest": "daily"})

    assert changed.status_code == 200 and changed.json() == {"digest": "daily"}
    assert Preference.objects.get(person=people.employee).digest == "daily"
    assert api("moderator").get("me/preferences/").json() == {"digest": "weekly"}


@pytest.mark.parametrize(
    "data", [{"digest": "hourly"}, {"digest": None}, {}, {"digest": ["daily"]}]
)
def test_a_bad_preference_is_a_field_error_and_changes_nothing(api, people, data):
    client = api("employee")
    client.put("me/preferences/", {"digest": "none"})

    assert_problem(client.put("me/preferences/", data), 400, fields=("digest",))
    assert client.get("me/preferences/").json() == {"digest": "none"}


def test_following_and_unfollowing_are_idempotent(api, people):
    concern = factories.open_concern(title="Heating", moderated_by=people.moderator)
    client = api("employee")
    path = f"me/follows/{concern.pk}/"

    first = client.put(path)
    second = client.put(path)

    assert first.status_code == 201 and second.status_code == 200
    assert first.json() == {"concern": str(concern.pk), "title": "Heating"}
    assert client.get("me/follows/").json() == [{"concern": str(concern.pk), "title": "Heating"}]
    assert api("leader").get("me/follows/").json() == []
    assert client.delete(path).status_code == 204
    assert client.delete(path).status_code == 204
    assert client.get("me/follows/").json() == []
    assert not Follow.objects.exists()


def test_only_public_concerns_can_be_followed(api, people):
    hidden = factories.submission(title="Not yet public").concern

    assert_problem(api("employee").put(f"me/follows/{hidden.pk}/"), 409)
    assert_problem(api("employee").put("me/follows/00000000-0000-0000-0000-000000000000/"), 404)
    assert "Not yet public" not in api("employee").get("me/follows/").content.decode()
