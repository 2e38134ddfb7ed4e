"""A moderator runs an all-hands from the console while two colleagues watch the
audience and presenter views update by themselves, and a third supports a concern."""

import time
import urllib.request

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from concerns import services as concern_services
from meetings import services
from meetings.models import Meeting, MeetingStatus
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_NOTE = "Live: this page updates by itself."
TIMEOUT_MS = 10_000


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Tab:
    """One signed-in person's browser, with what its console reported."""

    def __init__(self, browser, base_url: str, cookie: str):
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": 1200, "height": 800}
        )
        self.context.add_cookies([{"name": "sessionid", "value": cookie, "url": base_url}])
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))

    def _console(self, message) -> None:
        # Browsers ask for /favicon.ico by themselves; the site has none.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            self.problems.append(message.text)

    def open(self, path: str) -> "Tab":
        self.page.goto(path)
        # Survives only as long as the page is not reloaded.
        self.page.evaluate("window.neverReloaded = true")
        return self

    def never_reloaded(self) -> bool:
        return self.page.evaluate("window.neverReloaded === true")


@pytest.mark.e2e
def test_two_browsers_watch_a_meeting_the_moderator_runs_from_the_console(
    asgi_live_server, chromium, step_screenshots
):
    from playwright.sync_api import expect

    moderator = factories.moderator(first_name="Mia", last_name="Moderator")
    parking = factories.open_concern(title="Parking spaces at the new office")
    canteen = factories.open_concern(title="Canteen prices went up again")
    for concern, votes in ((parking, 2), (canteen, 1)):
        for _ in range(votes):
            concern_services.vote_cast(concern=concern, voter=factories.person())
    meeting = services.meeting_create(
        organiser=moderator,
        title="Spring all-hands",
        scheduled_start=timezone.now(),
        hosts=[moderator],
    )
    first = services.agenda_item_add(meeting=meeting, moderator=moderator, concern=parking)
    services.agenda_item_add(meeting=meeting, moderator=moderator, concern=canteen)
    cookies = {
        who: session_cookie(person)
        for who, person in (
            ("moderator", moderator),
            ("audience", factories.person(first_name="Ann")),
            ("presenter", factories.person(first_name="Pete")),
            ("voter", factories.person(first_name="Vic")),
        )
    }
    detail, presenter_url = f"/meetings/{meeting.pk}/", f"/meetings/{meeting.pk}/presenter/"
    console_url = f"/meetings/{meeting.pk}/console/"

    with chromium() as browser:
        tabs = {who: Tab(browser, asgi_live_server, cookie) for who, cookie in cookies.items()}
        audience = tabs["audience"].open(detail).page
        presenter = tabs["presenter"].open(presenter_url).page
        console = tabs["moderator"].open(console_url).page
        voter = tabs["voter"].page

        # The WebSocket opens under the page's CSP (connect-src 'self').
        expect(audience.locator("#live-note")).to_have_text(LIVE_NOTE)
        expect(console.locator("#live-note")).to_have_text(LIVE_NOTE)
        expect(audience.locator("#current-title")).to_have_text("The meeting has not started.")
        expect(presenter.locator("#current-title")).to_have_text("Starting soon")

        console.get_by_role("button", name="Start the meeting").click()
        expect(console.locator(".messages")).to_contain_text("The meeting is live.")
        for page in (audience, presenter):
            expect(page.locator("#meeting-status")).to_have_text("Live")
            expect(page.locator("#current-title")).to_have_text("Parking spaces at the new office")
            expect(page.locator("#current-votes")).to_have_text("2 votes")
        audience.screenshot(path=step_screenshots / "meeting-audience-live.png", full_page=True)

        voter.goto(parking.get_absolute_url())
        voter.get_by_role("button", name="Support this concern").click()
        expect(voter.locator(".messages")).to_contain_text("Your vote was counted.")
        for page in (audience, presenter):
            expect(page.locator("#current-votes")).to_have_text("3 votes")
        expect(audience.locator(f'#agenda [data-item="{first.pk}"] [data-votes]')).to_have_text("3")
        presenter.screenshot(path=step_screenshots / "meeting-presenter-votes.png", full_page=True)

        console.get_by_role("button", name="Mark current item discussed").click()
        expect(audience.locator(f'#agenda [data-item="{first.pk}"]')).to_have_class(
            "current discussed"
        )

        console.get_by_role("button", name="Next item").click()
        for page in (audience, presenter):
            expect(page.locator("#current-title")).to_have_text("Canteen prices went up again")
            expect(page.locator("#current-votes")).to_have_text("1 vote")
        expect(audience.locator(f'#agenda [data-item="{first.pk}"] [data-state]')).to_have_text(
            "Discussed"
        )
        console.screenshot(path=step_screenshots / "meeting-console-next-item.png", full_page=True)

        voter.goto(canteen.get_absolute_url())
        voter.get_by_role("button", name="Support this concern").click()
        for page in (audience, presenter):
            expect(page.locator("#current-votes")).to_have_text("2 votes")
        audience.screenshot(
            path=step_screenshots / "meeting-audience-next-item.png", full_page=True
        )

        console.get_by_role("button", name="End the meeting").click()
        expect(presenter.locator("#current-title")).to_have_text("Thank you")
        expect(audience.locator("#current-title")).to_have_text("The meeting has ended.")
        expect(audience.locator("#meeting-status")).to_have_text("Ended")
        presenter.screenshot(path=step_screenshots / "meeting-presenter-ended.png", full_page=True)

        assert tabs["audience"].never_reloaded() and tabs["presenter"].never_reloaded()
        problems = {who: tab.problems for who, tab in tabs.items() if tab.problems}

    assert problems == {}
    meeting = Meeting.objects.get(pk=meeting.pk)
    assert meeting.status == MeetingStatus.ENDED
    assert meeting.items.get(pk=first.pk).concern.status == "response_due"


@pytest.mark.postgres
def test_the_asgi_server_leaves_no_database_connection_open_after_a_request(asgi_live_server):
    """Daphne runs each request in a thread of its own. Django's docs: "When using
    ASGI, persistent connections should be disabled"; with CONN_MAX_AGE above zero
    every request leaves an idle connection behind until PostgreSQL runs out."""
    moderator = factories.moderator()
    meeting = services.meeting_create(
        organiser=moderator, title="Spring all-hands", scheduled_start=timezone.now(), hosts=[]
    )
    cookie = session_cookie(moderator)

    def server_connections() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return {pid for (pid,) in cursor.fetchall()}

    before = server_connections()
    for path in ("/meetings/", f"/meetings/{meeting.pk}/", f"/meetings/{meeting.pk}/console/"):
        url = asgi_live_server + path  # always http://127.0.0.1:<port>/...
        request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200

    deadline = time.monotonic() + 3
    while server_connections() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_connections() - before == set()
