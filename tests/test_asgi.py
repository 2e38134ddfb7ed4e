"""Pages over the ASGI application the servers run (config.asgi): the whole sync request
path, every middleware and the view, runs in one thread hop per request on a few
reused threads, and pages still behave as they do under the test client: headers,
cookies, CSRF, sign-in, streaming, connections given back."""

import re

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from channels.testing import HttpCommunicator

from config.asgi import application, django_asgi_app
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _cookies(response) -> dict[str, str]:
    jar = {}
    for name, value in response["headers"]:
        if name.lower() == b"set-cookie":
            key, _, rest = value.decode().partition("=")
            jar[key] = rest.split(";", 1)[0]
    return jar


def _header(response, wanted: bytes) -> str | None:
    for name, value in response["headers"]:
        if name.lower() == wanted:
            return value.decode()
    return None


def request(method, path, *, body=b"", headers=()):
    communicator = HttpCommunicator(
        application, method, path, body=body, headers=[(b"host", b"testserver"), *headers]
    )
    return async_to_sync(communicator.get_response)(timeout=10)


def test_the_http_application_builds_its_middleware_chain_in_sync_mode():
    from asgiref.sync import iscoroutinefunction

    assert not iscoroutinefunction(django_asgi_app._middleware_chain)


def test_a_page_costs_one_thread_hop_over_asgi(monkeypatch):
    hops = []
    original = SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    response = request("GET", "/accounts/sign-in/")

    assert response["status"] == 200
    # request_started, the middleware chain with the view and response.close: one call
    assert len(hops) == 1, hops


def _record_threads_and_context(monkeypatch):
    """Wraps the handler's view call to note the thread and what the context held."""
    import contextvars
    import threading

    marker = contextvars.ContextVar("test-marker", default=None)
    seen = []
    original = django_asgi_app.get_response

    def recording(request):
        seen.append((threading.current_thread().name, marker.get()))
        marker.set(request.path)  # a later request must not see this
        return original(request)

    monkeypatch.setattr(django_asgi_app, "get_response", recording)
    return seen


def test_requests_reuse_a_few_threads_and_none_sees_what_another_set(monkeypatch, settings):
    seen = _record_threads_and_context(monkeypatch)

    for _ in range(12):
        assert request("GET", "/accounts/sign-in/")["status"] == 200

    threads = {name for name, _ in seen}
    assert len(seen) == 12
    assert all(name.startswith("django") for name in threads)
    assert len(threads) <= settings.ASGI_THREADS
    assert [value for _, value in seen] == [None] * 12


# Django's own note that a sync iterator is consumed through a thread: expected here.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_streaming_response_reads_the_database_while_it_streams(settings):
    settings.ROOT_URLCONF = "tests.streaming_urls"
    factories.person(username="ada")
    factories.person(username="grace")

    sent = []

    async def call():
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/test-stream/",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
        }
        await django_asgi_app(scope, receive, send)

    async_to_sync(call)()

    assert sent[0]["status"] == 200
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert body == b"people: ada grace"


@pytest.mark.postgres
def test_each_request_gives_its_database_connection_back():
    from django.db import connection

    def sessions_open() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]

    before = sessions_open()
    for _ in range(15):
        assert request("GET", "/accounts/sign-in/")["status"] == 200

    assert sessions_open() <= before + 1  # not one left open per request


def test_a_person_signs_in_over_asgi_with_the_csrf_token_and_gets_a_session():
    factories.person(username="asgi-reader", password="correct horse battery staple")

    page = request("GET", "/accounts/sign-in/")
    assert page["status"] == 200
    assert _header(page, b"x-frame-options") == "DENY"
    assert "script-src" in (_header(page, b"content-security-policy") or "")
    csrf_cookie = _cookies(page)["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page["body"]).group(1)

    refused = request(
        "POST",
        "/accounts/sign-in/",
        body=b"username=asgi-reader&password=correct+horse+battery+staple",
        headers=[(b"content-type", b"application/x-www-form-urlencoded")],
    )
    assert refused["status"] == 403  # no CSRF token: still refused

    signed_in = request(
        "POST",
        "/accounts/sign-in/",
        body=b"username=asgi-reader&password=correct+horse+battery+staple&csrfmiddlewaretoken="
        + token,
        headers=[
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"cookie", f"csrftoken={csrf_cookie}".encode()),
        ],
    )
    assert signed_in["status"] == 302
    assert "sessionid" in _cookies(signed_in)


@pytest.mark.redis
def test_requests_share_one_redis_connection_instead_of_opening_one_each():
    import os

    import redis

    from accounts import services as accounts

    secret = accounts.api_token_create(person=factories.person(), name="asgi").secret
    probe = redis.Redis.from_url(os.environ["REDIS_URL"])
    before = probe.info("stats")["total_connections_received"]

    for _ in range(20):  # each request counts itself against the API rate limit in Redis
        response = request(
            "GET", "/api/v1/concerns/", headers=[(b"authorization", f"Bearer {secret}".encode())]
        )
        assert response["status"] == 200

    opened = probe.info("stats")["total_connections_received"] - before
    assert opened <= 3  # the pool's connection(s), not one per request


@pytest.mark.redis
def test_cache_calls_reuse_one_redis_client_object_instead_of_building_one_each(monkeypatch):
    import redis
    from django.core.cache import caches

    cache = caches["default"]
    cache.get("warm-up")  # the first call may build the client
    built = []
    original = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    for number in range(50):
        cache.set(f"reuse-{number}", number, timeout=30)
        assert cache.get(f"reuse-{number}") == number

    assert built == []


def test_an_answer_is_still_sent_when_closing_the_request_fails(caplog):
    from django.core import signals

    def failing_receiver(**kwargs):
        raise RuntimeError("the database went away")

    signals.request_finished.connect(failing_receiver, dispatch_uid="test-failing-close")
    try:
        response = request("GET", "/accounts/sign-in/")
    finally:
        signals.request_finished.disconnect(dispatch_uid="test-failing-close")

    assert response["status"] == 200
    assert b"Sign in" in response["body"]
    assert "Closing a response failed" in caplog.text
