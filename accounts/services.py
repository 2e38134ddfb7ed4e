"""Services for people: personal API tokens."""

import functools
import hashlib
import secrets
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from concerns.errors import InvalidInput, NotAllowed
from config import rawsql

TOKEN_PREFIX = "ans_"  # noqa: S105 - a label, not a secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    # Shown once to its owner; only the hash is kept.
    secret: str


@transaction.atomic
def api_token_create(*, person: User, name: str) -> IssuedToken:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Name the token after what will use it, e.g. “Slack bot”.")
    if len(name) > 80:
        raise InvalidInput("A token name must be at most 80 characters.")
    if not person.is_active:
        raise NotAllowed(f"{person.username} is not active.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        person=person, name=name, prefix=secret[:10], token_hash=token_hash(secret)
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def api_token_revoke(*, person: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id, person=person).first()
    if token is None:
        raise InvalidInput("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


class _TokenLookUp:
    """The look-up every API request makes, as fixed SQL (config/rawsql.py): the
    ORM built it in ~1 ms, more than PostgreSQL takes to answer it."""

    def __init__(self):
        self.token = rawsql.Columns(ApiToken, "t")
        self.person = rawsql.Columns(User, "u")
        q = rawsql.quote
        self.select = (
            f"SELECT {self.token.sql}, {self.person.sql} "  # noqa: S608 - names only
            f"FROM {q(ApiToken._meta.db_table)} t JOIN {q(User._meta.db_table)} u "
            f"ON u.{q(User._meta.pk.column)} = t.{q('person_id')} "
            f"WHERE t.{q('token_hash')} = %s AND t.{q('revoked_at')} IS NULL "
            f"AND u.{q('is_active')}"
        )
        self.used = (
            f"UPDATE {q(ApiToken._meta.db_table)} SET {q('last_used_on')} = %s "  # noqa: S608
            f"WHERE {q(ApiToken._meta.pk.column)} = %s"
        )


_token_look_up = functools.cache(_TokenLookUp)  # built on first use, for the database in use


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The active token with this secret, its person loaded, recording the day it was
    last used (at most one write a day per token)."""
    look_up = _token_look_up()
    row = rawsql.fetchone(look_up.select, [token_hash(secret)])
    if row is None:
        return None
    token = look_up.token.read(row)
    token.person = look_up.person.read(row, len(look_up.token))
    today = timezone.localdate()
    if token.last_used_on != today:
        rawsql.execute(look_up.used, [connection.ops.adapt_datefield_value(today), token.pk])
        token.last_used_on = today
    return token
