"""Services for people: personal API tokens."""

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from concerns.errors import InvalidInput, NotAllowed

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


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The active token with this secret, recording the day it was last used (at most
    one write a day per token)."""
    token = (
        ApiToken.objects.select_related("person")
        .filter(token_hash=token_hash(secret), revoked_at__isnull=True, person__is_active=True)
        .first()
    )
    if token is None:
        return None
    today = timezone.localdate()
    if token.last_used_on != today:
        ApiToken.objects.filter(pk=token.pk).update(last_used_on=today)
        token.last_used_on = today
    return token
