"""The agenda of an all-hands: proposed from the concerns that most need an answer,
then shaped by moderators through the console's plain HTML forms."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation
from concerns import services as concern_services
from concerns.errors import IllegalTransition
from concerns.models import Concern
from meetings import services
from meetings.models import AgendaItem, ItemSource, Meeting
from responses import services as response_services
from responses.models import RatingValue
from tests import factories
from tests.responses import DAY_ONE, days_after, due_concern, publish, travel_to, vote

pytestmark = pytest.mark.django_db


def planned_meeting(moderator, *, title: str = "Spring all-hands") -> Meeting:
    return services.meeting_create(
        organiser=moderator,
        title=title,
        scheduled_start=timezone.now() + timedelta(days=7),
        hosts=[moderator],
    )


def agenda(meeting: Meeting) -> list[tuple[str, str, int | None]]:
    return [
        (item.title, item.source, item.time_box_minutes)
        for item in meeting.items.select_related("concern").order_by("position")
    ]


def fresh(meeting: Meeting) -> Meeting:
    return Meeting.objects.get(pk=meeting.pk)


def visible_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def agenda_titles(response) -> list[str]:
    """The agenda as the page lists it, top to bottom."""
    spans = re.findall(r'<span class="agenda-title">(.*?)</span>', response.content.decode(), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", span)).strip() for span in spans]


def act(client, meeting: Meeting, action: str, **data):
    return client.post(reverse("meetings:act", args=[meeting.pk, action]), data, follow=True)


@pytest.fixture
def moderator():
    return factories.moderator(first_name="Mo", last_name="Derator")


@pytest.fixture
def meeting(moderator):
    return planned_meeting(moderator)


@pytest.fixture
def as_moderator(client, moderator):
    client.force_login(moderator)
    return client


# The proposal ------------------------------------------------------------------------


def _escalated_concern(*, title: str):
    leader = factories.leader()
    concern = due_concern(leader=leader, title=title)
    version = publish(concern, leader)
    for _ in range(5):
        response_services.rating_cast(
            concern=concern, rater=factories.person(), value=RatingValue.NOT_ANSWERED
        )
    concern = Concern.objects.get(pk=concern.pk)
    assert concern.escalated_on is not None and version.number == 1
    return concern


def test_the_proposed_agenda_puts_supported_then_overdue_then_escalated_concerns_once_each(
    monkeypatch, moderator
):
    organisation = Organisation.current()
    organisation.agenda_vote_threshold = 3
    organisation.save()
    travel_to(monkeypatch, DAY_ONE)
    due_concern(title="Lockers were removed")
    heating = due_concern(title="Heating fails every Monday")
    travel_to(monkeypatch, days_after(DAY_ONE, 20))  # both deadlines have passed
    meeting = planned_meeting(moderator)
    hybrid = factories.open_concern(title="Hybrid work rules")
    vote(hybrid, 8)
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=hybrid)
    vote(factories.open_concern(title="Parking spaces"), 5)
    vote(heating, 4)
    vote(factories.open_concern(title="Bike racks"), 3)
    vote(factories.open_concern(title="Office plants"), 2)
    answered = due_concern(leader=(leader := factories.leader()), title="Canteen prices")
    publish(answered, leader)
    vote(answered, 9)
    escalated = _escalated_concern(title="Pay bands are secret")
    vote(escalated, 6)

    added = services.agenda_propose(meeting=meeting, moderator=moderator)

    assert added == 5
    assert [(title, source) for title, source, _ in agenda(meeting)] == [
        ("Hybrid work rules", ItemSource.MODERATOR),
        ("Parking spaces", ItemSource.SUPPORT),
        ("Heating fails every Monday", ItemSource.SUPPORT),
        ("Bike racks", ItemSource.SUPPORT),
        ("Lockers were removed", ItemSource.OVERDUE),
        ("Pay bands are secret", ItemSource.ESCALATED),
    ]


def test_proposing_again_adds_nothing_new_and_changes_nothing(moderator, meeting):
    organisation = Organisation.current()
    organisation.agenda_vote_threshold = 2
    organisation.save()
    vote(factories.open_concern(title="Parking spaces"), 2)
    assert services.agenda_propose(meeting=meeting, moderator=moderator) == 1
    before = (agenda(meeting), fresh(meeting).sequence)

    assert services.agenda_propose(meeting=meeting, moderator=moderator) == 0

    assert (agenda(meeting), fresh(meeting).sequence) == before


def test_a_moderator_proposes_the_agenda_from_the_console_and_sees_it_in_order(
    as_moderator, meeting
):
    organisation = Organisation.current()
    organisation.agenda_vote_threshold = 2
    organisation.save()
    vote(factories.open_concern(title="Bike racks"), 2)
    vote(factories.open_concern(title="Parking spaces"), 3)

    page = act(as_moderator, meeting, "propose")

    assert "2 concern(s) proposed for the agenda." in visible_text(page)
    assert agenda_titles(page) == ["Parking spaces", "Bike racks"]
    assert visible_text(page).count("Past the agenda threshold") == 2


# Moderators shape the agenda ---------------------------------------------------------


def test_a_moderator_adds_a_concern_and_a_free_topic_with_time_boxes(as_moderator, meeting):
    concern = factories.open_concern(title="Parking spaces")

    first = act(as_moderator, meeting, "add-concern", concern=concern.pk, time_box_minutes=10)
    second = act(as_moderator, meeting, "add-topic", topic="Q3 results", time_box_minutes=15)

    assert "Added to the agenda." in visible_text(first)
    assert agenda_titles(second) == ["Parking spaces", "Q3 results"]
    assert "10 min" in visible_text(second) and "15 min" in visible_text(second)
    assert agenda(meeting) == [
        ("Parking spaces", ItemSource.MODERATOR, 10),
        ("Q3 results", ItemSource.MODERATOR, 15),
    ]


def test_a_time_box_is_optional(as_moderator, meeting):
    act(as_moderator, meeting, "add-topic", topic="Open floor", time_box_minutes="")

    assert agenda(meeting) == [("Open floor", ItemSource.MODERATOR, None)]


def _three_topics(as_moderator, meeting) -> list[AgendaItem]:
    for topic in ("First", "Second", "Third"):
        act(as_moderator, meeting, "add-topic", topic=topic)
    return list(meeting.items.order_by("position"))


def test_a_moderator_reorders_the_agenda_up_and_down_without_javascript(as_moderator, meeting):
    first, second, third = _three_topics(as_moderator, meeting)

    act(as_moderator, meeting, "up", item=third.pk)
    page = act(as_moderator, meeting, "down", item=first.pk)

    assert "Agenda reordered." in visible_text(page)
    assert agenda_titles(page) == ["Third", "First", "Second"]
    assert [item.position for item in meeting.items.order_by("position")] == [1, 2, 3]


def test_moving_the_top_item_up_or_the_last_item_down_changes_nothing(as_moderator, meeting):
    first, _, third = _three_topics(as_moderator, meeting)
    sequence = fresh(meeting).sequence

    act(as_moderator, meeting, "up", item=first.pk)
    act(as_moderator, meeting, "down", item=third.pk)

    assert [title for title, _, _ in agenda(meeting)] == ["First", "Second", "Third"]
    assert fresh(meeting).sequence == sequence


def test_a_moderator_removes_an_item_and_the_rest_close_ranks(as_moderator, meeting):
    _, second, _ = _three_topics(as_moderator, meeting)

    page = act(as_moderator, meeting, "remove", item=second.pk)

    assert "Removed from the agenda." in visible_text(page)
    assert agenda_titles(page) == ["First", "Third"]
    assert [item.position for item in meeting.items.order_by("position")] == [1, 2]


def test_the_current_and_discussed_items_cannot_be_removed(moderator, as_moderator, meeting):
    first, second, _ = _three_topics(as_moderator, meeting)
    services.meeting_start(meeting=meeting, actor=moderator)
    services.agenda_item_mark_discussed(item=first, actor=moderator)
    services.meeting_advance(meeting=meeting, actor=moderator)

    discussed = act(as_moderator, meeting, "remove", item=first.pk)
    current = act(as_moderator, meeting, "remove", item=second.pk)

    assert "A discussed item stays on the record." in visible_text(discussed)
    assert "Move to another item before removing the current one." in visible_text(current)
    assert [title for title, _, _ in agenda(meeting)] == ["First", "Second", "Third"]


CHOOSE_A_CONCERN = "Choose a public concern."
TIME_BOX = "A time box is between 1 and 240 minutes."


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("add-concern", {}, CHOOSE_A_CONCERN),
        # The concern is fine here: the message must point at the time box.
        ("add-concern", {"time_box_minutes": 0, "concern": "PUBLIC"}, TIME_BOX),
        ("add-concern", {"time_box_minutes": 500, "concern": "PUBLIC"}, TIME_BOX),
        ("add-concern", {"concern": "SUBMITTED"}, CHOOSE_A_CONCERN),
        ("add-concern", {"concern": "ON_AGENDA"}, "That concern is already on the agenda."),
        ("add-topic", {"topic": "   "}, "Write a topic of at most 140 characters."),
        ("add-topic", {"topic": "Q3", "time_box_minutes": 0}, TIME_BOX),
        ("add-topic", {"topic": "Q3", "time_box_minutes": 500}, TIME_BOX),
        ("add-topic", {"topic": "x" * 141}, "Write a topic of at most 140 characters."),
        ("remove", {}, "Choose an item on this meeting's agenda."),
        ("up", {"item": "OTHER_MEETING"}, "Choose an item on this meeting's agenda."),
    ],
    ids=[
        "no concern",
        "time box 0",
        "time box 500",
        "concern not public",
        "concern already on the agenda",
        "blank topic",
        "topic with time box 0",
        "topic with time box 500",
        "topic too long",
        "no item",
        "item of another meeting",
    ],
)
def test_bad_agenda_input_gives_a_readable_message_and_changes_nothing(
    moderator, as_moderator, meeting, action, data, message
):
    on_agenda = factories.open_concern(title="Already there")
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=on_agenda)
    other = planned_meeting(moderator, title="Another meeting")
    other_item = services.agenda_item_add(meeting=other, moderator=moderator, topic="Elsewhere")
    stand_ins = {
        "PUBLIC": factories.open_concern().pk,
        "SUBMITTED": factories.submission(title="Not yet moderated").concern.pk,
        "ON_AGENDA": on_agenda.pk,
        "OTHER_MEETING": other_item.pk,
    }
    data = {key: stand_ins.get(value, value) for key, value in data.items()}
    before = (agenda(meeting), fresh(meeting).sequence)

    page = act(as_moderator, meeting, action, **data)

    assert page.status_code == 200
    assert message in visible_text(page)
    assert (agenda(meeting), fresh(meeting).sequence) == before
    assert agenda(other) == [("Elsewhere", ItemSource.MODERATOR, None)]


def test_a_concern_that_is_not_public_is_not_offered_on_the_console(as_moderator, meeting):
    factories.submission(title="Not yet moderated")
    factories.open_concern(title="Parking spaces")

    text = visible_text(as_moderator.get(reverse("meetings:console", args=[meeting.pk])))

    assert "Parking spaces" in text
    assert "Not yet moderated" not in text


# Who may change the agenda -----------------------------------------------------------


def test_an_employee_gets_403_on_the_console(client, meeting):
    client.force_login(factories.person())

    response = client.get(reverse("meetings:console", args=[meeting.pk]))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "action",
    ["propose", "add-concern", "add-topic", "remove", "up", "down", "notes", "start"],
)
def test_an_employee_posting_to_the_console_changes_nothing(client, moderator, meeting, action):
    organisation = Organisation.current()
    organisation.agenda_vote_threshold = 1
    organisation.save()
    concern = factories.open_concern(title="Parking spaces")
    vote(concern, 1)
    first = services.agenda_item_add(meeting=meeting, moderator=moderator, topic="First")
    services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Second")
    before = (agenda(meeting), fresh(meeting).sequence, fresh(meeting).status)
    client.force_login(factories.person())

    response = client.post(
        reverse("meetings:act", args=[meeting.pk, action]),
        {"item": first.pk, "concern": concern.pk, "topic": "Mine", "notes": "Hijacked"},
    )

    assert response.status_code in (302, 403)
    assert (agenda(meeting), fresh(meeting).sequence, fresh(meeting).status) == before
    assert AgendaItem.objects.get(pk=first.pk).notes == ""


def test_an_ended_meetings_agenda_cannot_change(moderator, as_moderator, meeting):
    first = services.agenda_item_add(meeting=meeting, moderator=moderator, topic="First")
    services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Second")
    services.meeting_start(meeting=meeting, actor=moderator)
    services.meeting_end(meeting=meeting, actor=moderator)
    vote(factories.open_concern(title="Parking spaces"), 30)
    before = (agenda(meeting), fresh(meeting).sequence)

    pages = [
        act(as_moderator, meeting, "propose"),
        act(as_moderator, meeting, "add-topic", topic="Late addition"),
        act(as_moderator, meeting, "remove", item=first.pk),
        act(as_moderator, meeting, "down", item=first.pk),
    ]

    for page in pages:
        assert "The meeting has ended; its agenda is part of the record." in visible_text(page)
    assert (agenda(meeting), fresh(meeting).sequence) == before
    console = as_moderator.get(reverse("meetings:console", args=[meeting.pk]))
    assert "Add a free topic" not in visible_text(console)
    with pytest.raises(IllegalTransition):
        services.agenda_item_move(item=first, moderator=moderator, direction="down")


# Notes ---------------------------------------------------------------------------------


NOTES = (
    "**Decided:** parking goes to car-sharers first.\n\n"
    "<script>alert('x')</script>\n\n"
    "[details](javascript:alert(1)) and <img src=x onerror=alert(1)>"
)


def test_notes_are_markdown_sanitised_and_shown_with_the_ended_meeting(
    client, moderator, as_moderator, meeting
):
    item = services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Parking")
    saved = act(as_moderator, meeting, "notes", item=item.pk, notes=NOTES)
    assert "Notes saved." in visible_text(saved)
    employee = factories.person()
    client.force_login(employee)
    before_the_end = client.get(meeting.get_absolute_url()).content.decode()
    services.meeting_start(meeting=meeting, actor=moderator)
    services.meeting_end(meeting=meeting, actor=moderator)

    page = client.get(meeting.get_absolute_url()).content.decode()

    assert "parking goes to car-sharers first" not in before_the_end
    assert "<strong>Decided:</strong> parking goes to car-sharers first." in page
    assert "<script>alert" not in page
    assert "javascript:" not in page
    assert "onerror" not in page
    assert "<img" not in page


def test_notes_longer_than_the_limit_are_refused(moderator, as_moderator, meeting):
    item = services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Parking")

    page = act(as_moderator, meeting, "notes", item=item.pk, notes="x" * 20_001)

    assert "Notes must be at most 20,000 characters." in visible_text(page)
    assert AgendaItem.objects.get(pk=item.pk).notes == ""


def test_moderators_see_the_agenda_sources_they_can_act_on(as_moderator, meeting, moderator):
    concern = factories.open_concern(title="Parking spaces")
    concern_services.vote_cast(concern=concern, voter=factories.person())
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)

    text = visible_text(as_moderator.get(reverse("meetings:console", args=[meeting.pk])))

    assert "Parking spaces 1 vote · Added by a moderator" in text
