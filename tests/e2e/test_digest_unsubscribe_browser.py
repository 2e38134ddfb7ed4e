"""A person asks for a daily digest on their profile page, the digest goes out through
the product's own command to a real SMTP server, and the unsubscribe link in that mail,
opened in a browser that is not signed in, turns the digests off."""

import io
import logging
import re
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from notifications.models import Frequency, Preference
from tests.e2e import site as demo
from tests.e2e.browsing import Tab, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

UNSUBSCRIBE_LINE = re.compile(r"^Unsubscribe in one click: (\S+)", re.MULTILINE)


class Inbox:
    """What an SMTP server on 127.0.0.1 accepted."""

    def __init__(self) -> None:
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def inbox(settings):
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every line
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    received = Inbox()
    controller = Controller(received, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
        }
    }
    yield received
    controller.stop()


def _send_digests(period: str) -> str:
    out = io.StringIO()
    call_command("send_digests", period=period, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_person_chooses_a_daily_digest_and_unsubscribes_through_the_link_in_it(
    asgi_live_server, chromium, clock, inbox, settings, screenshots
):
    from playwright.sync_api import expect

    settings.SITE_URL = asgi_live_server  # links in mail lead to the site under test
    clock(demo.DAY_ONE, 7)
    team = demo.people()
    erin = team.employee.email
    cookie = session_cookie(team.employee)

    with chromium() as browser:
        page = Tab(browser, asgi_live_server, cookie).page
        page.goto("/")
        page.get_by_role("link", name="Profile").click()
        expect(page.get_by_role("heading", name="Mail preferences")).to_be_visible()
        expect(page.get_by_label("Weekly")).to_be_checked()  # everyone starts weekly
        page.get_by_label("Daily").check()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messages")).to_have_text("Your digest preference was saved.")
        expect(page.get_by_label("Daily")).to_be_checked()
        page.screenshot(path=screenshots / "profile.png", full_page=True)

        with chromium.django():
            daily = _send_digests("daily")
        [mail] = inbox.to(erin)
        text = mail.get_body(preferencelist=("plain",)).get_content()
        link = UNSUBSCRIBE_LINE.search(text).group(1)
        html = mail.get_body(preferencelist=("html",)).get_content()

        # Mail links open anywhere, often where nobody is signed in.
        reader = Tab(browser, asgi_live_server).page
        reader.goto(link)
        expect(reader.get_by_role("heading", level=1)).to_have_text("Unsubscribe from digests")
        expect(reader.locator("main")).to_contain_text(
            "Stop the Answerable digest for this address? Nothing else changes."
        )
        reader.get_by_role("button", name="Unsubscribe").click()
        expect(reader.get_by_role("status")).to_have_text(
            "Done. Erin Walsh will get no more digests. You can turn them on again in your "
            "mail preferences."
        )
        reader.screenshot(path=screenshots / "unsubscribed.png", full_page=True)

        page.reload()
        expect(page.get_by_label("No digest")).to_be_checked()

        with chromium.django():
            daily_again = _send_digests("daily")
            clock(demo.days(7), 7)
            weekly = _send_digests("weekly")

    assert daily.startswith("Sent 1,")
    assert mail["Subject"] == "Your daily Answerable digest"
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert link.startswith(f"{asgi_live_server}/unsubscribe/")
    assert f'href="{link}"' in html
    assert Preference.objects.get(person=team.employee).digest == Frequency.NONE
    # Nothing more reaches the person who unsubscribed, daily or weekly.
    assert (daily_again, len(inbox.to(erin))) == ("Sent 0, skipped 0, failed 0.\n", 1)
    assert weekly.startswith("Sent 8,")  # everyone else still gets the weekly one
    assert len(inbox.to(erin)) == 1
