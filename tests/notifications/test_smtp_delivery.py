"""A weekly digest sent through a real SMTP socket and read back as a mail client
reads it: both parts, the headers, every section, and the unsubscribe link."""

import pytest
from django.test import Client

from ledger.selectors import ledger_head
from notifications import services
from notifications.models import DeliveryStatus, Frequency
from tests.notifications import (
    deliveries,
    html_of,
    path_of,
    section,
    text_of,
    unsubscribe_url,
    visible,
)
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import days_after, travel_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(week, smtp_sink, django_capture_on_commit_callbacks):
    """The week's digest, scheduled the way beat does and sent by the Celery task."""
    with django_capture_on_commit_callbacks(execute=True):
        services.digests_schedule(period=Frequency.WEEKLY)
    return smtp_sink


def the_digest_of(sink, person):
    [message] = sink.to(person.email)
    return message


def test_everyone_gets_the_weekly_digest_through_smtp_once(week, delivered):
    people = [week.moderator, week.leader, week.owner, week.reader, week.anonymous_author]
    for person in people:
        assert delivered.recipients()[person.email] == 1
    assert all(count == 1 for count in delivered.recipients().values())
    assert {d.status for d in deliveries()} == {DeliveryStatus.SENT}


def test_the_digest_has_a_subject_a_sender_and_both_parts(week, delivered):
    message = the_digest_of(delivered, week.reader)

    assert message["Subject"] == "Your weekly Answerable digest"
    assert message["From"] == "Answerable <answerable@localhost>"
    assert message["To"] == week.reader.email
    assert message.get_content_type() == "multipart/alternative"
    assert text_of(message).startswith("Hello Rita Reader,")
    assert "<p>Hello Rita Reader,</p>" in html_of(message)


def test_the_plain_text_part_holds_every_section_of_the_week(week, delivered):
    text = text_of(the_digest_of(delivered, week.reader))

    assert section(text, "NEW OPEN CONCERNS") == [
        "Contracts with border agencies (3 votes)",
        "Night bus was cut (0 votes)",
        "Parking permits for night staff (0 votes)",
    ]
    assert section(text, "GAINING SUPPORT") == [
        "Contracts with border agencies: +3 this period, 3 in all"
    ]
    assert section(text, "WRITTEN RESPONSES PUBLISHED") == [
        "Night bus was cut: version 1, We will act, signed Lena Leader"
    ]
    assert '"We will reopen the night bus."' in text
    assert section(text, "OVERDUE RESPONSES") == [
        "Canteen closes at two: 7 days overdue (Lena Leader)"
    ]
    assert section(text, "COMMITMENTS DUE THIS WEEK") == [
        "Reopen the night bus route (owner Omar Owner, due 27 Mar)"
    ]
    assert section(text, "COMMITMENTS MISSED") == [
        "Publish the bus timetable (owner Omar Owner, was due 22 Mar)"
    ]
    assert "NEXT ALL-HANDS: Spring all-hands, 27 Mar 2031, 12:00" in text
    assert "1. Contracts with border agencies\n2. Questions from the floor" in text


def test_the_digest_carries_the_ledger_head_as_it_was_when_sent(week, delivered):
    head = ledger_head()
    message = the_digest_of(delivered, week.reader)

    assert head.sequence > 0
    assert f"Ledger head: #{head.sequence} {head.entry_hash}" in text_of(message)
    assert f"<code>{head.entry_hash}</code>" in html_of(message)


def test_the_html_part_holds_the_same_sections_with_links(week, delivered):
    markup = html_of(the_digest_of(delivered, week.reader))
    page = visible(markup)

    for heading in (
        "New open concerns",
        "Gaining support",
        "Written responses published",
        "Overdue responses",
        "Commitments due this week",
        "Commitments missed",
        "Next all-hands: Spring all-hands",
    ):
        assert f"<h2>{heading}</h2>" in markup
    assert "Canteen closes at two : 7 days overdue (Lena Leader)" in page
    assert f'href="http://127.0.0.1:8000/concerns/{week.named.pk}/"' in markup
    assert 'href="http://127.0.0.1:8000/digest/"' in markup


def test_every_digest_offers_one_click_unsubscribe_in_its_headers(week, delivered):
    message = the_digest_of(delivered, week.reader)
    url = unsubscribe_url(message)

    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith("http://127.0.0.1:8000/unsubscribe/")
    assert f"Unsubscribe in one click: {url}" in text_of(message)
    assert f'href="{url}"' in html_of(message)
    others = {unsubscribe_url(m) for m in delivered.messages if m is not message}
    assert url not in others, "each person has their own link"


def test_opening_the_unsubscribe_link_asks_first_and_changes_nothing(week, delivered):
    url = unsubscribe_url(the_digest_of(delivered, week.reader))

    page = Client().get(path_of(url))

    assert page.status_code == 200
    assert "Stop the Answerable digest for this address?" in visible(page.content.decode())
    assert '<form method="post">' in page.content.decode()
    assert services.preference_for(week.reader).digest == Frequency.WEEKLY


def test_posting_the_unsubscribe_link_without_signing_in_stops_only_that_persons_digest(
    week, delivered
):
    url = unsubscribe_url(the_digest_of(delivered, week.reader))
    mail_client = Client(enforce_csrf_checks=True)  # no session, no CSRF token

    page = mail_client.post(path_of(url), {"List-Unsubscribe": "One-Click"})

    assert page.status_code == 200
    assert "Done. Rita Reader will get no more digests." in visible(page.content.decode())
    assert services.preference_for(week.reader).digest == Frequency.NONE
    for someone_else in (week.owner, week.leader, week.anonymous_author):
        assert services.preference_for(someone_else).digest == Frequency.WEEKLY


def test_a_tampered_unsubscribe_link_changes_nothing(week, delivered):
    url = unsubscribe_url(the_digest_of(delivered, week.reader))

    page = Client().post(path_of(url).replace("/unsubscribe/", "/unsubscribe/x"))

    assert page.status_code == 400
    assert "This unsubscribe link is not valid." in page.content.decode()
    assert services.preference_for(week.reader).digest == Frequency.WEEKLY


def test_after_unsubscribing_the_next_weeks_digest_does_not_come(
    week, delivered, monkeypatch, django_capture_on_commit_callbacks
):
    Client().post(path_of(unsubscribe_url(the_digest_of(delivered, week.reader))))
    travel_to(monkeypatch, days_after(DIGEST_DAY, 7), hour=7)

    with django_capture_on_commit_callbacks(execute=True):
        services.digests_schedule(period=Frequency.WEEKLY)

    assert len(delivered.to(week.reader.email)) == 1
    assert len(delivered.to(week.owner.email)) == 2
