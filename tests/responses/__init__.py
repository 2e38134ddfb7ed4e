"""Builders for the responses tests: a clock the test controls, concerns brought to a
duty to respond through the services, and responses published the way leaders do."""

import datetime
import html
import json
import re

from django.utils import timezone

from accounts.models import Organisation, User
from concerns import services as concern_services
from concerns.models import Concern
from ledger.models import LedgerEntry
from responses import services
from responses.models import Position, ResponseVersion
from tests import factories

# A Monday, far enough ahead that no real date gets in the way.
DAY_ONE = datetime.date(2031, 3, 3)


def travel_to(monkeypatch, day: datetime.date, *, hour: int = 12, minute: int = 0):
    """Stops the clock at `day`: every timezone.now() and localdate() in the product
    answers with it until the test moves it again. Sign in after travelling: a
    session opened on another day may have expired."""
    moment = timezone.make_aware(
        datetime.datetime(day.year, day.month, day.day, hour, minute),
        timezone.get_default_timezone(),
    )
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def days_after(day: datetime.date, n: int) -> datetime.date:
    return day + datetime.timedelta(days=n)


def rules(*, votes: int = 3, days: int = 14) -> Organisation:
    organisation = Organisation.current()
    organisation.response_vote_threshold = votes
    organisation.response_days = days
    organisation.save()
    return organisation


def vote(concern: Concern, count: int) -> list[User]:
    voters = [factories.person() for _ in range(count)]
    for voter in voters:
        concern_services.vote_cast(concern=concern, voter=voter)
    return voters


def due_concern(*, leader: User | None = None, moderator: User | None = None, **extra) -> Concern:
    """A concern a moderator has asked leadership to answer, optionally with its
    accountable leader assigned."""
    moderator = moderator or factories.moderator()
    concern = factories.open_concern(moderated_by=moderator, **extra)
    concern_services.concern_require_response(
        concern=concern, actor=moderator, note="A moderator asked for a written response."
    )
    if leader is not None:
        concern_services.concern_assign_leader(concern=concern, moderator=moderator, leader=leader)
    return Concern.objects.get(pk=concern.pk)


def publish(
    concern: Concern,
    leader: User,
    *,
    summary: str = "We will stop selling the system to police forces.",
    details: str = "The board decided on Tuesday.\n\nContracts end this quarter.",
    position: str = Position.WILL_ACT,
    reason: str = "",
) -> ResponseVersion:
    services.response_draft_save(
        concern=concern, leader=leader, position=position, summary=summary, details=details
    )
    return services.response_publish(concern=concern, leader=leader, change_reason=reason)


def ledger_payloads(kind: str) -> list[dict]:
    return [
        json.loads(text)
        for text in LedgerEntry.objects.filter(kind=kind)
        .order_by("sequence")
        .values_list("payload", flat=True)
    ]


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def visible_text(response) -> str:
    """The page as a reader sees it: no tags, runs of white space as one space."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", response.content.decode())).split())


def refreshed(concern: Concern) -> Concern:
    return Concern.objects.get(pk=concern.pk)
