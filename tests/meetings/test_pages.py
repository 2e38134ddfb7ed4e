"""The meeting pages: who may open which, and what each shows without JavaScript (the
state as of the page load, which meeting.js then keeps live)."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from concerns import services as concern_services
from meetings import services
from meetings.models import Meeting, MeetingStatus
from tests import factories

pytestmark = pytest.mark.django_db


def visible_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def element_text(response, element_id: str) -> str:
    match = re.search(
        rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', response.content.decode(), re.S
    )
    assert match, f"no #{element_id} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split())


@pytest.fixture
def moderator():
    return factories.moderator()


@pytest.fixture
def employee():
    return factories.person()


def new_meeting(moderator, title: str, *, days: int = 7, hosts=None) -> Meeting:
    return services.meeting_create(
        organiser=moderator,
        title=title,
        scheduled_start=timezone.now() + timedelta(days=days),
        hosts=hosts if hosts is not None else [moderator],
    )


@pytest.fixture
def live(moderator):
    """A live meeting on its second item, "Parking spaces", which has 3 votes."""
    meeting = new_meeting(moderator, "Spring all-hands", days=0)
    canteen = factories.open_concern(title="Canteen prices")
    parking = factories.open_concern(title="Parking spaces")
    for _ in range(3):
        concern_services.vote_cast(concern=parking, voter=factories.person())
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=canteen)
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=parking)
    services.meeting_start(meeting=meeting, actor=moderator)
    first = meeting.items.get(position=1)
    services.agenda_item_mark_discussed(item=first, actor=moderator)
    services.meeting_advance(meeting=meeting, actor=moderator)
    asker = factories.person()
    question, _ = services.question_ask(
        meeting=meeting, asker=asker, text="When do the new spaces open?", anonymous=True
    )
    services.question_approve(question=question, actor=moderator)
    services.question_vote(question=question, voter=asker)
    return Meeting.objects.get(pk=meeting.pk)


# The list -----------------------------------------------------------------------------


def test_the_list_shows_live_upcoming_and_past_meetings(client, moderator, employee, live):
    upcoming = new_meeting(moderator, "Summer all-hands")
    past = new_meeting(moderator, "Winter all-hands", days=-90)
    services.meeting_start(meeting=past, actor=moderator)
    services.meeting_end(meeting=past, actor=moderator)
    client.force_login(employee)

    text = visible_text(client.get(reverse("meetings:list")))

    assert text.index("Live now") < text.index("Spring all-hands") < text.index("Upcoming")
    assert text.index("Upcoming") < text.index(upcoming.title) < text.index("Past")
    assert text.index("Past") < text.index(past.title)
    assert "Plan a meeting" not in text


def test_only_moderators_plan_meetings(client, employee):
    client.force_login(employee)

    response = client.post(
        reverse("meetings:list"), {"title": "Mine", "scheduled_start": "2031-03-03 10:00"}
    )

    assert response.status_code == 403
    assert not Meeting.objects.exists()


def test_a_moderator_plans_a_meeting_and_lands_on_its_console(client, moderator):
    client.force_login(moderator)
    assert "Plan a meeting" in visible_text(client.get(reverse("meetings:list")))

    response = client.post(
        reverse("meetings:list"),
        {"title": "Autumn all-hands", "scheduled_start": "2031-03-03 10:00"},
        follow=True,
    )

    meeting = Meeting.objects.get()
    assert response.redirect_chain[-1][0] == reverse("meetings:console", args=[meeting.pk])
    assert (meeting.title, meeting.status) == ("Autumn all-hands", MeetingStatus.PLANNED)
    assert list(meeting.hosts.all()) == [moderator]


def test_planning_a_meeting_without_a_date_shows_the_form_again(client, moderator):
    client.force_login(moderator)

    response = client.post(reverse("meetings:list"), {"title": "Autumn", "scheduled_start": ""})

    assert response.status_code == 400
    assert "This field is required." in visible_text(response)
    assert not Meeting.objects.exists()


# Who opens which page -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["list", "detail", "presenter", "console"])
def test_every_meeting_page_needs_a_signed_in_person(client, live, name):
    args = [] if name == "list" else [live.pk]

    response = client.get(reverse(f"meetings:{name}", args=args))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))


@pytest.mark.parametrize(
    ("who", "name", "status"),
    [
        ("employee", "detail", 200),
        ("employee", "presenter", 200),
        ("employee", "console", 403),
        ("host", "console", 200),
        ("moderator", "console", 200),
        ("leader", "console", 403),
    ],
)
def test_each_role_opens_the_pages_meant_for_it(client, live, who, name, status):
    person = factories.leader() if who == "leader" else factories.person()
    if who == "moderator":
        person = factories.moderator()
    if who == "host":
        live.hosts.add(person)
    client.force_login(person)

    response = client.get(reverse(f"meetings:{name}", args=[live.pk]))

    assert response.status_code == status


@pytest.mark.parametrize("name", ["detail", "presenter", "console"])
def test_an_unknown_meeting_is_not_found(client, moderator, name):
    client.force_login(moderator)

    assert client.get(reverse(f"meetings:{name}", args=[999999])).status_code == 404


def test_the_audience_page_links_drivers_to_the_console_and_nobody_else(
    client, live, moderator, employee
):
    console = reverse("meetings:console", args=[live.pk])
    client.force_login(employee)
    assert console not in client.get(live.get_absolute_url()).content.decode()

    client.force_login(moderator)
    assert console in client.get(live.get_absolute_url()).content.decode()


# The state as of the page load, without JavaScript --------------------------------------


def test_the_audience_page_shows_the_live_state_without_javascript(client, live, employee):
    client.force_login(employee)

    response = client.get(live.get_absolute_url())

    assert element_text(response, "meeting-status") == "Live"
    assert element_text(response, "current-title") == "Parking spaces"
    assert element_text(response, "current-votes") == "3 votes"
    agenda = element_text(response, "agenda")
    assert agenda.startswith("Canteen prices 0 votes · Added by a moderator Discussed")
    assert "Parking spaces 3 votes · Added by a moderator Now" in agenda
    assert element_text(response, "questions") == "1 When do the new spaces open? anonymous"
    assert f'data-seq="{live.sequence}"' in response.content.decode()
    text = visible_text(response)
    assert "Ask" in text and "Support a question" in text


def test_the_presenter_page_shows_the_current_item_large(client, live, employee):
    client.force_login(employee)

    response = client.get(reverse("meetings:presenter", args=[live.pk]))

    assert 'class="current-title huge" id="current-title">Parking spaces<' in (
        response.content.decode()
    )
    assert element_text(response, "current-votes") == "3 votes"
    assert "When do the new spaces open?" in element_text(response, "questions")
    assert f'data-seq="{live.sequence}"' in response.content.decode()


def test_the_console_shows_the_live_state_and_its_buttons_without_javascript(
    client, live, moderator
):
    client.force_login(moderator)

    response = client.get(reverse("meetings:console", args=[live.pk]))

    assert element_text(response, "current-title") == "Parking spaces"
    assert element_text(response, "current-votes") == "3 votes"
    text = visible_text(response)
    for button in ("Next item", "Mark current item discussed", "End the meeting", "Highlight"):
        assert button in text
    assert "Start the meeting" not in text
    assert f'data-seq="{live.sequence}"' in response.content.decode()
    assert all(
        f'action="{reverse("meetings:act", args=[live.pk, action])}"' in response.content.decode()
        for action in ("advance", "discussed", "end", "up", "down", "notes", "highlight")
    )


def test_a_planned_meeting_says_it_has_not_started(client, moderator, employee):
    meeting = new_meeting(moderator, "Summer all-hands")
    services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Welcome")
    client.force_login(employee)

    audience = client.get(meeting.get_absolute_url())
    presenter = client.get(reverse("meetings:presenter", args=[meeting.pk]))

    assert element_text(audience, "current-title") == "The meeting has not started."
    assert element_text(presenter, "current-title") == "Starting soon"
    assert "Ask" not in visible_text(audience).split("Questions", 1)[1]


def test_an_ended_meeting_thanks_the_room(client, live, moderator, employee):
    services.meeting_end(meeting=live, actor=moderator)
    client.force_login(employee)

    audience = client.get(live.get_absolute_url())
    presenter = client.get(reverse("meetings:presenter", args=[live.pk]))

    assert element_text(audience, "meeting-status") == "Ended"
    assert element_text(audience, "current-title") == "No current item."
    assert element_text(presenter, "current-title") == "Thank you"


def test_every_meeting_page_loads_meeting_js_from_our_own_origin(client, live, moderator):
    client.force_login(moderator)

    for name in ("detail", "presenter", "console"):
        response = client.get(reverse(f"meetings:{name}", args=[live.pk]))
        assert '<script src="/static/js/meeting.js" defer></script>' in response.content.decode()
        assert "connect-src 'self'" in response["Content-Security-Policy"]


def test_the_meeting_page_costs_the_same_queries_however_long_its_agenda(
    client, moderator, employee
):
    def queries_for(agenda_length: int) -> int:
        meeting = new_meeting(moderator, f"Meeting with {agenda_length}")
        for n in range(agenda_length):
            concern = factories.open_concern(title=f"Concern {agenda_length}-{n}")
            services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
        services.meeting_start(meeting=meeting, actor=moderator)
        for n in range(agenda_length):
            services.question_approve(
                question=services.question_ask(
                    meeting=meeting, asker=employee, text=f"Q{n}", anonymous=n % 2 == 0
                )[0],
                actor=moderator,
            )
        client.force_login(employee)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(meeting.get_absolute_url()).status_code == 200
        return len(queries)

    assert queries_for(2) == queries_for(8)
