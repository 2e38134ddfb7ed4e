"""Writing and publishing a response: private drafts, signed versions, reasons for
every change, and a record anyone can check against the ledger."""

import pytest
from django.db import connection
from django.urls import reverse

from concerns.errors import IllegalTransition, InvalidInput, NotAllowed
from concerns.models import Status
from ledger.models import LedgerEntry
from responses import services
from responses.models import Position, Response, ResponseVersion, content_hash
from tests import factories
from tests.ledger import guard_off
from tests.responses import (
    DAY_ONE,
    due_concern,
    ledger_payloads,
    page_text,
    publish,
    refreshed,
    travel_to,
    visible_text,
)

pytestmark = pytest.mark.django_db

DRAFT = {
    "position": Position.INVESTIGATING,
    "summary": "We are reviewing every police contract.",
    "details": "Legal is reading the contracts.\n\nWe will report back in March.",
}


@pytest.fixture
def leader():
    return factories.leader(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def concern(leader):
    return due_concern(leader=leader, title="Face matching sold to police")


def respond_url(concern) -> str:
    return reverse("responses:edit", args=[concern.pk])


# Drafts ------------------------------------------------------------------------------


def test_a_saved_draft_is_seen_only_by_leaders(client, concern, leader):
    client.force_login(leader)
    response = client.post(respond_url(concern), {**DRAFT, "save": "1"})
    assert response.status_code == 302
    assert "We are reviewing every police contract." in page_text(client.get(respond_url(concern)))

    employee = factories.person()
    client.force_login(employee)
    assert client.get(respond_url(concern)).status_code == 403
    page = page_text(client.get(concern.get_absolute_url()))
    assert "We are reviewing every police contract." not in page
    assert "Legal is reading the contracts." not in page
    assert "No written response has been published yet." in page
    assert not ResponseVersion.objects.exists()
    assert ledger_payloads("response.published") == []


def test_an_employee_cannot_save_or_publish_a_response(client, concern):
    client.force_login(factories.person())

    response = client.post(respond_url(concern), {**DRAFT, "publish": "1"})

    assert response.status_code == 403
    assert not Response.objects.exists()
    assert refreshed(concern).status == Status.RESPONSE_DUE


@pytest.mark.parametrize(
    "who",
    [factories.person, factories.moderator, lambda: factories.leader(is_active=False)],
    ids=["employee", "moderator", "deactivated leader"],
)
def test_only_an_active_leader_can_publish(concern, leader, who):
    services.response_draft_save(concern=concern, leader=leader, **DRAFT)

    with pytest.raises(NotAllowed, match="Only leaders"):
        services.response_publish(concern=concern, leader=who())

    assert not ResponseVersion.objects.exists()


def test_a_concern_that_is_not_public_cannot_be_answered(client, leader):
    unpublished = factories.submission().concern
    client.force_login(leader)

    assert client.get(respond_url(unpublished)).status_code == 404
    with pytest.raises(IllegalTransition, match="Only open concerns can be answered"):
        services.response_draft_save(concern=unpublished, leader=leader, **DRAFT)


# Publishing --------------------------------------------------------------------------


def test_publishing_makes_version_1_signed_with_the_leaders_name_and_time(
    client, concern, leader, monkeypatch
):
    travel_to(monkeypatch, DAY_ONE, hour=9, minute=30)
    client.force_login(leader)

    response = client.post(respond_url(concern), {**DRAFT, "publish": "1"})

    assert response.status_code == 302
    assert response["Location"] == concern.get_absolute_url() + "#response"
    version = ResponseVersion.objects.get()
    assert (version.number, version.signed_as) == (1, "Ada Lovelace")
    assert refreshed(concern).status == Status.ANSWERED
    client.force_login(factories.person())
    page = client.get(concern.get_absolute_url())
    text = page_text(page)
    assert "We are investigating" in text
    assert "We are reviewing every police contract." in text
    assert "Signed Ada Lovelace, 3 Mar 2031, 09:30 · version 1" in visible_text(page)
    assert "✓ matches its recorded hash" in text
    assert f"ledger entry #{version.ledger_sequence}" in text


def test_the_ledger_entry_of_a_version_holds_its_content_hash(concern, leader, monkeypatch):
    moment = travel_to(monkeypatch, DAY_ONE)

    version = publish(concern, leader)

    entry = LedgerEntry.objects.get(sequence=version.ledger_sequence)
    assert entry.kind == "response.published"
    assert ledger_payloads("response.published") == [
        {
            "concern": str(concern.pk),
            "version": 1,
            "signed_as": "Ada Lovelace",
            "published_at": moment.isoformat(),
            "content_sha256": version.content_hash,
        }
    ]
    assert version.content_hash == content_hash(version.content())
    assert version.content_matches


def test_a_signature_keeps_the_name_the_leader_had_when_publishing(client, concern, leader):
    publish(concern, leader)
    leader.last_name = "King"
    leader.save()
    client.force_login(factories.person())

    text = visible_text(client.get(concern.get_absolute_url()))

    assert "Signed Ada Lovelace," in text
    assert "✓ matches its recorded hash" in text


def test_a_leader_can_answer_an_open_concern_before_a_response_is_due(client, leader):
    # The services accept open concerns (RESPONDABLE, concern_mark_answered); the
    # page must not refuse what they accept.
    concern = factories.open_concern()
    client.force_login(leader)

    response = client.post(respond_url(concern), {**DRAFT, "publish": "1"})

    assert response.status_code == 302
    assert ResponseVersion.objects.get().number == 1
    assert refreshed(concern).status == Status.ANSWERED


# New versions ------------------------------------------------------------------------


def test_a_second_version_needs_a_stated_reason(client, concern, leader):
    publish(concern, leader)
    client.force_login(leader)

    response = client.post(
        respond_url(concern), {**DRAFT, "summary": "A new answer.", "publish": "1"}
    )

    assert response.status_code == 400
    assert "Say why the published response is changing." in page_text(response)
    assert ResponseVersion.objects.count() == 1


def test_republishing_an_unchanged_draft_is_refused(client, concern, leader):
    publish(concern, leader, **{k: DRAFT[k] for k in ("position", "summary", "details")})
    client.force_login(leader)

    response = client.post(
        respond_url(concern), {**DRAFT, "change_reason": "Nothing really.", "publish": "1"}
    )

    assert response.status_code == 400
    assert "The draft is the same as the published version." in page_text(response)
    assert ResponseVersion.objects.count() == 1


def test_every_version_stays_readable_with_what_changed(client, concern, leader, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    publish(
        concern,
        leader,
        position=Position.INVESTIGATING,
        summary="We are looking into it.",
        details="Legal is reading the contracts.\nA decision comes in March.",
    )
    travel_to(monkeypatch, DAY_ONE.replace(day=10))
    publish(
        concern,
        leader,
        position=Position.WILL_ACT,
        summary="We will end the police contracts.",
        details="Legal is reading the contracts.\nThe contracts end on 30 June.",
        reason="The board decided.",
    )
    client.force_login(factories.person())

    text = visible_text(client.get(concern.get_absolute_url()))

    assert "All 2 versions and what changed" in text
    assert "Version 1" in text and "Version 2" in text
    assert "We are looking into it." in text
    assert "We will end the police contracts." in text
    assert "Why it changed: The board decided." in text
    assert "− Position: We are investigating" in text
    assert "+ Position: We will act" in text
    assert "− Summary: We are looking into it." in text
    assert "+ Summary: We will end the police contracts." in text
    assert "− A decision comes in March." in text
    assert "+ The contracts end on 30 June." in text
    assert "− Legal is reading" not in text and "+ Legal is reading" not in text
    assert "Signed Ada Lovelace, 10 Mar 2031, 12:00 · version 2" in text
    assert list(ResponseVersion.objects.values_list("number", "change_reason")) == [
        (1, ""),
        (2, "The board decided."),
    ]


def test_each_version_gets_its_own_ledger_entry(concern, leader):
    first = publish(concern, leader)
    second = publish(concern, leader, summary="Changed.", reason="New facts.")

    payloads = ledger_payloads("response.published")
    assert [p["version"] for p in payloads] == [1, 2]
    assert [p["content_sha256"] for p in payloads] == [first.content_hash, second.content_hash]
    assert first.ledger_sequence < second.ledger_sequence


# Form errors -------------------------------------------------------------------------


def test_a_summary_over_280_characters_is_a_form_error_and_stores_nothing(client, concern, leader):
    client.force_login(leader)
    entries = LedgerEntry.objects.count()

    response = client.post(respond_url(concern), {**DRAFT, "summary": "x" * 281, "publish": "1"})

    assert response.status_code == 400
    assert "Ensure this value has at most 280 characters (it has 281)." in page_text(response)
    assert not Response.objects.exists()
    assert not ResponseVersion.objects.exists()
    assert LedgerEntry.objects.count() == entries
    assert refreshed(concern).status == Status.RESPONSE_DUE


def test_a_response_without_a_position_is_a_form_error_and_stores_nothing(client, concern, leader):
    client.force_login(leader)

    response = client.post(respond_url(concern), {"summary": "S", "details": "D", "publish": "1"})

    assert response.status_code == 400
    assert 'id="id_position_error">This field is required.' in page_text(response)
    assert not Response.objects.exists()
    assert not ResponseVersion.objects.exists()


def test_publishing_a_draft_without_a_position_is_refused_by_the_service(concern, leader):
    services.response_draft_save(
        concern=concern, leader=leader, position="", summary="S", details="D"
    )

    with pytest.raises(InvalidInput, match="Choose the leadership's position."):
        services.response_publish(concern=concern, leader=leader)

    assert not ResponseVersion.objects.exists()


def test_the_page_shows_when_a_version_no_longer_matches_its_hash(client, concern, leader):
    version = publish(concern, leader)
    with (
        guard_off("responses_responseversion", "response_version_append_only"),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE responses_responseversion SET summary = %s WHERE id = %s",
            ["We never said that.", version.pk],
        )
    client.force_login(factories.person())

    text = page_text(client.get(concern.get_absolute_url()))

    assert "✗ does not match its recorded hash" in text
    assert "✓ matches its recorded hash" not in text
