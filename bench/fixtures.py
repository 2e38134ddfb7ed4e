"""Data the benchmarks need, made in this process with the benchmark's settings
(call common.django_setup() first). Everything lives in the benchmark database."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiToken, Role, User
from accounts.services import TOKEN_PREFIX, token_hash
from concerns import services
from concerns.management.commands.seed_bench import PERSON_PREFIX
from concerns.models import Concern

BACKEND = "django.contrib.auth.backends.ModelBackend"


def people(n: int) -> list[User]:
    """The first n seeded people (seed_bench makes them when they are missing)."""
    have = User.objects.filter(username__startswith=PERSON_PREFIX).count()
    if have < n:
        call_command("seed_bench", people=n, concerns=0, votes=0, stdout=io.StringIO())
    return list(User.objects.filter(username__startswith=PERSON_PREFIX).order_by("pk")[:n])


def moderator() -> User:
    user, _ = User.objects.get_or_create(
        username="bench-moderator",
        defaults={"role": Role.MODERATOR, "first_name": "Bench", "last_name": "Moderator"},
    )
    return user


def tokens(persons: list[User], name: str) -> dict[int, str]:
    """A fresh API token for each person; returns person id -> secret."""
    ApiToken.objects.filter(name=name).delete()
    issued = {p.pk: TOKEN_PREFIX + secrets.token_urlsafe(32) for p in persons}
    ApiToken.objects.bulk_create(
        [
            ApiToken(person_id=pk, name=name, prefix=secret[:10], token_hash=token_hash(secret))
            for pk, secret in issued.items()
        ],
        batch_size=2000,
    )
    return issued


def sessions(persons: list[User]) -> dict[int, str]:
    """A signed-in session for each person, as the sign-in page would leave it;
    returns person id -> session key."""
    store = SessionStore()
    expire = timezone.now() + timedelta(hours=6)
    rows, keys = [], {}
    for person in persons:
        key = store._get_new_session_key()
        data = {
            SESSION_KEY: str(person.pk),
            BACKEND_SESSION_KEY: BACKEND,
            HASH_SESSION_KEY: person.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        keys[person.pk] = key
    Session.objects.bulk_create(rows, batch_size=2000)
    return keys


def open_concerns(n: int, label: str, author: User) -> list[Concern]:
    """n new open concerns, submitted and approved through the services."""
    mod = moderator()
    made = []
    for i in range(n):
        submission = services.concern_submit(
            author=author,
            anonymous=False,
            title=f"{label} {i + 1}",
            body=f"A concern made by the benchmark ({label}).",
            tags=[],
            department=None,
        )
        made.append(services.concern_approve(concern=submission.concern, moderator=mod))
    return made
