"""Pages over the ASGI application the servers run (config.asgi): the whole sync request
path, every middleware and the view, runs in one thread hop per request, and pages
still behave as they do under the test client: headers, cookies, CSRF, sign-in."""

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


def test_a_page_costs_at_most_three_thread_hops_over_asgi(monkeypatch):
    hops = []
    original = SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    response = request("GET", "/accounts/sign-in/")

    assert response["status"] == 200
    # request_started's receivers, the middleware chain with the view, response.close
    assert len(hops) <= 3, hops


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
