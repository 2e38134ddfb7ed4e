"""What a person does with their own concerns through the API, as on the site: a
named author withdraws one and lists the ones they raised by name; anyone signed in
asks for similar concerns while writing; and, where the organisation opened it, the
anonymous form works without an account."""

import pytest

from accounts.models import Organisation
from concerns import services
from concerns.anonymity import receipt_hash
from concerns.models import Concern, ConcernEvent, Status
from tests import factories
from tests.api.conftest import Api, assert_problem

PHRASE = "a lantern for every harbour"


# Withdrawing a named concern ---------------------------------------------------------


def test_a_named_author_withdraws_their_own_concern(api, people):
    concern = factories.open_concern(author=people.employee, title="Lockers")

    answer = api("employee").post(f"concerns/{concern.pk}/withdraw/")

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "withdrawn" and answer.json()["title"] == "Lockers"
    concern.refresh_from_db()
    assert concern.status == Status.WITHDRAWN
    event = ConcernEvent.objects.get(concern=concern, to_status=Status.WITHDRAWN)
    assert event.actor == people.employee and event.from_status == Status.OPEN


def test_a_submitted_concern_can_be_withdrawn_before_moderation(api, people):
    concern = factories.submission(author=people.employee).concern

    answer = api("employee").post(f"concerns/{concern.pk}/withdraw/")

    assert answer.status_code == 200
    assert Concern.objects.get(pk=concern.pk).status == Status.WITHDRAWN


@pytest.mark.parametrize("role", ["moderator", "leader", "admin"])
def test_nobody_else_withdraws_a_named_concern(api, people, role):
    concern = factories.open_concern(author=people.employee)

    answer = api(role).post(f"concerns/{concern.pk}/withdraw/")

    body = assert_problem(answer, 403)
    assert body["detail"] == "Only the person who raised a concern can withdraw it."
    assert Concern.objects.get(pk=concern.pk).status == Status.OPEN


def test_an_anonymous_concern_is_withdrawn_only_with_its_receipt(api, people):
    submission = factories.submission(author=people.employee, anonymous=True)

    by_account = api("employee").post(f"concerns/{submission.concern.pk}/withdraw/")
    by_receipt = Api().post("receipts/withdraw/", {"receipt": submission.receipt})

    assert_problem(by_account, 403)
    assert by_receipt.status_code == 200
    assert Concern.objects.get(pk=submission.concern.pk).status == Status.WITHDRAWN


def test_withdrawing_twice_is_a_conflict_and_signed_out_is_401(api, people):
    concern = factories.open_concern(author=people.employee)
    api("employee").post(f"concerns/{concern.pk}/withdraw/")

    again = api("employee").post(f"concerns/{concern.pk}/withdraw/")
    signed_out = api("signed_out").post(f"concerns/{concern.pk}/withdraw/")
    unknown = api("employee").post("concerns/00000000-0000-0000-0000-000000000000/withdraw/")

    assert_problem(again, 409)
    assert_problem(signed_out, 401)
    assert_problem(unknown, 404)


# The caller's own concerns -------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 8])
def test_my_concerns_lists_named_ones_only_in_constant_queries(
    api, people, count, django_assert_num_queries
):
    mine = [factories.submission(author=people.employee).concern for _ in range(count)]
    services.concern_reject(concern=mine[0], moderator=people.moderator, reason="Duplicate.")
    factories.submission(author=people.employee, anonymous=True)
    factories.submission(author=people.leader)
    client = api("employee", session=True)
    client.get("me/concerns/")

    with django_assert_num_queries(3):
        answer = client.get("me/concerns/")

    listed = answer.json()
    assert sorted(c["id"] for c in listed) == sorted(str(c.pk) for c in mine)
    rejected = next(c for c in listed if c["id"] == str(mine[0].pk))
    assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "Duplicate."
    assert rejected["url"] == f"/concerns/{mine[0].pk}/"


# Similar concerns ------------------------------------------------------------------------


def test_similar_concerns_are_open_ones_like_the_text(api, people):
    lockers = factories.open_concern(title="Not enough lockers in the basement")
    factories.open_concern(title="Canteen prices went up")
    factories.submission(title="Lockers are broken")  # not public yet

    found = api("employee").post("concerns/similar/", {"text": "lockers basement"})
    too_short = api("employee").post("concerns/similar/", {"text": "abc"})
    missing = api("employee").post("concerns/similar/", {})

    assert found.status_code == 200
    assert [c["id"] for c in found.json()] == [str(lockers.pk)]
    assert found.json()[0]["url"] == f"/concerns/{lockers.pk}/"
    assert too_short.json() == []
    assert_problem(missing, 400, fields=("text",))


# The anonymous form without an account ---------------------------------------------------


@pytest.fixture
def open_form(db):
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(PHRASE)
    organisation.save()
    return organisation


def test_the_anonymous_form_is_not_found_while_the_organisation_keeps_it_closed(api):
    answer = api("signed_out").post(
        "concerns/anonymous/", {"access_phrase": PHRASE, "title": "T", "body": "B"}
    )

    assert_problem(answer, 404)
    assert not Concern.objects.exists()


def test_the_anonymous_form_gives_the_receipt_once_and_keeps_no_person(api, people, open_form):
    # A token sent along is not even read: nothing can tie the concern to its owner.
    answer = api("employee").post(
        "concerns/anonymous/",
        {"access_phrase": PHRASE, "title": "Quiet overtime", "body": "It is expected."},
    )

    assert answer.status_code == 201, answer.content
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    concern = Concern.objects.get(pk=body["concern"]["id"])
    assert concern.is_anonymous and concern.author is None
    assert concern.receipt_hash == receipt_hash(body["receipt"])
    assert body["concern"]["anonymous"] is True and body["concern"]["status"] == "submitted"
    assert people.employee.display_name not in answer.content.decode()
    status = Api().post("receipts/status/", {"receipt": body["receipt"]})
    assert status.json()["id"] == str(concern.pk)


def test_the_anonymous_form_refuses_a_wrong_phrase_and_bad_fields(api, open_form):
    client = api("signed_out")

    wrong = client.post(
        "concerns/anonymous/", {"access_phrase": "guess", "title": "T", "body": "B"}
    )
    empty = client.post("concerns/anonymous/", {"access_phrase": PHRASE, "title": ""})

    assert_problem(wrong, 400, fields=("access_phrase",))
    assert_problem(empty, 400, fields=("title", "body"))
    assert not Concern.objects.exists()


def test_the_anonymous_form_keeps_the_sites_limit_per_client_group(api, open_form, settings):
    settings.PUBLIC_SUBMISSIONS_PER_HOUR = 2
    client = api("signed_out")
    sent = {"access_phrase": PHRASE, "title": "Again", "body": "And again."}

    answers = [client.post("concerns/anonymous/", sent) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert_problem(answers[2], 429)
    assert Concern.objects.count() == 2
