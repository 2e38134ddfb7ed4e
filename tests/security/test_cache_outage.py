"""With the cache's Redis unreachable, the site degrades instead of failing: reads
miss, writes are dropped, rate limits open, and one warning says why."""

import logging
import socket

import pytest
from django.core.cache import caches

from concerns import throttles
from config.cache import ResilientRedisCache

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port_cache(settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }
    cache = caches["default"]
    assert isinstance(cache, ResilientRedisCache)
    return cache


def test_an_unreachable_cache_misses_and_drops_writes_without_raising(closed_port_cache, caplog):
    cache = closed_port_cache
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        cache.set("k", "v")
        assert cache.get("k", "default") == "default"
        assert cache.add("k", 1) is False
        assert cache.get_many(["k"]) == {}
        assert cache.delete("k") is False
        assert cache.incr("k") == 0

    assert "Redis cache unreachable" in caplog.text


def test_a_rate_limit_opens_while_its_counter_is_unreachable(closed_port_cache):
    for _ in range(5):  # a limit of 1: without the counter, nothing is refused
        throttles.limit(scope="test", bucket="b", per_period=1, period=60, message="slow down")


def test_a_programming_error_still_raises(closed_port_cache):
    with pytest.raises(TypeError):
        closed_port_cache.get("k", "d", "not-a-version", "extra")
