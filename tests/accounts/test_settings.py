"""Settings come from the environment: production refuses to start without its secrets,
and the embedded defaults work on a laptop with nothing set.

Each case runs a fresh interpreter with a clean environment (only PATH and HOME plus
what the case sets), because settings are read once, at start-up."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
    "import django; django.setup()"
)
PRINT_SETTINGS = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import caches
from django.core.mail import mailers
from django.db import connections
from config.celery import app

def path(obj):
    return f"{type(obj).__module__}.{type(obj).__qualname__}"

print(json.dumps({
    "database": connections["default"].vendor,
    "database_name": str(settings.DATABASES["default"]["NAME"]),
    "cache": path(caches["default"]),
    "channel_layer": path(get_channel_layer()),
    "celery_broker": app.conf.broker_url,
    "celery_eager": app.conf.task_always_eager,
    "mail": path(mailers.default),
    "debug": settings.DEBUG,
}))
"""
POSTGRES_URL = "postgres://answerable:secret@db.internal:5432/answerable"
REDIS_URL = "redis://cache.internal:6379/0"


def a_secret() -> str:
    return secrets.token_urlsafe(48)


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    return subprocess.run(  # noqa: S603 - a fixed interpreter and arguments
        [sys.executable, *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def last_line(completed: subprocess.CompletedProcess) -> str:
    lines = completed.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def settings_with(**env: str) -> dict:
    completed = run("-c", PRINT_SETTINGS, **env)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


# Production secrets ------------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key():
    completed = run("-c", SETUP, DEBUG="0", ANONYMITY_KEY=a_secret())

    assert completed.returncode != 0
    assert last_line(completed) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "SECRET_KEY must be set in the environment when DEBUG is off"
    )


def test_production_refuses_to_start_without_an_anonymity_key():
    completed = run("-c", SETUP, DEBUG="0", SECRET_KEY=a_secret())

    assert completed.returncode != 0
    assert last_line(completed) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "ANONYMITY_KEY must be set in the environment when DEBUG is off"
    )


def test_production_refuses_to_start_with_neither_key():
    completed = run("-c", SETUP, DEBUG="0")

    assert completed.returncode != 0
    assert "ImproperlyConfigured" in last_line(completed)
    assert "SECRET_KEY must be set" in last_line(completed)


@pytest.mark.parametrize("name", ["SECRET_KEY", "ANONYMITY_KEY"])
def test_production_refuses_a_short_key(name):
    keys = {"SECRET_KEY": a_secret(), "ANONYMITY_KEY": a_secret()} | {name: "too short"}

    completed = run("-c", SETUP, DEBUG="0", **keys)

    assert completed.returncode != 0
    assert last_line(completed) == (
        f"django.core.exceptions.ImproperlyConfigured: {name} must be at least 32 characters long"
    )


def test_production_starts_with_both_keys():
    completed = run("-c", SETUP, DEBUG="0", SECRET_KEY=a_secret(), ANONYMITY_KEY=a_secret())

    assert completed.returncode == 0, completed.stderr


def test_the_deployment_checks_pass_with_debug_off_and_both_keys():
    completed = run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=a_secret(),
        ANONYMITY_KEY=a_secret(),
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_a_bad_number_in_the_environment_names_the_variable():
    completed = run("-c", SETUP, SESSION_COOKIE_AGE="twelve hours")

    assert completed.returncode != 0
    assert "SESSION_COOKIE_AGE must be a whole number, got 'twelve hours'" in last_line(completed)


# Services chosen from the environment ------------------------------------------------


def test_with_database_and_redis_urls_the_real_services_are_used():
    chosen = settings_with(
        DEBUG="0",
        SECRET_KEY=a_secret(),
        ANONYMITY_KEY=a_secret(),
        DATABASE_URL=POSTGRES_URL,
        REDIS_URL=REDIS_URL,
    )

    assert chosen["database"] == "postgresql"
    assert chosen["database_name"] == "answerable"
    assert chosen["cache"] == "config.cache.ResilientRedisCache"  # Django's, degrading
    assert chosen["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert chosen["celery_broker"] == REDIS_URL
    assert chosen["celery_eager"] is False


def test_with_nothing_set_the_embedded_defaults_are_used():
    chosen = settings_with()

    assert chosen["debug"] is True
    assert chosen["database"] == "sqlite"
    assert chosen["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert chosen["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert chosen["celery_eager"] is True
    assert chosen["mail"] == "django.core.mail.backends.console.EmailBackend"


def test_with_an_email_host_mail_goes_over_smtp():
    chosen = settings_with(EMAIL_HOST="smtp.internal")

    assert chosen["mail"] == "django.core.mail.backends.smtp.EmailBackend"
