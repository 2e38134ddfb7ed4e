"""Rate limits for the paths that must not know who is calling.

A limit needs some notion of "the same client", but a cache key holding an address
would be a record of who looked up a receipt. Clients are therefore put into one of
4,096 buckets by a keyed hash of their address that changes every hour: enough to slow
one client down, far too coarse to name one.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

from concerns.anonymity import keyed_hash
from concerns.errors import RateLimited
from config.cache import UNREACHABLE, unreachable

CLIENT_BUCKETS = 4096


def client_bucket(request: HttpRequest) -> str:
    hour = int(time.time() // 3600)
    address = request.META.get("REMOTE_ADDR", "")
    digest = keyed_hash("client-bucket", f"{hour}:{address}")
    return str(int(digest[:8], 16) % CLIENT_BUCKETS)


@dataclass(frozen=True)
class Window:
    """A fixed-window limit: at most per_period actions per period seconds."""

    scope: str
    bucket: str
    per_period: int
    period: int
    message: str


# Each key: INCR, and EXPIRE only if it has no expiry yet. One script, so one command
# and one reply for all of a request's windows, and atomic: a counter is never left
# without its expiry (a timestamped record kept for good).
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[i], 'NX')
end
return counts
"""
_count_script = None


def _counts(keys: list[tuple[str, int]]) -> list[int]:
    """Adds one to each window's counter and returns the new values, atomically.

    On Redis this is one command for all of them (a script, sent by its SHA once
    Redis has it): every API request passes through here, so it must be cheap. Other
    caches (the embedded locmem default) use add + incr. While Redis is unreachable
    nothing is counted (config/cache.py)."""
    now = int(time.time())
    client = _redis_client()
    if client is not None:
        backend = caches["default"]
        global _count_script
        if _count_script is None:
            _count_script = client.register_script(_COUNT_SCRIPT)
        try:
            counts = _count_script(
                client=client,
                keys=[backend.make_and_validate_key(key) for key, _ in keys],
                # A fixed end (the window's end plus a period), not "from the first
                # count": a key's remaining lifetime must not tell when someone first
                # acted. (As seconds from now, so Redis keeps that end on its own clock.)
                args=[max(1, expires_at - now) for _, expires_at in keys],
            )
        except UNREACHABLE as error:
            unreachable(error)  # Redis is down: the limit opens rather than the site
            return [0] * len(keys)
        return [int(count) for count in counts]
    counts = []
    for key, expires_at in keys:
        timeout = max(1, expires_at - now)
        cache.add(key, 0, timeout=timeout)
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)
            counts.append(1)
    return counts


def _redis_client():
    backend = caches["default"]  # the backend itself; `cache` is a proxy to it
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


def first_exceeded(*windows: Window) -> Window | None:
    """Counts one action against every window, in one round trip; the first window
    now over its limit, if any."""
    now = time.time()
    keys = []
    for window in windows:
        number = int(now // window.period)
        key = f"limit:{window.scope}:{window.bucket}:{number}"
        keys.append((key, (number + 2) * window.period))
    for window, count in zip(windows, _counts(keys), strict=True):
        if count > window.per_period:
            return window
    return None


def enforce(*windows: Window) -> None:
    """Counts the action against every window; RateLimited if one is over its limit."""
    window = first_exceeded(*windows)
    if window is not None:
        raise RateLimited(window.message)


def limit(*, scope: str, bucket: str, per_period: int, period: int, message: str) -> None:
    enforce(Window(scope, bucket, per_period, period, message))


def receipt_lookup_limit(request: HttpRequest) -> None:
    message = "Too many receipt look-ups. Please wait a minute and try again."
    limit(
        scope="receipt-site",
        bucket="all",
        per_period=settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE,
        period=60,
        message=message,
    )
    limit(
        scope="receipt",
        bucket=client_bucket(request),
        per_period=settings.RECEIPT_LOOKUPS_PER_MINUTE,
        period=60,
        message=message,
    )


def public_submission_limit(request: HttpRequest) -> None:
    limit(
        scope="public-submit",
        bucket=client_bucket(request),
        per_period=settings.PUBLIC_SUBMISSIONS_PER_HOUR,
        period=3600,
        message="Too many concerns sent from this network in the last hour. "
        "Please try again later.",
    )


def person_bucket(request: HttpRequest, scope: str) -> str:
    """A person's counter for a limit on work that may be anonymous: a keyed hash of
    (minute window, person), like a vote hash. Without ANONYMITY_KEY it names nobody,
    and it says nothing about which concern was touched. Many staff share one
    address behind a company proxy, so an address bucket would throttle them all."""
    if not request.user.is_authenticated:
        return "client-" + client_bucket(request)
    hour = int(time.time() // 3600)
    return keyed_hash(f"limit-{scope}", f"{hour}:{request.user.pk}")[:24]


def submission_limit(request: HttpRequest) -> None:
    limit(
        scope="submit",
        bucket=person_bucket(request, "submit"),
        per_period=settings.SUBMISSIONS_PER_HOUR,
        period=3600,
        message="Too many concerns sent from this network in the last hour. "
        "Please try again later.",
    )


def vote_window(request: HttpRequest) -> Window:
    return Window(
        scope="vote",
        bucket=person_bucket(request, "vote"),
        per_period=settings.VOTES_PER_MINUTE,
        period=60,
        message="Too many votes in a minute. Please wait a moment.",
    )


def vote_limit(request: HttpRequest) -> None:
    enforce(vote_window(request))


def sign_in_limit(request: HttpRequest, username: str) -> None:
    message = "Too many sign-in attempts. Please wait a minute and try again."
    limit(
        scope="sign-in-client",
        bucket=client_bucket(request),
        per_period=settings.SIGN_INS_PER_MINUTE * 3,
        period=60,
        message=message,
    )
    limit(
        scope="sign-in-name",
        bucket=keyed_hash("sign-in", username.strip().lower())[:16],
        per_period=settings.SIGN_INS_PER_MINUTE,
        period=60,
        message=message,
    )


def question_limit(request: HttpRequest) -> None:
    """Live questions asked by one person, named or anonymous, counted like
    submissions under a keyed hash of (hour, person): never their id or address."""
    limit(
        scope="question",
        bucket=person_bucket(request, "question"),
        per_period=settings.LIVE_QUESTIONS_PER_HOUR,
        period=3600,
        message="Too many questions in the last hour. Please wait before asking another.",
    )
