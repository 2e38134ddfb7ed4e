"""API rate limits: a fixed window counted with one atomic increment, keyed by token,
else person, else a coarse client bucket, and never by person for anonymous work.

The window is pinned by freezing the throttle's clock, so a test never straddles two
windows. On Redis, 200 requests released together at a barrier show the count is
exact under concurrency."""

import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from accounts import authentication
from accounts.models import ApiToken
from accounts.services import api_token_create, token_hash
from concerns import services, throttles
from tests import factories
from tests.api.conftest import V1, Api, assert_problem
from tests.responses import publish

LIMIT = 5
NOW = 1_900_000_000.0  # the middle of an hour and of a minute
SIMULTANEOUS = 200
TIMEOUT = 60


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, frozen; `clock.now` may be moved."""
    state = SimpleNamespace(now=NOW)
    monkeypatch.setattr(throttles, "time", SimpleNamespace(time=lambda: state.now))
    return state


@pytest.fixture
def limited(settings, clock):
    settings.API_REQUESTS_PER_PERIOD = LIMIT
    settings.API_THROTTLE_PERIOD = 60
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 10_000
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 10_000
    return clock


def _codes(answers) -> list[int]:
    return [a.status_code for a in answers]


def test_exactly_n_of_m_requests_pass_and_the_rest_get_429_with_retry_after(api, limited):
    client = api("employee")

    answers = [client.get("tags/") for _ in range(LIMIT + 4)]

    assert _codes(answers) == [200] * LIMIT + [429] * 4
    for refused in answers[LIMIT:]:
        body = assert_problem(refused, 429)
        assert body["title"] == "Too many requests"
        assert refused["Retry-After"] == "60"


def test_the_limit_starts_again_in_the_next_window(api, limited):
    client = api("employee")
    assert _codes(client.get("me/") for _ in range(LIMIT + 1))[-1] == 429

    limited.now += 60

    assert _codes(client.get("me/") for _ in range(LIMIT + 1)) == [200] * LIMIT + [429]


def test_each_token_has_its_own_count(people, limited):
    first = Api(people.employee)
    second = Api(people.employee)

    assert _codes(first.get("me/") for _ in range(LIMIT + 1)) == [200] * LIMIT + [429]
    assert _codes(second.get("me/") for _ in range(LIMIT)) == [200] * LIMIT


def test_each_person_signed_in_by_session_has_their_own_count(people, limited):
    erin = Api(people.employee, session=True)
    mona = Api(people.moderator, session=True)

    assert _codes(erin.get("me/") for _ in range(LIMIT + 1)) == [200] * LIMIT + [429]
    assert _codes(mona.get("me/") for _ in range(LIMIT)) == [200] * LIMIT


def test_callers_without_a_token_are_counted_by_a_coarse_client_bucket(db, limited):
    near, far = (
        "10.1.1.1",
        next(
            f"10.2.{i // 250}.{i % 250}"
            for i in range(10_000)
            if _bucket(f"10.2.{i // 250}.{i % 250}") != _bucket("10.1.1.1")
        ),
    )

    def look_up(address):
        return Api(address=address).post("receipts/status/", {"receipt": "WRONG"})

    assert _codes(look_up(near) for _ in range(LIMIT + 1)) == [404] * LIMIT + [429]
    assert_problem(look_up(near), 429)
    assert _codes(look_up(far) for _ in range(LIMIT)) == [404] * LIMIT


def test_signed_out_requests_are_refused_before_they_count(db, limited):
    client = Api()

    assert _codes(client.get("me/") for _ in range(LIMIT + 3)) == [401] * (LIMIT + 3)
    assert (
        _codes(client.post("receipts/status/", {"receipt": "x"}) for _ in range(LIMIT))
        == [404] * LIMIT
    )


def test_concerns_sent_through_the_api_count_against_the_sites_hourly_limit(
    people, settings, clock
):
    """The site allows SUBMISSIONS_PER_HOUR concerns per person; an API token must not
    be a way around it (the API's own limit is per minute and far higher)."""
    settings.SUBMISSIONS_PER_HOUR = 2
    client = Api(people.employee)

    answers = [
        client.post("concerns/", {"title": f"Concern {i}", "body": "B", "anonymous": i % 2 == 0})
        for i in range(3)
    ]

    assert _codes(answers) == [201, 201, 429]
    assert_problem(answers[-1], 429)


def test_votes_through_the_api_count_against_the_sites_limit_per_minute(people, settings, clock):
    settings.VOTES_PER_MINUTE = 2
    concerns = [factories.open_concern(moderated_by=people.moderator) for _ in range(3)]
    client = Api(people.employee)

    answers = [client.post(f"concerns/{c.pk}/vote/") for c in concerns]

    assert _codes(answers) == [200, 200, 429]
    assert_problem(answers[-1], 429)
    assert answers[-1].json()["detail"] == "Too many votes in a minute. Please wait a moment."


def test_asking_the_vote_address_what_it_allows_does_not_use_up_a_vote(people, settings, clock):
    settings.VOTES_PER_MINUTE = 1
    concern = factories.open_concern(moderated_by=people.moderator)
    client = Api(people.employee)

    asked = client.client.options(Api.url(f"concerns/{concern.pk}/vote/"), headers=client.headers)
    voted = client.post(f"concerns/{concern.pk}/vote/")

    assert asked.status_code == 200
    assert voted.status_code == 200


def test_a_vote_over_the_api_limit_is_refused_with_the_apis_own_answer(people, settings, clock):
    settings.API_REQUESTS_PER_PERIOD = 1
    concerns = [factories.open_concern(moderated_by=people.moderator) for _ in range(2)]
    client = Api(people.employee)

    answers = [client.post(f"concerns/{c.pk}/vote/") for c in concerns]

    assert _codes(answers) == [200, 429]
    assert_problem(answers[-1], 429)
    assert "Too many votes" not in answers[-1].json()["detail"]
    assert concerns[1].votes.count() == 0


@pytest.mark.redis
def test_a_vote_counts_the_apis_limit_and_the_votes_in_one_redis_command(
    people, monkeypatch, redis_cache
):
    import redis

    concern = factories.open_concern(moderated_by=people.moderator)
    client = Api(people.employee)
    commands = []
    original = redis.Redis.execute_command

    def recording(self, *args, **options):
        commands.append(args)
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", recording)
    monkeypatch.setattr(redis.client.Pipeline, "execute", lambda *a, **k: pytest.fail("pipeline"))
    answer = client.post(f"concerns/{concern.pk}/vote/")

    assert answer.status_code == 200
    counting = [args for args in commands if any(":limit:" in str(a) for a in args)]
    assert len(counting) == 1
    name, _, key_count, *keys_and_args = counting[0]
    assert name in ("EVALSHA", "EVAL") and key_count == 2
    assert [":limit:api:" in keys_and_args[0], ":limit:vote:" in keys_and_args[1]] == [True, True]


# What the cache keys say ---------------------------------------------------------------


def _bucket(address: str) -> str:
    return throttles.client_bucket(SimpleNamespace(META={"REMOTE_ADDR": address}))


def _cache_keys() -> list[str]:
    """Every key the cache holds for this site (not, say, Celery's on the same Redis)."""
    backend = cache._cache
    if hasattr(backend, "get_client"):  # Redis
        keys = [k.decode() for k in backend.get_client().keys("*")]
    else:  # local memory
        keys = list(backend.keys())
    return [k for k in keys if k.startswith(f"{cache.key_prefix}:")]


def _api_keys() -> list[str]:
    return [k for k in _cache_keys() if ":limit:api:" in k]


@pytest.fixture
def anonymous_work(people):
    concern = factories.open_concern(moderated_by=people.moderator)
    due = factories.open_concern(moderated_by=people.moderator)
    services.concern_require_response(concern=due, actor=people.moderator, note="Answer.")
    publish(due, people.leader)
    receipt = factories.submission(anonymous=True).receipt
    cache.clear()
    return SimpleNamespace(concern=concern, answered=due, receipt=receipt)


def _anonymous_actions(work):
    return {
        "anonymous concern": lambda c: c.post(
            "concerns/", {"title": "Quiet one", "body": "Shh.", "anonymous": True}
        ),
        "vote": lambda c: c.post(f"concerns/{work.concern.pk}/vote/"),
        "retracted vote": lambda c: c.delete(f"concerns/{work.concern.pk}/vote/"),
        "rating": lambda c: c.post(f"concerns/{work.answered.pk}/rating/", {"value": "partly"}),
        "receipt status": lambda c: c.post("receipts/status/", {"receipt": work.receipt}),
        "receipt reply": lambda c: c.post(
            "receipts/reply/", {"receipt": work.receipt, "body": "More."}
        ),
    }


@pytest.mark.parametrize(
    "action",
    ["anonymous concern", "vote", "retracted vote", "rating", "receipt status", "receipt reply"],
)
@pytest.mark.parametrize("signed_in_by", ["token", "session"])
def test_anonymous_work_is_counted_without_the_persons_id_in_any_key(
    people, anonymous_work, limited, action, signed_in_by
):
    employee = people.employee
    client = Api(employee, session=signed_in_by == "session")
    # Whether the action itself succeeds is for other tests; this one reads the keys.
    client.client.raise_request_exception = False
    cache.clear()

    _anonymous_actions(anonymous_work)[action](client)

    bucket, window = _bucket("127.0.0.1"), int(NOW // 60)
    # Everything the request counted, and nothing else: coarse client buckets, or the
    # site's keyed hashes of the person (which name nobody without ANONYMITY_KEY).
    allowed = (
        rf":limit:api:client:{bucket}:{window}",
        rf":limit:receipt:{bucket}:{window}",
        rf":limit:receipt-site:all:{window}",
        r":limit:(submit|vote):[0-9a-f]{24}:\d+",
        # Site-wide copies, the same whoever votes: the settings and which concerns
        # live meetings show.
        r":organisation:settings",
        r":meetings:live-concerns",
    )
    assert _api_keys(), "the request was not counted"
    for key in _cache_keys():
        assert any(re.search(pattern + "$", key) for pattern in allowed), key
        assert "person" not in key and "token" not in key


def test_named_work_is_counted_by_token_or_person_under_keyed_names(people, limited):
    Api(people.employee).get("me/")
    token = ApiToken.objects.get(person=people.employee)
    Api(people.moderator, session=True).get("me/")

    keys = _api_keys()
    token_keys = [k for k in keys if ":limit:api:token:" in k]
    person_keys = [k for k in keys if ":limit:api:person:" in k]

    # One counter for the token and one for the person, neither naming an id.
    assert len(token_keys) == 1 and len(person_keys) == 1
    assert f":token:{token.pk}:" not in token_keys[0]
    assert f":person:{people.moderator.pk}:" not in person_keys[0]


# On Redis, under concurrency ---------------------------------------------------------------


@pytest.fixture
def redis_cache(settings):
    """The default cache on Redis, under a prefix of this test's own."""
    prefix = f"answerable-api-test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    client = cache._cache.get_client()
    for key in client.keys(f"{prefix}:*"):
        client.delete(key)


def _together(request, n: int) -> list[int]:
    """Sends `n` requests from `n` threads released together at a barrier, each with
    its own client (and database connection, if it needs one)."""
    barrier = threading.Barrier(n, timeout=TIMEOUT)

    def one(_):
        client = Client(REMOTE_ADDR="127.0.0.1")
        try:
            barrier.wait()
            return request(client).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n), timeout=TIMEOUT))


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_200_simultaneous_receipt_look_ups_exactly_the_limit_pass(settings, clock, redis_cache):
    limit = 25
    settings.API_REQUESTS_PER_PERIOD = limit
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 10_000
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 10_000
    submission = factories.submission(anonymous=True)

    codes = _together(
        lambda client: client.post(
            V1 + "receipts/status/",
            {"receipt": submission.receipt},
            content_type="application/json",
        ),
        SIMULTANEOUS,
    )

    assert codes.count(200) == limit
    assert codes.count(429) == SIMULTANEOUS - limit
    assert any(k.startswith(f"{redis_cache}:") for k in _cache_keys())


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_of_200_simultaneous_requests_with_one_token_exactly_the_limit_pass(
    settings, clock, redis_cache, monkeypatch
):
    limit = 37
    settings.API_REQUESTS_PER_PERIOD = limit
    person = factories.person()
    issued = api_token_create(person=person, name="Load test")
    token = ApiToken.objects.select_related("person").get(pk=issued.token.pk)
    # 200 database connections are more than a test server allows: the token is
    # looked up from memory, so only the throttle's counting is under test.
    monkeypatch.setattr(
        authentication,
        "api_token_authenticate",
        lambda *, secret: token if token_hash(secret) == token.token_hash else None,
    )
    bearer = {"Authorization": f"Bearer {issued.secret}"}

    started = time.monotonic()
    codes = _together(lambda client: client.get(V1 + "me/", headers=bearer), SIMULTANEOUS)

    assert codes.count(200) == limit, sorted(set(codes))
    assert codes.count(429) == SIMULTANEOUS - limit
    assert time.monotonic() - started < TIMEOUT
    [key] = [k for k in _cache_keys() if k.startswith(f"{redis_cache}:") and ":limit:api:" in k]
    # One counter for the token, under a keyed name that does not give its id.
    assert ":limit:api:token:" in key and key.endswith(f":{int(NOW // 60)}")
    assert f":token:{token.pk}:" not in key
    assert int(cache.get(key.split(":", 2)[2])) == SIMULTANEOUS
