"""A colleague reading the live meeting page while others vote: the page updates in
place, so what they are reading stays the same element, their selection survives,
and the page asks the server for nothing it was not sent."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from concerns import services as concern_services
from meetings import services
from meetings.models import Meeting
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_NOTE = "Live: this page updates by itself."
TIMEOUT_MS = 10_000

# Records what the page sends over its WebSocket, before the page's own script runs.
RECORD_SENDS = """
window.sentOverSocket = [];
const realSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  window.sentOverSocket.push(String(data));
  return realSend.call(this, data);
};
"""


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def tab(browser, base_url: str, cookie: str, *, record: bool = False):
    context = browser.new_context(base_url=base_url, viewport={"width": 1200, "height": 800})
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": base_url}])
    if record:
        context.add_init_script(RECORD_SENDS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


@pytest.mark.e2e
def test_live_updates_change_the_page_in_place_without_moving_the_reader(
    asgi_live_server, chromium
):
    from playwright.sync_api import expect

    moderator = factories.moderator()
    parking = factories.open_concern(title="Parking spaces at the new office")
    concern_services.vote_cast(concern=parking, voter=factories.person())
    meeting = services.meeting_create(
        organiser=moderator, title="Spring all-hands", scheduled_start=timezone.now()
    )
    item = services.agenda_item_add(meeting=meeting, moderator=moderator, concern=parking)
    services.meeting_start(meeting=meeting, actor=moderator)
    asker = factories.person()
    for text in ("Are layoffs planned?", "Who decides on parking?"):
        question, _ = services.question_ask(meeting=meeting, asker=asker, text=text, anonymous=True)
        services.question_approve(question=question, actor=moderator)
    reader_cookie = session_cookie(factories.person(first_name="Rea"))
    voter_cookies = [session_cookie(factories.person()) for _ in range(2)]
    detail = f"/meetings/{meeting.pk}/"
    agenda_votes = f'#agenda [data-item="{item.pk}"] [data-votes]'
    loaded_seq = Meeting.objects.get(pk=meeting.pk).sequence

    with chromium() as browser:
        reader, problems = tab(browser, asgi_live_server, reader_cookie, record=True)
        reader.goto(detail)
        expect(reader.locator("#live-note")).to_have_text(LIVE_NOTE)
        questions = reader.locator("#questions li[data-question]")
        expect(questions).to_have_text(
            [re.compile(r"0\s+Are layoffs"), re.compile(r"0\s+Who decides")]
        )
        # The reader marks each question element and selects the text of the second.
        reader.evaluate(
            """() => {
              document.querySelectorAll('#questions li').forEach(li => { li.kept = true; });
              const text = document.querySelectorAll('#questions .q-text')[1];
              const range = document.createRange();
              range.selectNodeContents(text);
              getSelection().removeAllRanges();
              getSelection().addRange(range);
            }"""
        )
        expect(reader.locator(agenda_votes).locator("..")).to_contain_text("1 vote ·")

        for voter_cookie in voter_cookies:
            voter, _ = tab(browser, asgi_live_server, voter_cookie)
            voter.goto(detail)
            voter.get_by_label("Support a question").select_option(label="Who decides on parking?")
            voter.get_by_role("button", name="Vote", exact=True).click()
        voter.goto(parking.get_absolute_url())
        voter.get_by_role("button", name="Support this concern").click()
        expect(voter.locator(".messages")).to_contain_text("Your vote was counted.")

        # The question with more support moved up; the elements are the same ones.
        expect(questions).to_have_text(
            [re.compile(r"2\s+Who decides"), re.compile(r"0\s+Are layoffs")]
        )
        expect(reader.locator(agenda_votes)).to_have_text("2")
        expect(reader.locator(agenda_votes).locator("..")).to_contain_text("2 votes ·")
        assert reader.evaluate(
            "() => [...document.querySelectorAll('#questions li')].map(li => li.kept === true)"
        ) == [True, True]
        assert reader.evaluate("() => getSelection().toString()") == "Who decides on parking?"
        # Each state is whole, so the page never needed a snapshot.
        assert reader.evaluate("() => window.sentOverSocket") == []
        assert int(reader.locator("#live").get_attribute("data-seq")) == loaded_seq + 3

    assert problems == []
