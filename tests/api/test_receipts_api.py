"""Receipts through the API: no sign-in, the receipt only ever in a POST body, the
same answer for every wrong receipt, and a limit on look-ups."""

import pytest

from concerns import services
from concerns.models import Concern, Message, Status
from tests import factories
from tests.api.conftest import Api, assert_problem

ACTIONS = ("status", "reply", "withdraw")


@pytest.fixture
def anonymous(people):
    """An open anonymous concern raised by the employee, and its receipt."""
    submission = factories.submission(
        author=people.employee, anonymous=True, title="Bullying in stores"
    )
    services.concern_approve(concern=submission.concern, moderator=people.moderator)
    services.publication_batch()  # anonymous concerns are published in batches
    return submission.concern, submission.receipt


def test_the_status_needs_no_sign_in_and_names_nobody(people, anonymous):
    concern, receipt = anonymous
    services.message_ask(concern=concern, author=people.moderator, body="Which store?")

    answer = Api().post("receipts/status/", {"receipt": receipt})

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    body = answer.json()
    assert body["id"] == str(concern.pk) and body["status"] == Status.OPEN
    assert body["author"] is None
    assert [m["by"] for m in body["conversation"]] == [people.moderator.display_name]
    text = answer.content.decode()
    for secret in (receipt, people.employee.username, people.employee.last_name):
        assert secret not in text


def test_a_receipt_is_accepted_however_it_is_typed(anonymous):
    concern, receipt = anonymous

    typed = receipt.replace("-", " ").lower()

    assert Api().post("receipts/status/", {"receipt": typed}).json()["id"] == str(concern.pk)


def test_the_submitter_replies_by_receipt(people, anonymous):
    concern, receipt = anonymous
    services.message_ask(concern=concern, author=people.moderator, body="Which store?")

    answer = Api().post("receipts/reply/", {"receipt": receipt, "body": "The *big* one."})

    assert answer.status_code == 200
    last = answer.json()["conversation"][-1]
    assert last == {
        "from_submitter": True,
        "by": None,
        "body_html": "<p>The <em>big</em> one.</p>",
        "on": last["on"],
        "at": None,
    }
    assert Message.objects.filter(concern=concern, from_submitter=True).count() == 1
    assert_problem(Api().post("receipts/reply/", {"receipt": receipt}), 400, fields=("body",))
    assert_problem(
        Api().post("receipts/reply/", {"receipt": receipt, "body": "x" * 5001}),
        400,
        fields=("body",),
    )


def test_the_submitter_withdraws_by_receipt_once(anonymous):
    concern, receipt = anonymous

    withdrawn = Api().post("receipts/withdraw/", {"receipt": receipt})
    again = Api().post("receipts/withdraw/", {"receipt": receipt})

    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == Status.WITHDRAWN
    assert Concern.objects.get(pk=concern.pk).status == Status.WITHDRAWN
    assert_problem(again, 409)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_get_does_not_work(anonymous, action):
    _, receipt = anonymous

    answer = Api().get(f"receipts/{action}/", {"receipt": receipt})

    assert_problem(answer, 405)
    assert receipt not in answer.content.decode()


@pytest.mark.parametrize("action", ACTIONS)
def test_a_receipt_in_the_query_string_does_not_work(anonymous, action):
    concern, receipt = anonymous

    answer = Api().client.post(
        f"/api/v1/receipts/{action}/?receipt={receipt}&body=hello",
        "{}",
        content_type="application/json",
    )

    assert_problem(answer, 400, fields=("receipt",))
    assert Concern.objects.get(pk=concern.pk).status == Status.OPEN
    assert not concern.messages.exists()


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    "wrong",
    ["0000-0000-0000-0000-0000-0000-0000", "not a receipt", "x", "é" * 80],
)
def test_every_wrong_receipt_gets_the_same_404_problem(anonymous, action, wrong):
    answer = Api().post(f"receipts/{action}/", {"receipt": wrong, "body": "Hello"})

    body = assert_problem(answer, 404)
    assert body["title"] == "Receipt not found"
    assert body["detail"] == "No concern matches that receipt. Check it and try again."


def test_a_signed_in_callers_token_plays_no_part(people, anonymous):
    concern, receipt = anonymous

    with_token = Api(people.leader).post("receipts/status/", {"receipt": receipt})
    bad_token = Api(token="ans_wrong").post("receipts/status/", {"receipt": receipt})

    assert with_token.json()["id"] == bad_token.json()["id"] == str(concern.pk)


def test_a_named_concern_has_no_receipt_to_look_up(people):
    concern = factories.open_concern(author=people.employee)

    answer = Api().post("receipts/status/", {"receipt": str(concern.pk)})

    assert_problem(answer, 404)


@pytest.mark.parametrize("action", ACTIONS)
def test_receipt_look_ups_are_rate_limited_with_a_429_problem(settings, anonymous, action):
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 3
    concern, receipt = anonymous
    client = Api()

    answers = [
        client.post(f"receipts/{action}/", {"receipt": "WRONG-RECEIPT", "body": "x"})
        for _ in range(3)
    ]
    limited = client.post(f"receipts/{action}/", {"receipt": receipt, "body": "x"})

    assert [a.status_code for a in answers] == [404, 404, 404]
    body = assert_problem(limited, 429)
    assert "Too many receipt look-ups" in body["detail"]
    # Even the right receipt is refused once the limit is reached: nothing was done.
    assert Concern.objects.get(pk=concern.pk).status == Status.OPEN
    assert not concern.messages.exists()


def test_the_site_wide_receipt_limit_stops_guessing_from_many_addresses(settings, anonymous):
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 5
    addresses = [f"10.0.{i}.{i}" for i in range(6)]

    codes = [
        Api(address=a).post("receipts/status/", {"receipt": "WRONG"}).status_code for a in addresses
    ]

    assert codes == [404] * 5 + [429]
