"""The main pages in Chromium: no serious or critical finding of axe-core (fetched from
the npm registry, see axe.py), every main action by keyboard with the focus always
visible, and a phone screen without sideways scrolling."""

import pytest

from tests.e2e import site as demo
from tests.e2e.axe import axe_violations
from tests.e2e.browsing import PHONE, Keyboard, Tab, scrolls_sideways, session_cookie, too_wide
from tests.e2e.main_pages import main_pages, readers, visit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

PHONE_SCREENSHOTS = ("concerns.png", "concern-response.png", "meeting-audience.png")


@pytest.fixture
def organisation(clock):
    return demo.build(clock)


def test_axe_core_runs_in_the_page_and_reports_what_it_finds(chromium):
    """The check below passes only if axe really runs: here it must find the image
    without a text alternative and the unnamed button."""
    with chromium() as browser:
        page = browser.new_page()
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Control</title></head>'
            '<body><main><h1>Control</h1><img src="data:,"><button></button></main></body></html>'
        )
        found = axe_violations(page)
    assert [line.split(" ", 1)[0] for line in found] == ["button-name", "image-alt"]


def test_no_main_page_has_a_serious_or_critical_accessibility_violation(
    asgi_live_server, chromium, organisation, screenshots
):
    pages, cookies = main_pages(organisation), readers(organisation)
    found: dict[str, list[str]] = {}
    with chromium() as browser:
        for main_page, tab in visit(browser, asgi_live_server, pages, cookies):
            violations = axe_violations(tab.page)
            if violations:
                found[main_page.name] = violations
            if main_page.screenshot:
                tab.page.screenshot(path=screenshots / main_page.screenshot, full_page=True)
    assert found == {}


def test_the_main_pages_fit_a_phone_screen_without_sideways_scrolling(
    asgi_live_server, chromium, organisation, screenshots
):
    pages, cookies = main_pages(organisation), readers(organisation)
    wide: dict[str, list[str]] = {}
    with chromium() as browser:
        for main_page, tab in visit(browser, asgi_live_server, pages, cookies, viewport=PHONE):
            assert tab.page.evaluate("window.innerWidth") == PHONE["width"]
            if scrolls_sideways(tab.page):
                wide[main_page.name] = too_wide(tab.page)
            if main_page.screenshot in PHONE_SCREENSHOTS:
                name = main_page.screenshot.replace(".png", "-phone.png")
                tab.page.screenshot(path=screenshots / name)
    assert wide == {}


def test_every_main_action_can_be_done_with_the_keyboard_and_shows_where_the_focus_is(
    asgi_live_server, chromium, organisation
):
    from playwright.sync_api import expect

    site = organisation
    moderator_cookie = session_cookie(site.people.moderator)
    with chromium() as browser:
        page = Tab(browser, asgi_live_server).page
        keys = Keyboard(page)

        page.goto("/accounts/sign-in/")
        keys.tab_to(page.get_by_label("Username"))
        keys.type("erin")
        keys.tab_to(page.get_by_label("Password"))
        keys.type(demo.PASSWORD)
        keys.submit("Enter")
        expect(page.get_by_role("button", name="Sign out Erin Walsh")).to_be_visible()

        # The first Tab on a page shows the way past the navigation.
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        assert skip.bounding_box()["x"] >= 0

        page.goto(site.open.get_absolute_url())
        keys.tab_to(page.get_by_role("button", name="Support this concern"))
        keys.submit("Space")
        expect(page.locator(".messages")).to_contain_text("Your vote was counted.")

        page.goto(site.answered.get_absolute_url())
        keys.tab_to(page.get_by_label("It answered the concern", exact=True))
        keys.press("Space")
        keys.tab_to(page.get_by_role("button", name="Rate"))
        keys.submit("Enter")
        expect(page.locator(".messages")).to_contain_text("Your rating is counted without")

        page.goto("/concerns/new/")
        keys.tab_to(page.get_by_label("Title"))
        keys.type("The fire exit on floor 2 is blocked by boxes")
        keys.tab_to(page.get_by_label("Description"))
        keys.type("Deliveries are stacked in front of it every morning.")
        keys.tab_to(page.get_by_label("Facilities"))
        keys.press("Space")
        keys.tab_to(page.get_by_label("Named: my name is shown with the concern"))
        keys.press("ArrowDown")
        expect(page.get_by_label("Anonymous: nothing links the concern to me")).to_be_checked()
        keys.tab_to(page.get_by_role("button", name="Send to moderators"))
        keys.submit("Enter")
        expect(
            page.get_by_role("heading", name="Your concern was sent anonymously")
        ).to_be_visible()

        page.goto("/ledger/")
        keys.tab_to(page.get_by_role("button", name="Verify"))
        keys.submit("Enter")
        expect(page.locator(".proof.ok")).to_contain_text("The chain is intact")

        # A moderator approves the concern that waits for review.
        moderator = Tab(browser, asgi_live_server, moderator_cookie).page
        moderator_keys = Keyboard(moderator)
        moderator.goto(site.awaiting.get_absolute_url())
        moderator_keys.tab_to(moderator.get_by_role("button", name="Approve for the next batch"))
        moderator_keys.submit("Enter")
        expect(moderator.locator(".messages")).to_contain_text("is approved.")

        # Its anonymous submitter, signed out, answers the moderator's question.
        submitter = Tab(browser, asgi_live_server).page
        submitter_keys = Keyboard(submitter)
        submitter.goto("/receipt/")
        submitter_keys.tab_to(submitter.get_by_label("Receipt"))
        submitter_keys.type(site.receipt)
        submitter_keys.submit("Enter")
        submitter_keys.tab_to(submitter.get_by_label("Answer the moderators anonymously"))
        submitter_keys.type("The mobile app team, both times.")
        submitter_keys.tab_to(submitter.get_by_role("button", name="Send anonymously"))
        submitter_keys.submit("Enter")
        expect(submitter.locator(".messages-list .from-submitter")).to_contain_text(
            "The mobile app team, both times."
        )

    assert keys.unseen + moderator_keys.unseen + submitter_keys.unseen == []
