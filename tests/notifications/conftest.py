"""Fixtures for mail: a real SMTP server on a socket, Celery run in the test process,
and a week in which something of every kind happened."""

import asyncio
import datetime
import logging
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from accounts.models import User
from concerns import services as concern_services
from concerns.models import Concern
from config.celery import app as celery_app
from meetings import services as meeting_services
from meetings.models import Meeting
from responses import services as response_services
from responses.models import Commitment
from tests import factories
from tests.responses import DAY_ONE, days_after, due_concern, publish, rules, travel_to

# A Monday: the weekly digest goes out on Mondays.
DIGEST_DAY = days_after(DAY_ONE, 21)
assert DIGEST_DAY.isoweekday() == 1


@pytest.fixture(autouse=True)
def _tasks_run_in_the_test():
    """Tasks run eagerly here whatever REDIS_URL says; the worker test turns it off."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


class MailSink:
    """What an SMTP server on 127.0.0.1 accepted, and over which connections. It can
    refuse the first attempts for every recipient (or for some) with a temporary
    error, or answer slowly."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.attempts: Counter[str] = Counter()
        self.refuse_first = 0
        self.refuse_first_for: dict[str, int] = {}
        self.delay = 0.0
        self.port = 0
        # The client's (address, port) of each accepted message: one per connection.
        self.peers: list[tuple] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            for address in envelope.rcpt_tos:
                self.attempts[address] += 1
            refused = max(
                self.attempts[a] <= self.refuse_first_for.get(a, self.refuse_first)
                for a in envelope.rcpt_tos
            )
            if refused:
                return "451 4.3.0 Mailbox busy, try again later"
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self.peers.append(tuple(session.peer))
        return "250 2.0.0 Accepted"

    def connections(self) -> int:
        """How many SMTP connections the accepted messages came over."""
        return len(set(self.peers))

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def recipients(self) -> Counter[str]:
        return Counter(str(m["To"]) for m in self.messages)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server, and Answerable's mailer pointed at it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every line
    sink = MailSink()
    sink.port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, ready_timeout=10)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": sink.port, "timeout": 10},
        }
    }
    yield sink
    controller.stop()


@dataclass
class Week:
    """Something of every kind the digest reports, all of it before DIGEST_DAY."""

    moderator: User
    leader: User
    owner: User
    reader: User
    anonymous_author: User
    voters: list[User]
    overdue: Concern
    answered: Concern
    named: Concern
    anonymous: Concern
    due_commitment: Commitment
    missed_commitment: Commitment
    meeting: Meeting


def a_week_of_activity(monkeypatch) -> Week:
    rules(votes=50, days=14)
    travel_to(monkeypatch, DAY_ONE)
    moderator = factories.moderator(first_name="Mo", last_name="Derator")
    leader = factories.leader(first_name="Lena", last_name="Leader")
    owner = factories.person(first_name="Omar", last_name="Owner")
    reader = factories.person(first_name="Rita", last_name="Reader")
    anonymous_author = factories.person(first_name="Zelda", last_name="Whistle")
    # Published three weeks ago and due two weeks later: a week overdue on digest day.
    overdue = due_concern(leader=leader, moderator=moderator, title="Canteen closes at two")

    travel_to(monkeypatch, days_after(DIGEST_DAY, -5))
    answered = due_concern(leader=leader, moderator=moderator, title="Night bus was cut")
    publish(answered, leader, summary="We will reopen the night bus.")
    due_commitment = response_services.commitment_add(
        concern=answered,
        leader=leader,
        description="Reopen the night bus route",
        owner=owner,
        due_on=days_after(DIGEST_DAY, 3),
    )
    missed_commitment = response_services.commitment_add(
        concern=answered,
        leader=leader,
        description="Publish the bus timetable",
        owner=owner,
        due_on=days_after(DIGEST_DAY, -2),
    )
    named = factories.open_concern(
        author=factories.person(first_name="Nora", last_name="Named"),
        title="Parking permits for night staff",
        moderated_by=moderator,
    )
    anonymous = factories.open_concern(
        author=anonymous_author,
        anonymous=True,
        title="Contracts with border agencies",
        moderated_by=moderator,
    )
    voters = [factories.person(first_name="Vera", last_name=f"Voter{n}") for n in range(3)]
    for voter in voters:
        concern_services.vote_cast(concern=anonymous, voter=voter)
    meeting = meeting_services.meeting_create(
        organiser=moderator,
        title="Spring all-hands",
        scheduled_start=timezone.now() + datetime.timedelta(days=8),
        hosts=[moderator],
    )
    meeting_services.agenda_item_add(meeting=meeting, moderator=moderator, concern=anonymous)
    meeting_services.agenda_item_add(
        meeting=meeting, moderator=moderator, topic="Questions from the floor"
    )

    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    response_services.commitments_mark_missed()
    return Week(
        moderator=moderator,
        leader=leader,
        owner=owner,
        reader=reader,
        anonymous_author=anonymous_author,
        voters=voters,
        overdue=overdue,
        answered=answered,
        named=named,
        anonymous=Concern.objects.get(pk=anonymous.pk),
        due_commitment=due_commitment,
        missed_commitment=missed_commitment,
        meeting=meeting,
    )


@pytest.fixture
def week(monkeypatch) -> Week:
    return a_week_of_activity(monkeypatch)
