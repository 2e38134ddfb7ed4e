"""States a reader must not miss or lose: overdue is said in words as well as shown in
colour, and a live meeting page updates without moving what the reader is reading."""

import pytest

from concerns import services as concern_services
from meetings import services as meeting_services
from tests.e2e import site as demo
from tests.e2e.browsing import PHONE, Tab, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

BODY_TEXT = "rgb(29, 36, 48)"  # --ink


@pytest.fixture
def organisation(clock):
    return demo.build(clock)


def _colour_and_text(locator) -> tuple[str, str]:
    return tuple(locator.evaluate("el => [getComputedStyle(el).color, el.innerText.trim()]"))


def test_overdue_is_shown_in_colour_and_also_said_in_words(
    asgi_live_server, chromium, organisation
):
    from playwright.sync_api import expect

    cookie = session_cookie(organisation.people.employee)
    title = organisation.overdue.title
    with chromium() as browser:
        page = Tab(browser, asgi_live_server, cookie).page
        seen = {}

        page.goto("/")
        card = page.locator(".card", has=page.get_by_role("link", name=title))
        seen["list"] = _colour_and_text(card.locator(".overdue-flag"))

        page.goto(organisation.overdue.get_absolute_url())
        seen["concern"] = _colour_and_text(page.locator(".concern header .overdue-flag"))
        seen["duty"] = _colour_and_text(page.locator("#response .duty"))
        expect(page.locator("#response .duty")).to_contain_text(
            "A written response was due by 16 Mar 2026 from Daniel Reyes."
        )

        page.goto("/overdue/")
        row = page.get_by_role("row", name=title)
        seen["overdue list"] = _colour_and_text(row.locator("td.overdue"))

        page.goto("/accountability/")
        row = page.get_by_role("row", name="Daniel Reyes")
        seen["dashboard"] = _colour_and_text(row.locator("td.overdue").first)

        normal = page.locator("footer p").evaluate("el => getComputedStyle(el).color")

    bad = "rgb(180, 35, 24)"  # --bad
    assert seen == {
        "list": (bad, "Overdue by 6 days"),
        "concern": (bad, "Overdue by 6 days"),
        "duty": (
            bad,
            "Overdue by 6 days. A written response was due by 16 Mar 2026 from Daniel Reyes.",
        ),
        "overdue list": (bad, "6 days overdue"),
        "dashboard": (bad, "1 overdue"),
    }
    assert normal != bad


def _tops(page, selectors: list[str]) -> dict[str, float]:
    return page.evaluate(
        """selectors => Object.fromEntries(selectors.map(s => {
            const el = document.querySelector(s);
            return [s, el ? el.getBoundingClientRect().top : null];
        }))""",
        selectors,
    )


def _moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What moved on the screen by more than the pixel scrolling rounds to."""
    return {key: after[key] - before[key] for key in before if abs(after[key] - before[key]) > 1}


def _select_and_scroll_to(page, selector: str, *, text: str, top: int) -> None:
    """What a reader does: scrolls until `selector` is `top` pixels below the top of
    the window and selects its text."""
    page.evaluate(
        """([selector, text, top]) => {
            const el = document.querySelector(selector);
            window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - top);
            const range = document.createRange();
            range.selectNodeContents(el.querySelector(text));
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }""",
        [selector, text, top],
    )


def _ask(meeting, people, text: str, votes: int):
    question, _ = meeting_services.question_ask(
        meeting=meeting, asker=people.colleagues[0], text=text, anonymous=True
    )
    meeting_services.question_approve(question=question, actor=people.moderator)
    for voter in people.colleagues[:votes]:
        meeting_services.question_vote(question=question, voter=voter)
    return question


def test_a_phone_reader_of_the_agenda_stays_in_place_while_the_meeting_moves_on(
    asgi_live_server, chromium, organisation
):
    """The current item above the agenda changes (to a title of another length), votes
    arrive and questions are approved: the agenda item the reader is reading stays
    where it is on the screen."""
    from playwright.sync_api import expect

    meeting, people = organisation.meeting, organisation.people
    items = list(meeting.items.select_related("concern").order_by("position"))
    cookie = session_cookie(people.employee)

    with chromium() as browser:
        reader = Tab(browser, asgi_live_server, cookie, viewport=PHONE)
        page = reader.open(meeting.get_absolute_url()).page
        expect(page.locator("#live-note")).to_have_text("Live: this page updates by itself.")
        reading = f'#agenda [data-item="{items[1].pk}"]'
        _select_and_scroll_to(page, reading, text=".agenda-title", top=120)
        watched = [reading, f'#agenda [data-item="{items[2].pk}"]', "#questions-h"]
        before = _tops(page, watched)
        current_box = page.locator("#current-title").bounding_box()["height"]

        with chromium.django():
            meeting_services.meeting_advance(meeting=meeting, actor=people.moderator, item=items[2])
            concern_services.vote_cast(concern=organisation.open, voter=people.employee)
            _ask(meeting, people, "Is the new office open at weekends?", votes=1)

        expect(page.locator("#current-title")).to_have_text(organisation.answered.title)
        expect(page.locator(f"{reading} [data-votes]")).to_have_text("3")
        expect(page.get_by_text("Is the new office open at weekends?")).to_have_count(1)
        after = _tops(page, watched)
        # The title above the agenda did change height: the page kept the place anyway.
        assert page.locator("#current-title").bounding_box()["height"] != current_box
        assert page.evaluate("() => getSelection().toString()") == items[1].title
        assert reader.never_reloaded() and reader.problems == []

    assert _moved(before, after) == {}


def test_a_question_the_reader_is_reading_stays_in_place_when_another_overtakes_it(
    asgi_live_server, chromium, organisation
):
    from playwright.sync_api import expect

    meeting, people = organisation.meeting, organisation.people
    behind = _ask(meeting, people, "Can we see the list of public-sector contracts?", votes=1)
    ahead = _ask(meeting, people, "Will the parking plan change before summer?", votes=2)
    cookie = session_cookie(people.employee)

    with chromium() as browser:
        reader = Tab(browser, asgi_live_server, cookie, viewport={"width": 1200, "height": 600})
        page = reader.open(meeting.get_absolute_url()).page
        expect(page.locator("#live-note")).to_have_text("Live: this page updates by itself.")
        reading = f'[data-question="{ahead.pk}"]'
        _select_and_scroll_to(page, reading, text=".q-text", top=200)
        before = _tops(page, [reading])

        with chromium.django():
            for voter in people.colleagues[2:5]:
                meeting_services.question_vote(question=behind, voter=voter)

        expect(page.locator(f'[data-question="{behind.pk}"] .q-votes')).to_have_text("4")
        after = _tops(page, [reading])
        assert page.evaluate("() => getSelection().toString()") == ahead.text

    assert _moved(before, after) == {}
