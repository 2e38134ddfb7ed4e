"""Rate limits for the paths that must not know who is calling.

A limit needs some notion of "the same client", but a cache key holding an address
would be a record of who looked up a receipt. Clients are therefore put into one of
4,096 buckets by a keyed hash of their address that changes every hour: enough to slow
one client down, far too coarse to name one.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from concerns.anonymity import keyed_hash
from concerns.errors import RateLimited

CLIENT_BUCKETS = 4096


def client_bucket(request: HttpRequest) -> str:
    hour = int(time.time() // 3600)
    address = request.META.get("REMOTE_ADDR", "")
    digest = keyed_hash("client-bucket", f"{hour}:{address}")
    return str(int(digest[:8], 16) % CLIENT_BUCKETS)


def _count(key: str, period: int) -> int:
    cache.add(key, 0, timeout=period * 2)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period * 2)
        return 1


def limit(*, scope: str, bucket: str, per_period: int, period: int, message: str) -> None:
    window = int(time.time() // period)
    if _count(f"limit:{scope}:{bucket}:{window}", period) > per_period:
        raise RateLimited(message)


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
