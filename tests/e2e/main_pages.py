"""The main pages of Answerable, each reached the way its reader reaches it: signed in
as the person who uses it, or signed out, and through a form where the page is the
answer to one (the receipt pages never have a URL of their own)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from notifications.services import unsubscribe_token
from tests.e2e.browsing import Tab, session_cookie
from tests.e2e.site import ACCESS_PHRASE, Site


@dataclass(frozen=True)
class MainPage:
    name: str
    reader: str  # "employee", "moderator", "leader" or "signed_out"
    reach: Callable  # (page) -> None: leaves the page showing it
    screenshot: str = ""  # its file in docs/screenshots, for the README


def main_pages(site: Site) -> list[MainPage]:
    """Runs the ORM (the unsubscribe link is signed for a person): call it before
    entering the browser."""
    unsubscribe = f"/unsubscribe/{unsubscribe_token(site.people.employee)}/"

    def go(path):
        return lambda page: page.goto(path)

    def receipt_issued(page):
        page.goto("/concerns/anonymous/")
        page.get_by_label("Access phrase").fill(ACCESS_PHRASE)
        page.get_by_label("Title").fill("The lift on floor 3 has been broken for weeks")
        page.get_by_label("Description").fill("Colleagues who use wheelchairs cannot reach us.")
        page.get_by_role("button", name="Send anonymously").click()
        page.get_by_text("This is your receipt.").wait_for()

    def response_with_versions(page):
        page.goto(site.answered.get_absolute_url())
        page.get_by_text("All 2 versions and what changed").click()

    def ledger_verified(page):
        page.goto("/ledger/")
        page.get_by_role("button", name="Verify").click()
        page.get_by_text("The chain is intact").wait_for()

    def receipt_status(page):
        page.goto("/receipt/")
        page.get_by_label("Receipt").fill(site.receipt)
        page.get_by_role("button", name="Show my concern").click()
        page.get_by_role("heading", name=site.awaiting.title).wait_for()

    return [
        MainPage("sign-in", "signed_out", go("/accounts/sign-in/")),
        MainPage("concern list", "employee", go("/"), "concerns.png"),
        MainPage("concern detail", "employee", go(site.open.get_absolute_url())),
        MainPage("response", "employee", response_with_versions, "concern-response.png"),
        MainPage(
            "overdue concern",
            "employee",
            go(site.overdue.get_absolute_url()),
            "overdue-concern.png",
        ),
        MainPage("submit form", "employee", go("/concerns/new/")),
        MainPage("public anonymous form", "signed_out", go("/concerns/anonymous/")),
        MainPage("receipt issued", "signed_out", receipt_issued),
        MainPage("receipt look-up", "signed_out", go("/receipt/")),
        MainPage("receipt status", "signed_out", receipt_status),
        MainPage(
            "accountability dashboard", "employee", go("/accountability/"), "accountability.png"
        ),
        MainPage("overdue list", "employee", go("/overdue/")),
        MainPage(
            "meeting audience",
            "employee",
            go(site.meeting.get_absolute_url()),
            "meeting-audience.png",
        ),
        MainPage("ledger", "employee", ledger_verified, "ledger.png"),
        MainPage("mail preferences", "employee", go("/preferences/")),
        MainPage("unsubscribe", "signed_out", go(unsubscribe)),
        MainPage("moderation queue", "moderator", go("/moderation/")),
        MainPage("concern under review", "moderator", go(site.awaiting.get_absolute_url())),
        MainPage("meeting console", "moderator", go(f"/meetings/{site.meeting.pk}/console/")),
        MainPage("response editor", "leader", go(f"/concerns/{site.overdue.pk}/respond/")),
    ]


def readers(site: Site) -> dict[str, str | None]:
    """A session per reader. Runs the ORM: call it before entering the browser."""
    return {
        "employee": session_cookie(site.people.employee),
        "moderator": session_cookie(site.people.moderator),
        "leader": session_cookie(site.people.leader),
        "signed_out": None,
    }


def visit(
    browser, base_url: str, pages: list[MainPage], cookies: dict, **tab_options
) -> Iterator[tuple[MainPage, Tab]]:
    """Opens every page in the tab of its reader and yields it, loaded."""
    tabs: dict[str, Tab] = {}
    for main_page in pages:
        if main_page.reader not in tabs:
            tabs[main_page.reader] = Tab(
                browser, base_url, cookies[main_page.reader], **tab_options
            )
        tab = tabs[main_page.reader]
        main_page.reach(tab.page)
        tab.page.wait_for_load_state("load")
        yield main_page, tab
