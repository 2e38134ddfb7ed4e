"""Written responses through the API: leaders draft and publish, published versions
only ever grow, commitments are updated by their owners and leaders, staff rate."""

import datetime

import pytest
from django.utils import timezone

from concerns import services as concern_services
from concerns.models import Concern, Status
from responses.models import Commitment, CommitmentStatus, Rating, ResponseVersion
from tests import factories
from tests.api.conftest import Api, assert_problem
from tests.responses import publish

DRAFT = {
    "position": "will_act",
    "summary": "We will fix the heating.",
    "details": "An engineer comes on **Monday**.",
}


def _due(people) -> Concern:
    concern = factories.open_concern(moderated_by=people.moderator)
    concern_services.concern_require_response(
        concern=concern, actor=people.moderator, note="Please answer."
    )
    return Concern.objects.get(pk=concern.pk)


def _published(people, concern=None) -> Concern:
    """A concern with version 1 published through the services, so that tests of
    other endpoints do not depend on the draft endpoint."""
    concern = concern or _due(people)
    publish(concern, people.leader, **{k: v for k, v in DRAFT.items() if k != "position"})
    return concern


def _tomorrow() -> str:
    return (timezone.localdate() + datetime.timedelta(days=1)).isoformat()


def test_a_leader_saves_a_draft_that_nobody_sees_until_it_is_published(api, people):
    concern = _due(people)
    leader = api("leader")

    saved = leader.post(f"concerns/{concern.pk}/response/draft/", DRAFT)

    assert saved.status_code == 200
    assert saved.json()["versions"] == []
    for role in ("employee", "moderator", "leader", "admin"):
        shown = api(role).get(f"concerns/{concern.pk}/response/")
        assert shown.status_code == 200 and shown.json()["versions"] == []
        assert "heating" not in shown.content.decode()
    published = leader.post(f"concerns/{concern.pk}/response/draft/", {**DRAFT, "publish": True})
    assert published.status_code == 201
    [version] = published.json()["versions"]
    assert version["number"] == 1 and version["summary"] == DRAFT["summary"]
    assert version["signed_as"] == people.leader.display_name
    assert version["details_html"] == "<p>An engineer comes on <strong>Monday</strong>.</p>"
    assert version["content_matches"] is True and version["ledger_sequence"] > 0
    assert Concern.objects.get(pk=concern.pk).status == Status.ANSWERED


def test_a_new_draft_stays_hidden_behind_the_published_version(api, people):
    concern = _published(people)

    api("leader").post(
        f"concerns/{concern.pk}/response/draft/", {**DRAFT, "summary": "Secret second thoughts"}
    )

    shown = api("employee").get(f"concerns/{concern.pk}/response/")
    assert [v["summary"] for v in shown.json()["versions"]] == [DRAFT["summary"]]
    assert "Secret second thoughts" not in shown.content.decode()


def test_a_changed_response_needs_a_reason_and_a_change(api, people):
    concern = _published(people)
    leader = api("leader")
    path = f"concerns/{concern.pk}/response/draft/"
    changed = {**DRAFT, "summary": "We will replace the boiler.", "publish": True}

    same = leader.post(path, {**DRAFT, "publish": True, "change_reason": "Again"})
    no_reason = leader.post(path, changed)
    too_long = leader.post(path, {**changed, "change_reason": "x" * 2001})
    with_reason = leader.post(path, {**changed, "change_reason": "The engineer said so."})

    assert "same as the published" in assert_problem(same, 400)["detail"]
    assert "Say why" in assert_problem(no_reason, 400)["detail"]
    assert_problem(too_long, 400, fields=("change_reason",))
    assert with_reason.status_code == 201
    versions = with_reason.json()["versions"]
    assert [v["number"] for v in versions] == [1, 2]
    assert versions[1]["change_reason"] == "The engineer said so."
    assert ResponseVersion.objects.filter(response__concern=concern).count() == 2


@pytest.mark.parametrize("role", ["employee", "moderator", "admin"])
def test_only_leaders_draft_and_publish(api, people, role):
    concern = _due(people)

    answer = api(role).post(f"concerns/{concern.pk}/response/draft/", {**DRAFT, "publish": True})

    assert_problem(answer, 403)
    assert not ResponseVersion.objects.exists()
    assert_problem(api("signed_out").post(f"concerns/{concern.pk}/response/draft/", DRAFT), 401)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**DRAFT, "position": "maybe"}, "position"),
        ({**DRAFT, "summary": ""}, "summary"),
        ({**DRAFT, "summary": "x" * 1000}, "summary"),
        ({k: v for k, v in DRAFT.items() if k != "details"}, "details"),
        ({**DRAFT, "publish": "sometimes"}, "publish"),
    ],
)
def test_a_draft_is_checked_field_by_field(api, people, data, field):
    concern = _due(people)

    answer = api("leader").post(f"concerns/{concern.pk}/response/draft/", data)

    assert_problem(answer, 400, fields=(field,))


def test_responses_exist_only_for_public_concerns_that_can_be_answered(api, people):
    submitted = factories.submission().concern
    closed = _published(people)
    # No service closes a concern yet; the state is what matters here.
    Concern.objects.filter(pk=closed.pk).update(status=Status.CLOSED)

    hidden = api("leader").post(f"concerns/{submitted.pk}/response/draft/", DRAFT)
    too_late = api("leader").post(f"concerns/{closed.pk}/response/draft/", DRAFT)

    assert_problem(hidden, 404)
    assert_problem(api("employee").get(f"concerns/{submitted.pk}/response/"), 404)
    assert_problem(too_late, 409)


# Commitments ---------------------------------------------------------------------


def test_a_leader_adds_commitments_to_a_published_response(api, people):
    concern = _due(people)
    leader = api("leader")
    path = f"concerns/{concern.pk}/commitments/"
    commitment = {
        "description": "Fix the boiler",
        "owner": people.employee.pk,
        "due_on": _tomorrow(),
    }

    before = leader.post(path, commitment)
    _published(people, concern)
    added = leader.post(path, commitment)

    assert "Publish the response" in assert_problem(before, 409)["detail"]
    assert added.status_code == 201
    body = added.json()
    assert body["status"] == CommitmentStatus.PLANNED and body["late"] is False
    assert body["owner"] == people.employee.display_name
    assert [u["to_status"] for u in body["updates"]] == [CommitmentStatus.PLANNED]
    shown = api("employee").get(f"concerns/{concern.pk}/response/").json()
    assert [c["description"] for c in shown["commitments"]] == ["Fix the boiler"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"due_on": "2000-01-01"}, None),
        ({"due_on": "tomorrow"}, "due_on"),
        ({"owner": 999_999}, "owner"),
        ({"description": ""}, "description"),
        ({"description": "x" * 501}, "description"),
    ],
)
def test_a_commitment_is_checked(api, people, change, field):
    concern = _published(people)
    data = {"description": "Fix it", "owner": people.employee.pk, "due_on": _tomorrow(), **change}

    answer = api("leader").post(f"concerns/{concern.pk}/commitments/", data)

    assert_problem(answer, 400, fields=(field,) if field else ())
    assert not Commitment.objects.exists()


def test_an_inactive_person_cannot_own_a_commitment(api, people):
    concern = _published(people)
    gone = factories.person(is_active=False)

    answer = api("leader").post(
        f"concerns/{concern.pk}/commitments/",
        {"description": "Fix it", "owner": gone.pk, "due_on": _tomorrow()},
    )

    assert_problem(answer, 400, fields=("owner",))


@pytest.mark.parametrize("role", ["employee", "moderator", "admin"])
def test_only_leaders_add_commitments(api, people, role):
    concern = _published(people)

    answer = api(role).post(
        f"concerns/{concern.pk}/commitments/",
        {"description": "Fix it", "owner": people.employee.pk, "due_on": _tomorrow()},
    )

    assert_problem(answer, 403)


@pytest.fixture
def commitment(people) -> Commitment:
    concern = _published(people)
    added = Api(people.leader).post(
        f"concerns/{concern.pk}/commitments/",
        {"description": "Fix it", "owner": people.employee.pk, "due_on": _tomorrow()},
    )
    return Commitment.objects.get(pk=added.json()["id"])


def test_the_owner_and_leaders_update_a_commitment_and_nobody_else(api, people, commitment):
    path = f"commitments/{commitment.pk}/updates/"

    started = api("employee").post(path, {"status": "in_progress", "note": "Parts ordered."})
    by_moderator = api("moderator").post(path, {"status": "done"})
    by_stranger = Api(factories.person()).post(path, {"status": "done"})
    done = api("leader").post(path, {"status": "done"})

    assert started.status_code == 201
    assert started.json()["by"] == people.employee.display_name
    assert started.json()["from_status"] == "planned" and started.json()["note"] == "Parts ordered."
    assert_problem(by_moderator, 403)
    assert_problem(by_stranger, 403)
    assert done.status_code == 201 and done.json()["to_status"] == "done"
    commitment.refresh_from_db()
    assert commitment.status == CommitmentStatus.DONE
    assert_problem(api("leader").post(path, {"status": "in_progress"}), 409)


def test_a_commitment_update_follows_the_rules(api, commitment):
    path = f"commitments/{commitment.pk}/updates/"
    owner = api("employee")

    assert_problem(owner.post(path, {"status": "later"}), 400, fields=("status",))
    assert_problem(owner.post(path, {"status": "planned"}), 400)
    assert_problem(owner.post(path, {"status": "dropped"}), 400)
    assert_problem(owner.post(path, {"status": "done", "note": "x" * 2001}), 400, fields=("note",))
    assert_problem(owner.post("commitments/999999/updates/", {"status": "done"}), 404)
    assert owner.post(path, {"status": "planned", "note": "Still waiting."}).status_code == 201
    assert owner.post(path, {"status": "dropped", "note": "No budget."}).status_code == 201


# Ratings -------------------------------------------------------------------------


def test_staff_rate_the_latest_version_and_may_change_their_minds(api, people):
    concern = _published(people)
    path = f"concerns/{concern.pk}/rating/"

    first = api("employee").post(path, {"value": "answered"})
    api("moderator").post(path, {"value": "partly"})
    changed = api("employee").post(path, {"value": "not_answered"})

    assert first.status_code == 200 and first.json()["viewer_rating"] == "answered"
    body = changed.json()
    assert body["raters"] == 2 and body["viewer_rating"] == "not_answered"
    assert body["ratings"] == {"answered": 0, "partly": 1, "not_answered": 1}
    assert Rating.objects.count() == 2
    # A rating keeps no person: only a keyed hash next to the value.
    assert {f.name for f in Rating._meta.concrete_fields} == {
        "id",
        "version",
        "rater_hash",
        "value",
        "rated_on",
    }
    shown = api("leader").get(f"concerns/{concern.pk}/response/").json()
    assert shown["raters"] == 2 and shown["viewer_rating"] is None


def test_a_rating_needs_a_published_response_and_a_known_value(api, people):
    concern = _due(people)
    path = f"concerns/{concern.pk}/rating/"

    assert_problem(api("employee").post(path, {"value": "answered"}), 409)
    _published(people, concern)
    assert_problem(api("employee").post(path, {"value": "meh"}), 400, fields=("value",))
    assert_problem(api("employee").post(path, {}), 400, fields=("value",))
    assert_problem(api("signed_out").post(path, {"value": "answered"}), 401)
