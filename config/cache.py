"""The Redis cache, made to degrade instead of fail while Redis is unreachable.

Everything Answerable keeps in the cache can be recomputed or skipped: copies of
settings and of the live-meeting map (read from the database instead), the tag list,
and rate-limit counters. So when Redis is down, a read misses, a write is dropped and
a counter is not counted (rate limits open; a warning is logged once a minute), and
pages, votes and API changes keep working; the task broker's own outage is handled by
the webhook outbox and the mail delivery rows. Anything else (a programming error, a
bad key) still raises.
"""

import logging
import threading
import time

from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
_last_warning = 0.0


def unreachable(error: Exception) -> None:
    """Logs, at most once a minute, that Redis could not be reached."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        logger.warning("Redis cache unreachable (%s): working without it", type(error).__name__)


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


class ResilientRedisCache(RedisCache):
    """Also: one Redis client (and so one connection pool) per process.

    Django keeps cache objects per async context, so under ASGI every request made a
    new backend, a new connection pool and a new TCP connection to Redis (with its
    handshake) for its first cache call: ~12 % of a vote's time in py-spy
    (bench/README.md, problem 12). The pool is thread-safe and redis-py resets it
    after a fork, so the backends of one process share it."""

    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNREACHABLE as error:
            unreachable(error)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNREACHABLE as error:
            unreachable(error)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except UNREACHABLE as error:
            unreachable(error)
            return False

    def add(self, key, value, timeout=None, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE as error:
            unreachable(error)
            return False

    def set(self, key, value, timeout=None, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE as error:
            unreachable(error)

    def set_many(self, data, timeout=None, version=None):
        try:
            return super().set_many(data, timeout, version)
        except UNREACHABLE as error:
            unreachable(error)
            return list(data)

    def touch(self, key, timeout=None, version=None):
        try:
            return super().touch(key, timeout, version)
        except UNREACHABLE as error:
            unreachable(error)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNREACHABLE as error:
            unreachable(error)
            return False

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except UNREACHABLE as error:
            unreachable(error)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE as error:
            unreachable(error)
            return 0

    def clear(self):
        try:
            super().clear()
        except UNREACHABLE as error:
            unreachable(error)
