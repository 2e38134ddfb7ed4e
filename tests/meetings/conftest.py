"""Fixtures shared by the live-meeting tests."""

from datetime import timedelta

import pytest
from django.utils import timezone

from meetings import services
from meetings.models import Meeting
from tests import factories


def fresh(meeting: Meeting) -> Meeting:
    return Meeting.objects.get(pk=meeting.pk)


@pytest.fixture
def moderator():
    return factories.moderator(first_name="Mo", last_name="Derator")


@pytest.fixture
def employee():
    return factories.person(first_name="Em", last_name="Ployee")


@pytest.fixture
def meeting(moderator):
    meeting = services.meeting_create(
        organiser=moderator,
        title="Spring all-hands",
        scheduled_start=timezone.now() + timedelta(minutes=5),
        hosts=[moderator],
    )
    for title in ("Parking spaces", "Canteen prices", "Lockers"):
        concern = factories.open_concern(title=title)
        services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
    return fresh(meeting)
