"""Receipts: the only way an anonymous submitter gets back to their concern.

Shown once, never in a URL, stored only as a keyed hash, looked up by POST only, rate
limited, and enough on their own to follow, answer and withdraw the concern."""

import hashlib
import html
import math
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Organisation
from concerns import anonymity, services, throttles
from concerns.models import Concern, Message, Status
from tests import factories

pytestmark = pytest.mark.django_db

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_SHAPE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){6}")
ACCESS_PHRASE = "the river runs uphill on tuesdays"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def shown_receipt(response) -> str:
    found = re.search(r'<p class="receipt"[^>]*>([^<]*)</p>', response.content.decode())
    assert found, "the page shows no receipt"
    return found.group(1).strip()


def addresses_in(response) -> list[str]:
    """Every URL the page links to, loads or submits to."""
    return re.findall(r'(?:href|action|src)="([^"]*)"', response.content.decode())


def without_values(response) -> str:
    """The page with every form value blanked: the CSRF token differs on every answer,
    and a look-up form echoes what was typed."""
    return re.sub(r'value="[^"]*"', 'value=""', response.content.decode())


def look_up(client, receipt: str):
    return client.post(reverse("concerns:receipt"), {"receipt": receipt})


def raise_anonymously(client, **extra):
    client.force_login(extra.pop("submitter", None) or factories.person())
    data = {"title": "Contracts with border agencies", "body": "Why?", "identity": "anonymous"}
    response = client.post(reverse("concerns:new"), data | extra)
    client.logout()
    return response


@pytest.fixture
def fixed_clock(monkeypatch):
    """Holds the rate limiter's clock still, so a test never straddles two windows."""
    monkeypatch.setattr(throttles, "time", SimpleNamespace(time=lambda: 1_700_000_000.0))


@pytest.fixture
def anonymous_concern():
    return factories.submission(anonymous=True, title="Contracts with border agencies")


# Issuing -----------------------------------------------------------------------------


def test_the_receipt_is_shown_once_in_the_answer_to_an_anonymous_submission(client):
    response = raise_anonymously(client)

    assert response.status_code == 200
    receipt = shown_receipt(response)
    assert RECEIPT_SHAPE.fullmatch(receipt)
    assert "It is shown only this once" in page_text(response)


def test_a_receipt_carries_at_least_128_bits(client):
    receipt = shown_receipt(raise_anonymously(client))

    symbols = receipt.replace("-", "")
    assert len(symbols) == 28
    assert set(symbols) <= set(CROCKFORD)
    assert len(symbols) * math.log2(len(CROCKFORD)) >= 128
    assert anonymity.RECEIPT_ALPHABET == CROCKFORD


def test_every_anonymous_submission_gets_a_different_receipt():
    receipts = {factories.submission(anonymous=True).receipt for _ in range(20)}

    assert len(receipts) == 20


def test_a_named_submission_gets_no_receipt(client):
    client.force_login(factories.person())

    response = client.post(
        reverse("concerns:new"), {"title": "Named worry", "body": "Why?", "identity": "named"}
    )

    assert response.status_code == 302
    concern = Concern.objects.get()
    assert concern.receipt_hash is None


def test_the_receipt_is_in_no_url_redirect_or_cookie(client):
    response = raise_anonymously(client)
    receipt = shown_receipt(response)
    bare = receipt.replace("-", "")

    assert response.status_code == 200
    assert "Location" not in response
    assert not any(receipt in a or bare in a for a in addresses_in(response))
    assert not any(receipt in c.value or bare in c.value for c in response.cookies.values())

    status_page = look_up(client, receipt)
    assert status_page.status_code == 200
    assert "Location" not in status_page
    assert not any(receipt in a or bare in a for a in addresses_in(status_page))


def test_the_receipt_is_not_kept_in_the_session(client):
    submitter = factories.person()
    client.force_login(submitter)
    response = client.post(
        reverse("concerns:new"),
        {"title": "Contracts", "body": "Why?", "identity": "anonymous"},
    )
    receipt = shown_receipt(response)

    session = dict(client.session.items())
    assert receipt not in repr(session)
    assert receipt.replace("-", "") not in repr(session)


def test_the_public_form_shows_the_receipt_once_and_in_no_url(client):
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()

    response = client.post(
        reverse("concerns:new-public"),
        {"access_phrase": ACCESS_PHRASE, "title": "Contracts", "body": "Why?"},
    )

    assert response.status_code == 200
    receipt = shown_receipt(response)
    assert RECEIPT_SHAPE.fullmatch(receipt)
    assert "Location" not in response
    assert not any(receipt in a for a in addresses_in(response))
    assert "no-store" in response["Cache-Control"]


def _every_stored_value() -> str:
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows).upper()


def test_the_receipt_is_stored_only_as_a_keyed_hash(client, settings):
    receipt = shown_receipt(raise_anonymously(client))
    symbols = receipt.replace("-", "")
    concern = Concern.objects.get()

    stored = _every_stored_value()
    assert receipt not in stored
    assert symbols not in stored
    assert concern.receipt_hash is not None
    assert concern.receipt_hash != hashlib.sha256(symbols.encode()).hexdigest()
    assert concern.receipt_hash != hashlib.sha256(receipt.encode()).hexdigest()

    # Without the key from the environment the stored hash leads nowhere.
    settings.ANONYMITY_KEY = "another key that is long enough to be accepted"
    assert look_up(client, receipt).status_code == 404


def test_the_anonymous_concern_keeps_no_link_to_the_signed_in_submitter(client):
    submitter = factories.person(username="quentin", first_name="Quentin", last_name="Whistle")
    raise_anonymously(client, submitter=submitter)

    concern = Concern.objects.get()
    assert concern.author is None
    assert concern.events.get().actor is None


# Looking up --------------------------------------------------------------------------


def test_the_look_up_page_shows_a_form_on_get(client, anonymous_concern):
    response = client.get(reverse("concerns:receipt"))

    assert response.status_code == 200
    assert "Check a receipt" in page_text(response)
    assert 'name="receipt"' in response.content.decode()
    assert 'method="post"' in response.content.decode()


def test_a_receipt_in_the_query_string_is_ignored(client, anonymous_concern):
    response = client.get(reverse("concerns:receipt"), {"receipt": anonymous_concern.receipt})

    assert response.status_code == 200
    assert anonymous_concern.concern.title not in page_text(response)
    assert anonymous_concern.receipt not in page_text(response)


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda r: r, id="as shown"),
        pytest.param(lambda r: r.lower(), id="lower case"),
        pytest.param(lambda r: r.replace("-", ""), id="without dashes"),
        pytest.param(lambda r: r.replace("-", " "), id="spaces for dashes"),
        pytest.param(lambda r: f"  {r.lower().replace('-', ' ')}  ", id="padded lower case"),
        pytest.param(lambda r: " ".join(r.replace("-", "")), id="spaces everywhere"),
    ],
)
def test_a_receipt_is_accepted_however_it_was_written_down(client, anonymous_concern, typed):
    response = look_up(client, typed(anonymous_concern.receipt))

    assert response.status_code == 200
    assert anonymous_concern.concern.title in page_text(response)


def test_a_receipt_written_with_confusable_letters_is_accepted(client, monkeypatch):
    # A receipt known to hold the symbols people misread: 0, 1 and V.
    monkeypatch.setattr(services, "receipt_new", lambda: "01VA-0011-2345-6789-ABCD-EFGH-JKMN")
    submission = factories.submission(anonymous=True, title="Misread receipt")

    response = look_up(client, "oiua-ooil-2345-6789-abcd-efgh-jkmn")

    assert response.status_code == 200
    assert submission.concern.title in page_text(response)


def _a_wrong_receipt(real: str) -> str:
    symbols = real.replace("-", "")
    changed = ("1" if symbols[0] != "1" else "2") + symbols[1:]
    return anonymity.receipt_format(changed)


@pytest.mark.parametrize(
    "malformed",
    ["hello", "!!!!-????", "ABCD-EFGH", "0" * 60, "ÅÄÖ-ÅÄÖÅ", "<script>"],
)
def test_a_wrong_and_a_malformed_receipt_get_the_same_answer(client, anonymous_concern, malformed):
    wrong = look_up(client, _a_wrong_receipt(anonymous_concern.receipt))
    bad = look_up(client, malformed)

    assert wrong.status_code == bad.status_code == 404
    assert without_values(wrong) == without_values(bad)
    assert "No concern matches that receipt. Check it and try again." in page_text(wrong)
    assert anonymous_concern.concern.title not in page_text(wrong)


def test_an_empty_look_up_asks_for_the_receipt(client):
    response = look_up(client, "")

    assert response.status_code == 400
    assert "This field is required." in page_text(response)


def test_receipt_look_ups_are_rate_limited(client, anonymous_concern, settings, fixed_clock):
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 3
    wrong = _a_wrong_receipt(anonymous_concern.receipt)

    answers = [look_up(client, wrong).status_code for _ in range(3)]
    refused = look_up(client, anonymous_concern.receipt)

    assert answers == [404, 404, 404]
    assert refused.status_code == 429
    text = page_text(refused)
    assert "Too many receipt look-ups. Please wait a minute and try again." in text
    assert anonymous_concern.concern.title not in text


def test_replies_and_withdrawals_count_towards_the_look_up_limit(
    client, anonymous_concern, settings, fixed_clock
):
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 2
    receipt = anonymous_concern.receipt
    look_up(client, receipt)
    client.post(reverse("concerns:receipt-reply"), {"receipt": receipt, "body": "More detail."})

    refused = client.post(reverse("concerns:receipt-withdraw"), {"receipt": receipt})

    assert refused.status_code == 429
    assert "Too many receipt look-ups" in page_text(refused)
    assert Concern.objects.get(pk=anonymous_concern.concern.pk).status == Status.SUBMITTED


def test_the_site_wide_look_up_limit_applies_to_everyone(
    client, anonymous_concern, settings, fixed_clock
):
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 2
    wrong = _a_wrong_receipt(anonymous_concern.receipt)

    for address in ("10.0.0.1", "10.0.0.2"):
        client.post(reverse("concerns:receipt"), {"receipt": wrong}, REMOTE_ADDR=address)
    refused = client.post(
        reverse("concerns:receipt"), {"receipt": anonymous_concern.receipt}, REMOTE_ADDR="10.0.0.3"
    )

    assert refused.status_code == 429


# The receipt page --------------------------------------------------------------------


def test_the_receipt_page_shows_status_history_and_conversation(client, anonymous_concern):
    moderator = factories.moderator(first_name="Morgan", last_name="Reviewer")
    concern = anonymous_concern.concern
    services.concern_review_start(concern=concern, moderator=moderator)
    services.message_ask(concern=concern, author=moderator, body="Which **contract**?")

    response = look_up(client, anonymous_concern.receipt)

    assert response.status_code == 200
    text = page_text(response)
    assert concern.title in text
    assert '<span class="status status-in_review">In review</span>' in text
    assert "History" in text
    assert "Submitted</strong>" in text
    assert "anonymously" in text
    assert "In review</strong>" in text
    assert "by Morgan Reviewer" in text
    assert "Conversation with the submitter" in text
    assert "Which <strong>contract</strong>?" in text


def test_the_receipt_page_shows_the_vote_count_once_public(client, anonymous_concern):
    concern = factories.published(anonymous_concern.concern, factories.moderator())
    services.vote_cast(concern=concern, voter=factories.person())

    response = look_up(client, anonymous_concern.receipt)

    assert "It is public and has 1 vote." in re.sub(r"</?strong>", "", page_text(response))


def test_the_receipt_page_shows_the_rejection_reason(client, anonymous_concern):
    services.concern_reject(
        concern=anonymous_concern.concern,
        moderator=factories.moderator(),
        reason="It names a colleague.",
    )

    response = look_up(client, anonymous_concern.receipt)

    text = page_text(response)
    assert "Rejected" in text
    assert "The moderators rejected it: It names a colleague." in text
    assert "Withdraw this concern" not in text


@pytest.mark.parametrize("asker_role", ["moderator", "leader"])
def test_staff_ask_on_the_concern_page_and_the_submitter_answers_by_receipt(
    client, anonymous_concern, asker_role
):
    concern = anonymous_concern.concern
    if asker_role == "leader":
        # Leaders see a concern once it is public: after the batch that publishes it.
        factories.published(concern, factories.moderator())
    asker = factories.person(role=asker_role, first_name="Avery", last_name="Asker")
    client.force_login(asker)

    asked = client.post(
        reverse("concerns:message", args=[concern.pk]),
        {"body": "Which team signed the contract?"},
        follow=True,
    )
    assert "Your message was sent." in page_text(asked)
    client.logout()

    status_page = look_up(client, anonymous_concern.receipt)
    assert "Which team signed the contract?" in page_text(status_page)
    assert "Avery Asker" in page_text(status_page)

    answered = client.post(
        reverse("concerns:receipt-reply"),
        {"receipt": anonymous_concern.receipt, "body": "The *vision* team."},
    )
    assert answered.status_code == 200
    assert "The <em>vision</em> team." in page_text(answered)

    client.force_login(asker)
    concern_page = client.get(reverse("concerns:detail", args=[concern.pk]))
    assert "The <em>vision</em> team." in page_text(concern_page)
    reply = Message.objects.get(concern=concern, from_submitter=True)
    assert reply.staff_author is None
    assert reply.sent_at is None


def test_an_employee_cannot_read_the_conversation_of_someone_elses_concern(
    client, anonymous_concern
):
    concern = factories.published(anonymous_concern.concern, factories.moderator())
    services.message_ask(concern=concern, author=factories.moderator(), body="Which team?")
    client.force_login(factories.person())

    response = client.get(reverse("concerns:detail", args=[concern.pk]))

    assert response.status_code == 200
    assert "Which team?" not in page_text(response)


@pytest.mark.parametrize("body", ["", "   "])
def test_an_empty_answer_is_refused_and_nothing_is_stored(client, anonymous_concern, body):
    response = client.post(
        reverse("concerns:receipt-reply"), {"receipt": anonymous_concern.receipt, "body": body}
    )

    assert response.status_code == 400
    assert "Write an answer first (at most 5,000 characters)." in page_text(response)
    assert Message.objects.count() == 0


def test_an_answer_with_a_wrong_receipt_is_refused_and_nothing_is_stored(client, anonymous_concern):
    response = client.post(
        reverse("concerns:receipt-reply"),
        {"receipt": _a_wrong_receipt(anonymous_concern.receipt), "body": "Hello"},
    )

    assert response.status_code == 404
    assert "No concern matches that receipt." in page_text(response)
    assert Message.objects.count() == 0


def test_the_reply_endpoint_does_not_accept_get(client, anonymous_concern):
    response = client.get(
        reverse("concerns:receipt-reply"), {"receipt": anonymous_concern.receipt, "body": "Hi"}
    )

    assert response.status_code == 405
    assert Message.objects.count() == 0


def test_withdrawing_by_receipt_works_once_and_then_explains(client, anonymous_concern):
    url = reverse("concerns:receipt-withdraw")

    first = client.post(url, {"receipt": anonymous_concern.receipt})
    second = client.post(url, {"receipt": anonymous_concern.receipt})

    assert first.status_code == 200
    assert '<span class="status status-withdrawn">Withdrawn</span>' in page_text(first)
    assert "Withdraw this concern" not in page_text(first)
    assert second.status_code == 409
    assert "This concern was already withdrawn." in page_text(second)
    concern = Concern.objects.get(pk=anonymous_concern.concern.pk)
    assert concern.status == Status.WITHDRAWN
    assert concern.events.filter(to_status=Status.WITHDRAWN).count() == 1


def test_withdrawing_with_a_wrong_receipt_changes_nothing(client, anonymous_concern):
    response = client.post(
        reverse("concerns:receipt-withdraw"),
        {"receipt": _a_wrong_receipt(anonymous_concern.receipt)},
    )

    assert response.status_code == 404
    assert Concern.objects.get(pk=anonymous_concern.concern.pk).status == Status.SUBMITTED


def test_the_withdraw_endpoint_does_not_accept_get(client, anonymous_concern):
    response = client.get(
        reverse("concerns:receipt-withdraw"), {"receipt": anonymous_concern.receipt}
    )

    assert response.status_code == 405
    assert Concern.objects.get(pk=anonymous_concern.concern.pk).status == Status.SUBMITTED


# Caching -----------------------------------------------------------------------------


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_the_issued_receipt_is_never_cached(client):
    assert _no_store(raise_anonymously(client))


def test_every_receipt_answer_is_never_cached(client, anonymous_concern):
    receipt = anonymous_concern.receipt
    wrong = _a_wrong_receipt(receipt)
    answers = {
        "look-up form": client.get(reverse("concerns:receipt")),
        "status page": look_up(client, receipt),
        "wrong receipt": look_up(client, wrong),
        "empty look-up": look_up(client, ""),
        "reply": client.post(
            reverse("concerns:receipt-reply"), {"receipt": receipt, "body": "More."}
        ),
        "empty reply": client.post(
            reverse("concerns:receipt-reply"), {"receipt": receipt, "body": ""}
        ),
        "withdrawal": client.post(reverse("concerns:receipt-withdraw"), {"receipt": receipt}),
        "second withdrawal": client.post(
            reverse("concerns:receipt-withdraw"), {"receipt": receipt}
        ),
    }

    assert {name: _no_store(r) for name, r in answers.items()} == dict.fromkeys(answers, True)


def test_a_rate_limited_receipt_answer_is_never_cached(
    client, anonymous_concern, settings, fixed_clock
):
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 1
    look_up(client, anonymous_concern.receipt)

    refused = look_up(client, anonymous_concern.receipt)

    assert refused.status_code == 429
    assert _no_store(refused)
