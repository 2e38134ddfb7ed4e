"""A live ASGI server and a real Chromium for end-to-end tests.

The server is Daphne running the project's ASGI application (HTTP, static files and
WebSockets) in a thread of the test process. channels' ChannelsLiveServerTestCase
would run it in a child process instead, which refuses the in-memory SQLite database
the embedded default tests use; a thread shares it, and shares the in-memory channel
layer too, so the same test runs on SQLite and on PostgreSQL + Redis.

Tests marked `e2e` need Chromium at /usr/bin/chromium (never downloaded): they skip on
a laptop without it and fail in CI (CI=true), where it must be there.
"""

import asyncio
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
STEP_SCREENSHOTS = ROOT / "test-results" / "screenshots"
STARTUP_TIMEOUT = 10


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: drives Chromium at /usr/bin/chromium; fails instead of skipping in CI"
    )


def pytest_runtest_setup(item):
    if item.get_closest_marker("e2e") and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"needs Chromium at {CHROMIUM}")


class DaphneThread(threading.Thread):
    """Daphne serving `application` on a free port of 127.0.0.1 until stopped.

    Twisted's reactor cannot be restarted, so there is one server per test session."""

    def __init__(self, application):
        super().__init__(name="e2e-daphne", daemon=True)
        self.application = application
        self.ready = threading.Event()
        self.port: int | None = None
        self.failure: BaseException | None = None

    def run(self):
        try:
            from daphne.endpoints import build_endpoint_description_strings
            from daphne.server import Server  # installs Twisted's asyncio reactor
            from twisted.internet import reactor

            self.reactor = reactor
            self.server = Server(
                application=self.application,
                endpoints=build_endpoint_description_strings(host="127.0.0.1", port=0),
                signal_handlers=False,
                verbosity=0,
            )
            reactor.callLater(0.05, self._note_port)
            self.server.run()
        except BaseException as error:  # reported by the fixture
            self.failure = error
            self.ready.set()

    def _note_port(self):
        if self.server.listening_addresses:
            self.port = self.server.listening_addresses[0][1]
            self.ready.set()
        else:
            self.reactor.callLater(0.05, self._note_port)

    def stop(self):
        self.reactor.callFromThread(self.reactor.stop)
        self.join(STARTUP_TIMEOUT)


@pytest.fixture(scope="session")
def asgi_live_server(django_db_setup, django_db_blocker):
    """The base URL of the project's ASGI application, served by Daphne."""
    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    thread = DaphneThread(ASGIStaticFilesHandler(get_default_application()))
    thread.start()
    if not thread.ready.wait(STARTUP_TIMEOUT) or thread.failure is not None:
        raise RuntimeError(f"Daphne did not start: {thread.failure!r}")
    yield f"http://127.0.0.1:{thread.port}"
    thread.stop()
    _end_server_connections(django_db_blocker)


def _end_server_connections(django_db_blocker) -> None:
    """Ends the database sessions the server's threads left behind, or PostgreSQL
    refuses to drop the test database. Some are Django's own (under ASGI it renders
    error pages on a pool thread that never closes its connection), so this is needed
    even when the product closes every connection it should."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return  # SQLite's in-memory test database goes with the process
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class SharedChromium:
    """One Chromium for every browser test of this package, entered per test with
    `with chromium() as browser:`.

    Playwright's sync API drives the browser from an event loop that it keeps marked
    as running on the main thread between calls, and Django's ORM refuses to run
    while a loop is marked running there (SynchronousOnlyOperation). The loop is in
    fact suspended between calls, so this marks it running only inside `with
    chromium()`, where the page calls happen, and clears the mark outside, where the
    test prepares data and checks the database (and pytest-django flushes it).
    Inside the block, `with chromium.django():` does the same for a moment of ORM
    work in the middle of a journey."""

    def __init__(self, browser, loop):
        self.browser = browser
        self.loop = loop

    @contextmanager
    def __call__(self):
        asyncio._set_running_loop(self.loop)
        try:
            yield self.browser
        finally:
            try:
                for context in self.browser.contexts:
                    context.close()  # every test starts without cookies or pages
            finally:
                asyncio._set_running_loop(None)

    @contextmanager
    def django(self):
        asyncio._set_running_loop(None)
        try:
            yield
        finally:
            asyncio._set_running_loop(self.loop)


@pytest.fixture(scope="package")
def _shared_chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        shared = SharedChromium(browser, asyncio.get_running_loop())
        asyncio._set_running_loop(None)
        try:
            yield shared
        finally:
            asyncio._set_running_loop(shared.loop)
            browser.close()


@pytest.fixture
def chromium(_shared_chromium) -> SharedChromium:
    """Call it to enter the shared browser: `with chromium() as browser:`. Prepare data
    before entering and check the database after leaving, or inside `with
    chromium.django():`."""
    return _shared_chromium


@pytest.fixture
def screenshots() -> Path:
    """docs/screenshots, which the README shows: the browser tests keep it current.
    Only pages built from fixed data (names, titles, dates on a stopped clock) go
    here; what is random by nature (hashes, receipts) still differs between runs."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def step_screenshots() -> Path:
    """test-results/screenshots: pictures of the steps of a test, to look at when it
    fails; not for the README."""
    STEP_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return STEP_SCREENSHOTS


@pytest.fixture
def clock(monkeypatch):
    """Stops the product's clock: `clock(day, hour)` sets it, for the server's threads
    too (they share the process), so dates on the pages are the same on every run."""
    from tests.responses import travel_to

    def set_to(day, hour: int = 12, minute: int = 0):
        return travel_to(monkeypatch, day, hour=hour, minute=minute)

    return set_to
