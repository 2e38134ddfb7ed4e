"""Rate limits on submission, voting, receipt look-ups and sign-in: exceeding one
gets a clear 429 page (or an RFC 9457 problem from the API), never a 5xx and never a
stored record; the counters are exact under concurrent requests on Redis; and no
counter key holds a person's id, name, address or browser.
"""

import json
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import Organisation
from accounts.services import api_token_create
from concerns import throttles
from concerns.errors import RateLimited
from concerns.models import Concern
from tests import factories
from tests.security.scan import Needle, kept_traces

pytestmark = pytest.mark.django_db

ADDRESS = "192.0.2.143"
USER_AGENT = "LimitBrowser/3.1 limit-ua-91c"
PASSWORD = "correct horse battery staple"
ACCESS_PHRASE = "a lantern for every harbour"
PERSON_ID = 736451829


@pytest.fixture
def person():
    return factories.person(
        id=PERSON_ID,
        username="wilhelmina.quorndon.4e7",
        email="w.quorndon.4e7@limits.example.test",
        first_name="Wilhelmina",
        last_name="Quorndon",
        password=PASSWORD,
    )


@pytest.fixture
def browser(person) -> Client:
    client = Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=USER_AGENT)
    client.force_login(person)
    return client


@pytest.fixture
def api(person) -> Client:
    token = api_token_create(person=person, name="limits").secret
    return Client(
        REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=USER_AGENT, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@pytest.fixture
def public_form():
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()


def post_json(client: Client, path: str, data: dict | None = None, method: str = "post"):
    return getattr(client, method)(path, json.dumps(data or {}), content_type="application/json")


def assert_clear_429_page(response, message: str) -> None:
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert message in page, "the page does not say what happened"
    assert "<html" in page and "Answerable" in page, "not the site's own page"


def assert_429_problem(response) -> None:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 429 and body["title"] == "Too many requests"


def _window_has_room(period: int, seconds: float = 3.0) -> None:
    """Waits for a fresh window if the current one ends within `seconds`, so that a
    run of requests is counted in one window."""
    left = period - time.time() % period
    if left < seconds:
        time.sleep(left + 0.05)


# Submission --------------------------------------------------------------------------


def test_too_many_concerns_from_a_person_get_the_429_page(browser, settings):
    settings.SUBMISSIONS_PER_HOUR = 2
    sent = [
        browser.post(
            reverse("concerns:new"),
            {"title": f"Concern {n}", "body": "Text.", "identity": identity},
        )
        for n, identity in enumerate(["named", "anonymous", "anonymous"])
    ]

    assert [r.status_code for r in sent[:2]] == [302, 200]
    assert_clear_429_page(sent[2], "Too many concerns")
    assert Concern.objects.count() == 2, "the refused concern was stored"


def test_too_many_concerns_through_the_api_get_a_429_problem(api, settings):
    """The same limit holds through the API: otherwise a token lifts it."""
    settings.SUBMISSIONS_PER_HOUR = 2
    sent = [
        post_json(api, "/api/v1/concerns/", {"title": f"C{n}", "body": "Text.", "anonymous": True})
        for n in range(3)
    ]

    assert [r.status_code for r in sent[:2]] == [201, 201]
    assert_429_problem(sent[2])
    assert Concern.objects.count() == 2, "the refused concern was stored"


def test_too_many_concerns_through_the_public_form_get_a_429(public_form, settings):
    settings.PUBLIC_SUBMISSIONS_PER_HOUR = 2
    form = Client(REMOTE_ADDR=ADDRESS)
    sent = [
        form.post(
            reverse("concerns:new-public"),
            {"access_phrase": ACCESS_PHRASE, "title": f"Public {n}", "body": "Text."},
        )
        for n in range(3)
    ]

    assert [r.status_code for r in sent[:2]] == [200, 200]
    assert_clear_429_page(sent[2], "Too many concerns sent from this network")
    assert Concern.objects.count() == 2


# Voting -------------------------------------------------------------------------------


def test_too_many_votes_in_a_minute_get_the_429_page(browser, settings):
    settings.VOTES_PER_MINUTE = 2
    concern = factories.open_concern()
    path = reverse("concerns:vote", args=[concern.pk])
    _window_has_room(60)
    sent = [browser.post(path, {"action": a}) for a in ("cast", "retract", "cast")]

    assert [r.status_code for r in sent[:2]] == [302, 302]
    assert_clear_429_page(sent[2], "Too many votes")
    assert Concern.objects.get(pk=concern.pk).vote_count == 0


def test_too_many_votes_through_the_api_get_a_429_problem(api, settings):
    settings.VOTES_PER_MINUTE = 2
    concern = factories.open_concern()
    path = f"/api/v1/concerns/{concern.pk}/vote/"
    _window_has_room(60)
    sent = [post_json(api, path, method=m) for m in ("post", "delete", "post")]

    assert [r.status_code for r in sent[:2]] == [200, 200]
    assert_429_problem(sent[2])
    assert Concern.objects.get(pk=concern.pk).vote_count == 0


# Receipt look-ups ----------------------------------------------------------------------


def test_too_many_receipt_look_ups_get_a_429_on_every_receipt_path(settings):
    """Look-ups, replies and withdrawals by receipt share one counter per client."""
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 3
    receipt = factories.submission(anonymous=True).receipt
    page = Client(REMOTE_ADDR=ADDRESS)
    _window_has_room(60)
    allowed = [
        page.post(reverse("concerns:receipt"), {"receipt": receipt}),
        page.post(reverse("concerns:receipt"), {"receipt": "WRONG-RECEIPT"}),
        page.post(reverse("concerns:receipt-reply"), {"receipt": receipt, "body": "Hi."}),
    ]
    refused = [
        page.post(reverse("concerns:receipt"), {"receipt": receipt}),
        page.post(reverse("concerns:receipt-reply"), {"receipt": receipt, "body": "Hi."}),
        page.post(reverse("concerns:receipt-withdraw"), {"receipt": receipt}),
    ]
    api = [post_json(Client(REMOTE_ADDR=ADDRESS), "/api/v1/receipts/status/", {"receipt": receipt})]

    assert [r.status_code for r in allowed] == [200, 404, 200]
    for response in refused:
        assert_clear_429_page(response, "Too many receipt look-ups")
    assert_429_problem(api[0])
    assert Concern.objects.get(receipt_hash__isnull=False).messages.count() == 1


def test_the_sitewide_receipt_limit_holds_across_clients(settings):
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 3
    _window_has_room(60)
    answers = [
        Client(REMOTE_ADDR=f"198.51.100.{n}").post(reverse("concerns:receipt"), {"receipt": "X"})
        for n in range(4)
    ]

    assert [r.status_code for r in answers] == [404, 404, 404, 429]


# Sign-in -----------------------------------------------------------------------------------


def test_too_many_sign_ins_for_one_name_get_the_429_page(person, settings):
    settings.SIGN_INS_PER_MINUTE = 2
    _window_has_room(60)
    attempts = [
        Client(REMOTE_ADDR=f"203.0.113.{n}").post(
            reverse("accounts:sign-in"), {"username": person.username, "password": password}
        )
        for n, password in enumerate(["wrong", "wrong", PASSWORD])
    ]

    assert [r.status_code for r in attempts[:2]] == [200, 200]
    assert_clear_429_page(attempts[2], "Too many sign-in attempts")
    assert "_auth_user_id" not in attempts[2].wsgi_request.session, "signed in all the same"


def test_too_many_sign_ins_from_one_client_get_the_429_page(settings):
    settings.SIGN_INS_PER_MINUTE = 2
    client = Client(REMOTE_ADDR=ADDRESS)
    _window_has_room(60)
    attempts = [
        client.post(reverse("accounts:sign-in"), {"username": f"name{n}", "password": "x"})
        for n in range(7)
    ]

    assert [r.status_code for r in attempts] == [200] * 6 + [429]


# Exact under concurrency, on Redis ---------------------------------------------------------


def _together(action, n: int) -> list[object]:
    barrier = threading.Barrier(n, timeout=30)
    outcomes: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = action()
        except BaseException as error:  # reported below
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads)
    return outcomes


@pytest.fixture
def on_redis(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": django_settings.REDIS_URL,
            "KEY_PREFIX": "answerable-limits-test",
        }
    }
    cache.clear()
    yield
    cache.clear()


@pytest.mark.redis
def test_a_counter_lets_exactly_the_limit_through_under_concurrent_requests(on_redis):
    def attempt():
        try:
            throttles.limit(scope="race", bucket="one", per_period=15, period=3600, message="")
        except RateLimited:
            return "refused"
        return "allowed"

    _window_has_room(3600)
    outcomes = _together(attempt, 48)

    assert outcomes.count("allowed") == 15, outcomes
    assert outcomes.count("refused") == 33, outcomes


@pytest.mark.redis
def test_receipt_look_ups_are_counted_exactly_under_concurrent_requests(on_redis, settings):
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 10

    def attempt():
        request = RequestFactory().post("/receipt/", REMOTE_ADDR=ADDRESS)
        try:
            throttles.receipt_lookup_limit(request)
        except RateLimited:
            return "refused"
        return "allowed"

    _window_has_room(60)
    outcomes = _together(attempt, 32)

    assert outcomes.count("allowed") == 10, outcomes


# What the counters are called ---------------------------------------------------------------


def _who(person) -> list[Needle]:
    return [
        Needle("person's id", str(person.pk), whole_number=True),
        Needle("username", person.username),
        Needle("email address", person.email),
        Needle("IP address", ADDRESS),
        Needle("user agent", USER_AGENT),
    ]


def _in_the_cache(findings: list[str]) -> list[str]:
    return [f for f in findings if f.startswith(("cache", "redis"))]


def test_no_counter_of_anonymous_or_limited_work_names_the_person(person, browser, api, settings):
    """Every limited path, taken by one person from one address: the cache ends up
    with counters for all of them, and none names the person."""
    settings.SUBMISSIONS_PER_HOUR = 1
    settings.VOTES_PER_MINUTE = 1
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 1
    settings.SIGN_INS_PER_MINUTE = 1
    concern = factories.open_concern()
    receipt = factories.submission(anonymous=True).receipt
    with kept_traces() as kept:
        for _ in range(2):
            browser.post(
                reverse("concerns:new"), {"title": "T", "body": "B", "identity": "anonymous"}
            )
            browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})
            browser.post(reverse("concerns:receipt"), {"receipt": receipt})
            post_json(api, "/api/v1/concerns/", {"title": "T", "body": "B", "anonymous": True})
            post_json(api, f"/api/v1/concerns/{concern.pk}/vote/")
            post_json(api, "/api/v1/receipts/status/", {"receipt": receipt})
            Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=USER_AGENT).post(
                reverse("accounts:sign-in"), {"username": person.username, "password": "no"}
            )
    assert any("limit:" in t.where for t in kept.stores), "no counter was kept to inspect"

    findings = _in_the_cache(kept.links_to(person=_who(person)))

    assert findings == [], "\n  " + "\n  ".join(findings)


def test_no_counter_of_named_api_use_names_the_person(person):
    """The brief's rule for every counter: the API's own limit, for a person signed
    in with a session, must not key its counter by their id either."""
    client = Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=USER_AGENT)
    client.force_login(person)
    with kept_traces() as kept:
        assert client.get("/api/v1/me/").status_code == 200
        assert client.get("/api/v1/concerns/").status_code == 200

    findings = _in_the_cache(kept.links_to(person=_who(person)))

    assert findings == [], "\n  " + "\n  ".join(findings)


@pytest.mark.redis
def test_a_counter_in_redis_expires_at_its_window_end_not_a_time_after_the_first_action():
    import time

    from django.core.cache import caches

    throttles.limit(scope="ttl-check", bucket="b", per_period=5, period=60, message="")
    window = int(time.time() // 60)
    backend = caches["default"]
    key = backend.make_and_validate_key(f"limit:ttl-check:b:{window}")
    client = backend._cache.get_client(key)
    assert abs(client.expiretime(key) - (window + 2) * 60) <= 1
