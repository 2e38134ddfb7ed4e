"""Running a meeting: start, move through the agenda, mark items discussed, end. Every
change a live client can see numbers itself with the meeting's sequence, one by one."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from concerns import services as concern_services
from concerns.errors import IllegalTransition, InvalidInput, NotAllowed
from meetings import services
from meetings.models import Meeting, MeetingStatus
from tests import factories

pytestmark = pytest.mark.django_db


def visible_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def fresh(meeting: Meeting) -> Meeting:
    return Meeting.objects.get(pk=meeting.pk)


@pytest.fixture
def moderator():
    return factories.moderator()


@pytest.fixture
def concerns():
    return [factories.open_concern(title=t) for t in ("Parking", "Canteen", "Lockers")]


@pytest.fixture
def meeting(moderator, concerns):
    meeting = services.meeting_create(
        organiser=moderator,
        title="Spring all-hands",
        scheduled_start=timezone.now() + timedelta(hours=1),
        hosts=[moderator],
    )
    for concern in concerns:
        services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
    return fresh(meeting)


def items(meeting: Meeting):
    return list(meeting.items.order_by("position"))


def act(client, meeting: Meeting, action: str, **data):
    return client.post(reverse("meetings:act", args=[meeting.pk, action]), data, follow=True)


# The happy path ---------------------------------------------------------------------


def test_starting_makes_the_meeting_live_on_its_first_item(moderator, meeting):
    services.meeting_start(meeting=meeting, actor=moderator)

    meeting = fresh(meeting)
    assert meeting.status == MeetingStatus.LIVE
    assert meeting.started_at is not None
    assert meeting.current_item == items(meeting)[0]


def test_a_moderator_runs_the_meeting_from_the_console_without_javascript(
    client, moderator, meeting
):
    client.force_login(moderator)
    first, second, third = items(meeting)

    started = act(client, meeting, "start")
    assert "The meeting is live." in visible_text(started)
    assert "Now Parking" in visible_text(started)

    discussed = act(client, meeting, "discussed", item=first.pk)
    assert "Marked as discussed. It still needs a written response." in visible_text(discussed)

    moved = act(client, meeting, "advance")
    assert "Moved on." in visible_text(moved)
    assert "Now Canteen" in visible_text(moved)

    jumped = act(client, meeting, "advance", item=third.pk)
    assert "Now Lockers" in visible_text(jumped)

    ended = act(client, meeting, "end")
    assert "The meeting has ended. 1 discussed concern(s) now owe a written response." in (
        visible_text(ended)
    )
    meeting = fresh(meeting)
    assert meeting.status == MeetingStatus.ENDED
    assert meeting.ended_at is not None
    assert meeting.current_item is None
    assert [item.discussed_at is not None for item in items(meeting)] == [True, False, False]


def test_going_to_an_item_jumps_there_and_next_continues_from_it(moderator, meeting):
    first, second, third = items(meeting)
    services.meeting_start(meeting=meeting, actor=moderator)

    services.meeting_advance(meeting=meeting, actor=moderator, item=third)
    assert fresh(meeting).current_item == third
    services.meeting_advance(meeting=meeting, actor=moderator, item=first)
    services.meeting_advance(meeting=meeting, actor=moderator)

    assert fresh(meeting).current_item == second


def test_a_host_who_is_an_employee_may_run_the_meeting(moderator, meeting):
    host = factories.person()
    meeting.hosts.add(host)

    services.meeting_start(meeting=meeting, actor=host)
    services.meeting_advance(meeting=meeting, actor=host)
    services.agenda_item_mark_discussed(item=items(meeting)[1], actor=host)
    services.meeting_end(meeting=meeting, actor=host)

    assert fresh(meeting).status == MeetingStatus.ENDED


# Illegal moves ------------------------------------------------------------------------


def _live(meeting, moderator) -> Meeting:
    services.meeting_start(meeting=meeting, actor=moderator)
    return fresh(meeting)


def test_advancing_past_the_last_item_says_so_and_changes_nothing(moderator, meeting):
    meeting = _live(meeting, moderator)
    services.meeting_advance(meeting=meeting, actor=moderator, item=items(meeting)[-1])
    before = fresh(meeting)

    with pytest.raises(IllegalTransition, match="This is the last item on the agenda."):
        services.meeting_advance(meeting=meeting, actor=moderator)

    after = fresh(meeting)
    assert (after.current_item_id, after.sequence) == (before.current_item_id, before.sequence)


def test_starting_twice_is_refused(moderator, meeting):
    meeting = _live(meeting, moderator)

    with pytest.raises(IllegalTransition, match="The meeting has already started."):
        services.meeting_start(meeting=meeting, actor=moderator)

    assert fresh(meeting).sequence == meeting.sequence


def test_an_ended_meeting_cannot_start_again(moderator, meeting):
    meeting = _live(meeting, moderator)
    services.meeting_end(meeting=meeting, actor=moderator)

    with pytest.raises(IllegalTransition, match="The meeting has ended."):
        services.meeting_start(meeting=meeting, actor=moderator)


def test_a_planned_meeting_cannot_end_advance_or_have_items_discussed(moderator, meeting):
    before = fresh(meeting)

    with pytest.raises(IllegalTransition, match="The meeting is not live."):
        services.meeting_end(meeting=meeting, actor=moderator)
    with pytest.raises(IllegalTransition, match="The meeting is not live."):
        services.meeting_advance(meeting=meeting, actor=moderator)
    with pytest.raises(IllegalTransition, match="The meeting is not live."):
        services.agenda_item_mark_discussed(item=items(meeting)[0], actor=moderator)

    after = fresh(meeting)
    assert (after.status, after.sequence) == (MeetingStatus.PLANNED, before.sequence)
    assert all(item.discussed_at is None for item in items(meeting))


def test_an_ended_meeting_cannot_end_again_or_move_on(moderator, meeting):
    meeting = _live(meeting, moderator)
    services.meeting_end(meeting=meeting, actor=moderator)

    with pytest.raises(IllegalTransition, match="The meeting is not live."):
        services.meeting_end(meeting=meeting, actor=moderator)
    with pytest.raises(IllegalTransition, match="The meeting is not live."):
        services.meeting_advance(meeting=meeting, actor=moderator)


def test_going_to_an_item_of_another_meeting_is_refused(moderator, meeting):
    meeting = _live(meeting, moderator)
    other = services.meeting_create(
        organiser=moderator, title="Other", scheduled_start=timezone.now(), hosts=[]
    )
    elsewhere = services.agenda_item_add(meeting=other, moderator=moderator, topic="Elsewhere")

    with pytest.raises(InvalidInput, match="That item is not on this meeting's agenda."):
        services.meeting_advance(meeting=meeting, actor=moderator, item=elsewhere)

    assert fresh(meeting).current_item_id == meeting.current_item_id


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("start", {}, "The meeting has already started."),
        ("discussed", {}, "Choose an item on this meeting's agenda."),
        ("advance", {"item": "999999"}, "Choose an item on this meeting's agenda."),
    ],
)
def test_the_console_shows_illegal_moves_as_messages(
    client, moderator, meeting, action, data, message
):
    meeting = _live(meeting, moderator)
    client.force_login(moderator)

    page = act(client, meeting, action, **data)

    assert page.status_code == 200
    assert f"{message}" in visible_text(page)
    assert fresh(meeting).sequence == meeting.sequence


def test_the_console_says_when_the_last_item_is_reached(client, moderator, meeting):
    meeting = _live(meeting, moderator)
    services.meeting_advance(meeting=meeting, actor=moderator, item=items(meeting)[-1])
    client.force_login(moderator)

    page = act(client, meeting, "advance")

    assert "This is the last item on the agenda." in visible_text(page)


def test_ending_a_planned_meeting_from_the_console_says_it_is_not_live(client, moderator, meeting):
    client.force_login(moderator)

    page = act(client, meeting, "end")

    assert "The meeting is not live." in visible_text(page)
    assert fresh(meeting).status == MeetingStatus.PLANNED


@pytest.mark.parametrize("action", ["start", "advance", "discussed", "end"])
def test_an_employee_cannot_run_the_meeting(moderator, meeting, action):
    employee = factories.person()
    if action != "start":
        meeting = _live(meeting, moderator)
    before = fresh(meeting)
    calls = {
        "start": lambda: services.meeting_start(meeting=meeting, actor=employee),
        "advance": lambda: services.meeting_advance(meeting=meeting, actor=employee),
        "discussed": lambda: services.agenda_item_mark_discussed(
            item=items(meeting)[0], actor=employee
        ),
        "end": lambda: services.meeting_end(meeting=meeting, actor=employee),
    }

    with pytest.raises(NotAllowed, match="Only moderators and the meeting's hosts can run it."):
        calls[action]()

    after = fresh(meeting)
    assert (after.status, after.current_item_id, after.sequence) == (
        before.status,
        before.current_item_id,
        before.sequence,
    )


# Sequence numbers ---------------------------------------------------------------------


def test_every_visible_change_increases_the_sequence_by_exactly_one(moderator, meeting):
    first, second, third = items(meeting)
    voter = factories.person()
    asker = factories.person()
    steps = [
        lambda: services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Q&A"),
        lambda: services.agenda_item_move(item=third, moderator=moderator, direction="up"),
        lambda: services.meeting_start(meeting=meeting, actor=moderator),
        lambda: services.agenda_item_mark_discussed(item=first, actor=moderator),
        lambda: services.meeting_advance(meeting=meeting, actor=moderator),
        lambda: services.meeting_advance(meeting=meeting, actor=moderator, item=first),
        lambda: concern_services.vote_cast(concern=first.concern, voter=voter),
        lambda: concern_services.vote_retract(concern=first.concern, voter=voter),
        lambda: services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=True),
        lambda: services.question_approve(question=meeting.questions.get(), actor=moderator),
        lambda: services.question_vote(question=meeting.questions.get(), voter=voter),
        lambda: services.question_highlight(question=meeting.questions.get(), actor=moderator),
        lambda: services.meeting_end(meeting=meeting, actor=moderator),
    ]
    sequence = fresh(meeting).sequence

    for number, step in enumerate(steps, start=1):
        step()
        assert fresh(meeting).sequence == sequence + number, f"step {number}"


def test_changes_nobody_can_see_leave_the_sequence_alone(moderator, meeting, concerns):
    first = items(meeting)[0]
    meeting = _live(meeting, moderator)
    services.agenda_item_mark_discussed(item=first, actor=moderator)
    sequence = fresh(meeting).sequence
    elsewhere = factories.open_concern(title="Not on the agenda")

    services.agenda_item_mark_discussed(item=first, actor=moderator)  # already discussed
    concern_services.vote_cast(concern=elsewhere, voter=factories.person())

    assert fresh(meeting).sequence == sequence


def test_votes_on_a_concern_move_only_live_meetings_that_show_it(moderator, concerns):
    planned = services.meeting_create(
        organiser=moderator, title="Later", scheduled_start=timezone.now(), hosts=[]
    )
    services.agenda_item_add(meeting=planned, moderator=moderator, concern=concerns[0])
    sequence = fresh(planned).sequence

    concern_services.vote_cast(concern=concerns[0], voter=factories.person())

    assert fresh(planned).sequence == sequence
