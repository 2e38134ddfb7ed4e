"""A submitter who holds only the receipt reads the written response on record."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse

from concerns import services as concern_services
from responses import services as response_services
from tests import factories
from tests.responses import publish

pytestmark = pytest.mark.django_db


def _receipt_page(receipt: str) -> str:
    answer = Client().post(reverse("concerns:receipt"), {"receipt": receipt})
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_submitter_reads_the_response_and_its_commitments_with_the_receipt():
    submission = factories.submission(anonymous=True, title="Chained fire doors")
    moderator = factories.moderator()
    concern = factories.published(submission.concern, moderator)
    concern_services.concern_require_response(concern=concern, actor=moderator, note="Asked.")
    leader = factories.person(role="leader", first_name="Ada", last_name="Obi")
    publish(concern, leader, summary="The doors are unchained from tonight.")
    response_services.commitment_add(
        concern=concern,
        leader=leader,
        description="Weekly door checks by facilities",
        owner=leader,
        due_on=datetime.date(2031, 1, 31),
    )

    page = _receipt_page(submission.receipt)

    assert "The written response" in page
    assert "The doors are unchained from tonight." in page
    assert "Signed <strong>Ada Obi</strong>" in page
    assert "Weekly door checks by facilities" in page
    # A record to read: no rating or commitment forms for someone who is not signed in.
    assert 'name="value"' not in page and "Record update" not in page


def test_the_receipt_page_shows_no_response_section_before_one_is_published():
    submission = factories.submission(anonymous=True, title="Chained fire doors")
    factories.published(submission.concern, factories.moderator())

    assert "The written response" not in _receipt_page(submission.receipt)
