"""What a digest tells people: nothing that identifies who wrote or supported an
anonymous concern, lists ordered by support and title rather than by submission, the
ledger head, and the same digest on the "view in browser" page."""

import pytest
from django.core import mail
from django.urls import reverse

from concerns import services as concern_services
from ledger.selectors import ledger_head
from notifications import services
from notifications.models import Frequency
from tests import factories
from tests.notifications import html_of, outbox_to, section, text_of, visible
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import DAY_ONE, days_after, rules, travel_to

pytestmark = pytest.mark.django_db


def weekly_digests(capture) -> None:
    with capture(execute=True):
        services.digests_schedule(period=Frequency.WEEKLY)


def without_greeting_and_link(text: str) -> str:
    return "\n".join(
        line
        for line in text.splitlines()
        if not line.startswith(("Hello ", "Unsubscribe in one click:"))
    )


# Anonymity ---------------------------------------------------------------------------


def test_no_digest_names_who_wrote_or_voted_for_an_anonymous_concern(
    week, django_capture_on_commit_callbacks
):
    weekly_digests(django_capture_on_commit_callbacks)

    assert len(mail.outbox) >= 10
    secret_people = [week.anonymous_author, *week.voters]
    for message in mail.outbox:
        readable = text_of(message) + visible(html_of(message))
        assert "Contracts with border agencies" in readable
        for person in secret_people:
            if person.email in message.to:
                continue  # their own greeting
            assert person.display_name not in readable
            assert person.last_name not in readable
            assert person.username not in readable
            assert person.email not in readable


def test_the_anonymous_authors_digest_is_the_same_as_everyone_elses(
    week, django_capture_on_commit_callbacks
):
    weekly_digests(django_capture_on_commit_callbacks)

    [authors] = outbox_to(week.anonymous_author.email)
    [readers] = outbox_to(week.reader.email)
    [voters] = outbox_to(week.voters[0].email)
    assert authors.subject == readers.subject == voters.subject
    assert without_greeting_and_link(text_of(authors)) == without_greeting_and_link(
        text_of(readers)
    )
    assert without_greeting_and_link(text_of(voters)) == without_greeting_and_link(text_of(readers))


# Ordering ----------------------------------------------------------------------------


def test_new_concerns_are_ordered_by_support_then_title_never_by_submission(
    monkeypatch, django_capture_on_commit_callbacks
):
    rules(votes=50)
    travel_to(monkeypatch, days_after(DIGEST_DAY, -3))
    reader = factories.person()
    moderator = factories.moderator()
    # Submitted and approved in this order, on the same day.
    support = {"Charlie": 0, "Bravo": 2, "Alpha": 2, "Zulu": 5, "Echo": 2}
    for title, votes in support.items():
        concern = factories.open_concern(
            title=title, anonymous=title == "Echo", moderated_by=moderator
        )
        for _ in range(votes):
            concern_services.vote_cast(concern=concern, voter=factories.person())
    factories.submission(title="Still waiting for a moderator")
    travel_to(monkeypatch, DIGEST_DAY, hour=7)

    weekly_digests(django_capture_on_commit_callbacks)

    [message] = outbox_to(reader.email)
    titles = [line.split(" (")[0] for line in section(text_of(message), "NEW OPEN CONCERNS")]
    assert titles == ["Zulu", "Alpha", "Bravo", "Echo", "Charlie"]
    assert "Still waiting for a moderator" not in text_of(message)
    gaining = [line.split(":")[0] for line in section(text_of(message), "GAINING SUPPORT")]
    assert gaining == ["Zulu", "Alpha", "Bravo", "Echo"]


def test_a_quiet_week_says_nothing_happened_and_still_gives_the_ledger_head(
    monkeypatch, django_capture_on_commit_callbacks
):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    reader = factories.person()

    weekly_digests(django_capture_on_commit_callbacks)

    [message] = outbox_to(reader.email)
    head = ledger_head()
    assert "Nothing new happened in this period." in text_of(message)
    assert f"Ledger head: #{head.sequence} {head.entry_hash}" in text_of(message)


# The page in the browser -------------------------------------------------------------


def test_the_browser_page_shows_the_latest_digest_only(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    travel_to(monkeypatch, DAY_ONE)
    reader = factories.person()
    factories.open_concern(title="Works council elections")
    travel_to(monkeypatch, days_after(DAY_ONE, 7), hour=7)
    weekly_digests(django_capture_on_commit_callbacks)
    travel_to(monkeypatch, days_after(DAY_ONE, 10))
    factories.open_concern(title="Heating in the east wing")
    travel_to(monkeypatch, days_after(DAY_ONE, 14), hour=7)
    weekly_digests(django_capture_on_commit_callbacks)
    client.force_login(reader)

    page = client.get(reverse("notifications:digest"))

    text = visible(page.content.decode())
    head = ledger_head()
    assert page.status_code == 200
    assert "Your latest digest" in text
    assert "Your weekly Answerable digest · Sent" in text
    assert "Heating in the east wing" in text
    assert "Works council elections" not in text, "last week's digest is not the latest"
    assert f"Ledger head: #{head.sequence} {head.entry_hash}" in text
    [first, second] = outbox_to(reader.email)
    assert "Works council elections" in text_of(first)
    assert "Works council elections" not in text_of(second)


def test_the_browser_page_says_when_no_digest_was_sent_yet(client):
    client.force_login(factories.person())

    page = client.get(reverse("notifications:digest"))

    assert page.status_code == 200
    assert "No digest has been sent to you yet." in visible(page.content.decode())


def test_the_browser_page_needs_signing_in(client):
    page = client.get(reverse("notifications:digest"))

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("accounts:sign-in"))
