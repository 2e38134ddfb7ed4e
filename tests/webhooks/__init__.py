"""Builders for the webhook tests: endpoints, and the actions behind every event."""

import datetime

from django.utils import timezone

from concerns import services as concern_services
from concerns.models import Concern
from webhooks.models import Endpoint, EventType

SECRET = "whsec-test-0123456789abcdef0123456789"


def endpoint(url: str = "http://127.0.0.1:9/hook", *, events=None, **extra) -> Endpoint:
    return Endpoint.objects.create(
        url=url,
        secret=extra.pop("secret", SECRET),
        events=list(EventType.values if events is None else events),
        **extra,
    )


def due(concern: Concern, moderator) -> Concern:
    concern_services.concern_require_response(concern=concern, actor=moderator, note="Answer.")
    return Concern.objects.get(pk=concern.pk)


def in_days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)
