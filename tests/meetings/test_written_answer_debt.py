"""A spoken answer is not an answer of record: when a meeting ends, every discussed
concern without a published response owes one in writing, and the meeting page keeps
count of how many have been paid."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Organisation
from concerns.models import Concern, Status
from meetings import services
from meetings.models import Meeting
from tests import factories
from tests.responses import DAY_ONE, days_after, due_concern, publish, travel_to

pytestmark = pytest.mark.django_db

NOTE = "Discussed at “Spring all-hands” on 3 Mar 2031: a spoken answer is not an answer of record."


def visible_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def refreshed(concern: Concern) -> Concern:
    return Concern.objects.get(pk=concern.pk)


@pytest.fixture
def moderator():
    return factories.moderator()


@pytest.fixture
def leader():
    return factories.leader(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def record(monkeypatch, moderator, leader):
    """A meeting on DAY_ONE that discussed an open concern, a concern already due, an
    answered one and a free topic, and left one concern undiscussed."""
    travel_to(monkeypatch, DAY_ONE)
    organisation = Organisation.current()
    organisation.response_days = 10
    organisation.save()
    concerns = {
        "open": factories.open_concern(title="Parking spaces"),
        "due": due_concern(leader=leader, title="Heating fails"),
        "answered": due_concern(leader=leader, title="Canteen prices"),
        "skipped": factories.open_concern(title="Office plants"),
    }
    publish(concerns["answered"], leader)
    meeting = services.meeting_create(
        organiser=moderator,
        title="Spring all-hands",
        scheduled_start=timezone.now() - timedelta(hours=1),
        hosts=[moderator],
    )
    items = {
        key: services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
        for key, concern in concerns.items()
    }
    items["topic"] = services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Q3")
    services.meeting_start(meeting=meeting, actor=moderator)
    for key in ("open", "due", "answered", "topic"):
        services.agenda_item_mark_discussed(item=items[key], actor=moderator)
    return meeting, concerns


def test_ending_makes_each_discussed_concern_without_a_written_answer_due(record, moderator):
    meeting, concerns = record
    due_before = refreshed(concerns["due"]).response_due_on

    became_due = services.meeting_end(meeting=meeting, actor=moderator)

    assert became_due == 1
    parking = refreshed(concerns["open"])
    assert parking.status == Status.RESPONSE_DUE
    assert parking.response_due_since == DAY_ONE
    assert parking.response_due_on == days_after(DAY_ONE, 10)
    assert parking.events.order_by("sequence").last().note == NOTE
    assert refreshed(concerns["due"]).response_due_on == due_before
    assert refreshed(concerns["answered"]).status == Status.ANSWERED
    assert refreshed(concerns["skipped"]).status == Status.OPEN


def test_the_history_of_a_discussed_concern_says_a_spoken_answer_is_not_enough(
    client, record, moderator
):
    meeting, concerns = record
    services.meeting_end(meeting=meeting, actor=moderator)
    client.force_login(factories.person())

    page = visible_text(client.get(concerns["open"].get_absolute_url()))

    assert "Response due" in page
    assert NOTE in page


def test_the_meeting_page_counts_discussed_items_answered_in_writing(client, record, moderator):
    meeting, concerns = record
    services.meeting_end(meeting=meeting, actor=moderator)
    client.force_login(factories.person())

    response = client.get(meeting.get_absolute_url())

    text = visible_text(response)
    assert "1 of 3 discussed items answered in writing." in text
    assert text.count("written answer owed") == 2
    for key in ("open", "due", "answered", "skipped"):
        assert f'href="{concerns[key].get_absolute_url()}"' in response.content.decode()


def test_publishing_a_response_later_changes_the_count(client, record, moderator, leader):
    meeting, concerns = record
    services.meeting_end(meeting=meeting, actor=moderator)
    client.force_login(factories.person())
    assert "1 of 3" in visible_text(client.get(meeting.get_absolute_url()))

    publish(concerns["open"], leader)
    publish(concerns["due"], leader)

    text = visible_text(client.get(meeting.get_absolute_url()))
    assert "3 of 3 discussed items answered in writing." in text
    assert "written answer owed" not in text


def test_the_console_of_an_ended_meeting_shows_the_same_count(client, record, moderator):
    meeting, _ = record
    services.meeting_end(meeting=meeting, actor=moderator)
    client.force_login(moderator)

    console = visible_text(client.get(f"/meetings/{meeting.pk}/console/"))

    assert "1 of 3 discussed items answered in writing." in console


def test_a_meeting_that_discussed_nothing_owes_nothing(moderator):
    concern = factories.open_concern(title="Parking spaces")
    meeting = services.meeting_create(
        organiser=moderator, title="Quiet", scheduled_start=timezone.now(), hosts=[]
    )
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
    services.meeting_start(meeting=meeting, actor=moderator)

    assert services.meeting_end(meeting=meeting, actor=moderator) == 0
    assert refreshed(concern).status == Status.OPEN
    assert Meeting.objects.get(pk=meeting.pk).status == "ended"
