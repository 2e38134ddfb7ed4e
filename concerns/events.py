"""Webhook events about concerns. Payloads carry no person for anonymous concerns."""

from concerns.models import Concern
from webhooks.models import EventType
from webhooks.services import webhook_emit


def concern_payload(concern: Concern) -> dict:
    leader = concern.accountable_leader
    return {
        "id": str(concern.pk),
        "title": concern.title,
        "status": concern.status,
        "anonymous": concern.is_anonymous,
        "author": None
        if concern.is_anonymous or concern.author is None
        else concern.author.display_name,
        "vote_count": concern.vote_count,
        "url": concern.get_absolute_url(),
        "response_due_on": concern.response_due_on.isoformat() if concern.response_due_on else None,
        "accountable_leader": leader.display_name if leader else None,
    }


def concern_published(concern: Concern) -> None:
    webhook_emit(type=EventType.CONCERN_PUBLISHED, payload=concern_payload(concern))


def concern_response_due(concern: Concern) -> None:
    webhook_emit(type=EventType.CONCERN_RESPONSE_DUE, payload=concern_payload(concern))


def concern_overdue(concern: Concern) -> None:
    webhook_emit(type=EventType.CONCERN_OVERDUE, payload=concern_payload(concern))
