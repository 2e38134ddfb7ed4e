"""The Redis cache, made to degrade instead of fail while Redis is unreachable.

Everything Answerable keeps in the cache can be recomputed or skipped: copies of
settings and of the live-meeting map (read from the database instead), the tag list,
and rate-limit counters. So when Redis is down, a read misses, a write is dropped and
a counter is not counted (rate limits open; a warning is logged once a minute), and
pages, votes and API changes keep working; the task broker's own outage is handled by
the webhook outbox and the mail delivery rows. Anything else (a programming error, a
bad key) still raises.
"""

import functools
import logging
import threading
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
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


class SharedClientsRedisCacheClient(RedisCacheClient):
    """Django's client makes a new redis-py client object for every cache call (~0.2
    ms each, three per vote: bench/README.md, problem 17). A redis-py client holds no
    connection of its own and is thread-safe, so one per connection pool serves all."""

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._redis_clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._redis_clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            client = self._redis_clients.setdefault(index, client)
        return client


class ResilientRedisCache(RedisCache):
    """Also: one Redis client (and so one connection pool) per process.

    Django keeps cache objects per async context, so under ASGI every request made a
    new backend, a new connection pool and a new TCP connection to Redis (with its
    handshake) for its first cache call: ~12 % of a vote's time in py-spy
    (bench/README.md, problem 12). The pool is thread-safe and redis-py resets it
    after a fork, so the backends of one process share it.

    Every cache method degrades the same way (see _degrading below)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientsRedisCacheClient

    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client


def _degrading(name: str, fallback):
    """RedisCache's method `name`, answering fallback(*args) while Redis is unreachable."""
    method = getattr(RedisCache, name)

    @functools.wraps(method)
    def degrading(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except UNREACHABLE as error:
            unreachable(error)
            return fallback(*args, **kwargs)

    return degrading


# What each cache method answers while Redis is down: a read misses, a write is
# dropped (set_many reports every key as not set), a counter is not counted.
_FALLBACKS = {
    "get": lambda key, default=None, version=None: default,
    "get_many": lambda *args, **kwargs: {},
    "has_key": lambda *args, **kwargs: False,
    "add": lambda *args, **kwargs: False,
    "set": lambda *args, **kwargs: None,
    "set_many": lambda data, *args, **kwargs: list(data),
    "touch": lambda *args, **kwargs: False,
    "delete": lambda *args, **kwargs: False,
    "delete_many": lambda *args, **kwargs: None,
    "incr": lambda *args, **kwargs: 0,
    "clear": lambda *args, **kwargs: None,
}
for _name, _fallback in _FALLBACKS.items():
    setattr(ResilientRedisCache, _name, _degrading(_name, _fallback))
