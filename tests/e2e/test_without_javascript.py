"""With JavaScript turned off, everything still works through plain forms: an employee
raises a concern, a moderator approves it, plans an all-hands and runs it from the
console, colleagues support the concern past the threshold, and the audience page
shows each new state when it is loaded again."""

import re

import pytest

from concerns.models import Concern, Status
from meetings.models import Meeting, MeetingStatus
from tests.e2e import site as demo
from tests.e2e.browsing import Tab, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TITLE = "The fire exit on floor 2 is blocked by boxes"


def test_concerns_votes_and_a_meeting_console_work_with_javascript_turned_off(
    asgi_live_server, chromium, clock, screenshots
):
    from playwright.sync_api import expect

    clock(demo.DAY_ONE, 9)
    demo.organisation_settings(vote_threshold=3)
    team = demo.people()
    demo.tags()
    voters = team.colleagues[:3]
    cookies = {
        person.username: session_cookie(person)
        for person in [team.employee, team.moderator, *voters]
    }

    def tab(person) -> Tab:
        return Tab(browser, asgi_live_server, cookies[person.username], java_script=False)

    with chromium() as browser:
        employee = tab(team.employee)
        page = employee.page
        page.goto("/concerns/new/")
        assert page.evaluate("1 + 1") == 2  # Playwright still reads the page ...
        assert not page.evaluate(
            "document.documentElement.classList.contains('js')"
        )  # ... its own scripts do not run
        page.get_by_label("Title").fill(TITLE)
        page.get_by_label("Description").fill(
            "Deliveries are stacked in front of it every morning."
        )
        page.get_by_label("Facilities").check()
        page.get_by_role("button", name="Send to moderators").click()
        expect(page.locator(".messages")).to_have_text("Your concern was sent to the moderators.")
        expect(page.locator(".concern header .status")).to_have_text("Submitted")

        moderator = tab(team.moderator).page
        moderator.goto("/moderation/")
        moderator.get_by_role("link", name=TITLE).click()
        moderator.get_by_role("button", name="Approve and publish").click()
        expect(moderator.locator(".messages")).to_have_text(f"“{TITLE}” is now open to everyone.")

        moderator.goto("/meetings/")
        moderator.get_by_text("Plan a meeting").click()  # <details> opens without a script
        moderator.get_by_label("Title").fill("Spring all-hands")
        moderator.get_by_label("Scheduled start").fill("2026-03-02T14:00")
        moderator.get_by_role("button", name="Plan meeting").click()
        expect(moderator.get_by_role("heading", level=1)).to_have_text("Console: Spring all-hands")
        moderator.get_by_text("Add a concern").click()
        moderator.get_by_label("Concern").select_option(label=TITLE)
        moderator.get_by_role("button", name="Add", exact=True).click()
        expect(moderator.locator(".messages")).to_have_text("Added to the agenda.")
        moderator.get_by_role("button", name="Start the meeting").click()
        expect(moderator.locator(".messages")).to_have_text("The meeting is live.")
        expect(moderator.locator("#current-title")).to_have_text(TITLE)
        console_url = moderator.url

        page.goto("/meetings/")
        page.get_by_role("link", name="Spring all-hands").click()
        expect(page.locator("#meeting-status")).to_have_text("Live")
        expect(page.locator("#current-title")).to_have_text(TITLE)
        expect(page.locator("#current-votes")).to_have_text("0 votes")
        expect(page.locator("#live-note")).to_be_hidden()  # no promise of live updates
        audience_url = page.url

        for n, person in enumerate(voters, start=1):
            voter = tab(person).page
            voter.goto("/")
            voter.get_by_role("link", name=TITLE).click()
            voter.get_by_role("button", name="Support this concern").click()
            expect(voter.locator(".messages")).to_contain_text("Your vote was counted.")
            expect(voter.locator(".vote-box .votes")).to_have_text(
                f"{n} vote{'s' if n > 1 else ''}"
            )
        expect(voter.locator(".concern header .status")).to_have_text("Response due")

        page.goto(audience_url)
        expect(page.locator("#current-votes")).to_have_text("3 votes")

        moderator.goto(console_url)
        moderator.get_by_role("button", name="Mark current item discussed").click()
        expect(moderator.locator(".messages")).to_have_text(
            "Marked as discussed. It still needs a written response."
        )
        moderator.get_by_role("button", name="End the meeting").click()
        expect(moderator.locator(".messages")).to_contain_text("The meeting has ended.")

        page.goto(audience_url)
        expect(page.locator("#meeting-status")).to_have_text("Ended")
        expect(page.locator("#debt")).to_contain_text("0 of 1 discussed items answered in writing")
        expect(page.locator("#agenda")).to_contain_text(
            re.compile(r"Discussed\s+written answer owed")
        )
        page.screenshot(path=screenshots / "meeting-ended-without-javascript.png", full_page=True)
        assert employee.problems == []

    concern = Concern.objects.get(title=TITLE)
    assert (concern.status, concern.vote_count, concern.author_id) == (
        Status.RESPONSE_DUE,
        3,
        team.employee.pk,
    )
    meeting = Meeting.objects.get(title="Spring all-hands")
    assert meeting.status == MeetingStatus.ENDED
    assert list(meeting.items.values_list("concern__title", flat=True)) == [TITLE]
