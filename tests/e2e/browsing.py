"""What the browser tests share: a person's browser tab that records what its console
reported, signed-in sessions, and the checks a reader would make of any page."""

import datetime

from django.test import Client
from django.utils import timezone

TIMEOUT_MS = 10_000
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 375, "height": 667}


def session_cookie(user) -> str:
    """A signed-in session for `user`. Runs the ORM: call it outside `with chromium()`."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Tab:
    """One person's browser, with what its console reported. `cookie` is a session
    from session_cookie(); without one the tab is signed out."""

    def __init__(
        self,
        browser,
        base_url: str,
        cookie: str | None = None,
        *,
        viewport: dict | None = None,
        java_script: bool = True,
    ):
        self.context = browser.new_context(
            base_url=base_url,
            viewport=viewport or DESKTOP,
            java_script_enabled=java_script,
            reduced_motion="reduce",
        )
        if cookie:
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


def scrolls_sideways(page) -> bool:
    """True when the page is wider than the window, so a reader must scroll sideways."""
    return page.evaluate("() => document.scrollingElement.scrollWidth > window.innerWidth")


def too_wide(page) -> list[str]:
    """The elements that stick out past the right edge of the window, to say which
    one makes a page scroll sideways."""
    return page.evaluate(
        """() => {
            const found = [];
            for (const el of document.querySelectorAll("body *")) {
                const box = el.getBoundingClientRect();
                if (box.width && box.right > window.innerWidth + 0.5) {
                    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                        + (el.className && typeof el.className === "string"
                           ? "." + el.className.trim().split(/\\s+/).join(".") : "");
                    found.push(name + " reaches " + Math.round(box.right) + "px");
                }
            }
            return found.slice(0, 8);
        }"""
    )


def focus_ring(page) -> dict:
    """How the focused element shows that it has the focus."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                page: location.pathname,
                tag: el.tagName.toLowerCase(),
                text: (el.innerText || el.value || "").trim().slice(0, 60),
                outlineStyle: style.outlineStyle,
                outlineWidth: parseFloat(style.outlineWidth),
                outlineColor: style.outlineColor,
                boxShadow: style.boxShadow,
            };
        }"""
    )


def has_visible_focus(ring: dict) -> bool:
    return (ring["outlineStyle"] not in ("none", "") and ring["outlineWidth"] >= 2) or (
        ring["boxShadow"] not in ("none", "")
    )


def moment(day: datetime.date, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime(day.year, day.month, day.day, hour, minute),
        timezone.get_default_timezone(),
    )


class Keyboard:
    """Moves through a page with Tab only, as someone without a mouse does, and notes
    every element that took the focus without showing it."""

    def __init__(self, page):
        self.page = page
        self.unseen: list[dict] = []

    def tab_to(self, target, *, limit: int = 80) -> None:
        """Presses Tab until `target` has the focus (it may have it already: a field
        with autofocus)."""
        for _ in range(limit):
            if target.evaluate("el => el === document.activeElement"):
                return
            self.page.keyboard.press("Tab")
            ring = focus_ring(self.page)
            # After the last element the focus passes through the document itself.
            if ring["tag"] != "body" and not has_visible_focus(ring):
                self.unseen.append(ring)
        raise AssertionError(f"{limit} presses of Tab never reached {target}")

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def submit(self, key: str = "Enter") -> None:
        """Presses a key that sends a form, and waits for the page that answers."""
        with self.page.expect_navigation():
            self.page.keyboard.press(key)
