"""Shared fixtures. Tests marked `postgres` or `redis` need the real service: they
skip on a laptop without it and fail in CI (CI=true), where it must be there."""

import os

import pytest
from django.core.cache import cache
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() == "true"


def _redis_reachable() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _missing(service: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{service} is required in CI but {why}", pytrace=False)
    pytest.skip(f"needs {service}: {why}")


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    if item.get_closest_marker("redis") and not _redis_reachable():
        _missing("Redis", "REDIS_URL is not set or Redis does not answer")


def pytest_sessionfinish(session, exitstatus):
    if IN_CI and session.testscollected and exitstatus == 0:
        skipped = session.config.pluginmanager.get_plugin("terminalreporter").stats.get("skipped")
        if skipped:
            session.exitstatus = 1
            print(f"\nCI: {len(skipped)} test(s) skipped; nothing may skip in CI.")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2 is the real hasher (tests/accounts checks it); tests that only need
    # someone signed in use a fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _cache_warning_not_throttled(monkeypatch):
    # config/cache.py warns at most once a minute that Redis is unreachable; every
    # test starts as if it had not warned yet, so the order tests run in does not matter.
    from config import cache as resilient

    monkeypatch.setattr(resilient, "_last_warning", float("-inf"))
