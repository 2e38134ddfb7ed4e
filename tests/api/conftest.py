"""Fixtures for the REST API: one person of every role, a JSON client that signs in
with a personal token (or a session), and assertions for problem+json answers."""

import datetime
import json
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, Organisation, Role, User
from accounts.services import api_token_create
from concerns import services as concern_services
from concerns.models import Concern
from meetings import services as meeting_services
from meetings.models import AgendaItem, LiveQuestion, Meeting
from responses import services as response_services
from responses.models import Commitment
from tests import factories
from tests.responses import publish

V1 = "/api/v1/"
ACCESS_PHRASE = "a lantern for every harbour"
PROBLEM = "application/problem+json"
ROLES = ("signed_out", "employee", "moderator", "leader", "admin")


class Api:
    """Speaks JSON to the API as one person: by bearer token unless `session` is set,
    or signed out when there is no person."""

    def __init__(
        self,
        person: User | None = None,
        *,
        token: str | None = None,
        session: bool = False,
        address: str = "127.0.0.1",
    ):
        self.client = Client(REMOTE_ADDR=address)
        self.person = person
        self.headers: dict[str, str] = {}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        elif person is not None and session:
            self.client.force_login(person)
        elif person is not None:
            secret = api_token_create(person=person, name="Tests").secret
            self.headers["Authorization"] = f"Bearer {secret}"

    @staticmethod
    def url(path: str) -> str:
        return path if path.startswith("/") else V1 + path

    def get(self, path: str, params: dict | None = None, **headers):
        return self.client.get(self.url(path), params or {}, headers={**self.headers, **headers})

    def send(self, method: str, path: str, data=None, **headers):
        body = b"" if data is None else json.dumps(data)
        return self.client.generic(
            method,
            self.url(path),
            body,
            content_type="application/json",
            headers={**self.headers, **headers},
        )

    def raw(self, method: str, path: str, body: bytes, content_type: str, **headers):
        return self.client.generic(
            method, self.url(path), body, content_type=content_type,
            headers={**self.headers, **headers},
        )  # fmt: skip

    def post(self, path: str, data=None, **headers):
        return self.send("POST", path, data, **headers)

    def put(self, path: str, data=None, **headers):
        return self.send("PUT", path, data, **headers)

    def delete(self, path: str, data=None, **headers):
        return self.send("DELETE", path, data, **headers)


def assert_problem(response, status: int, *, fields: tuple[str, ...] = ()) -> dict:
    """An RFC 9457 answer with this status, naming these fields in `errors`."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].split(";")[0] == PROBLEM
    body = json.loads(response.content)
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    for field in fields:
        assert field in body.get("errors", {}), body
    return body


@pytest.fixture
def people(db) -> SimpleNamespace:
    return SimpleNamespace(
        employee=factories.person(first_name="Erin", last_name="Employee"),
        moderator=factories.moderator(first_name="Mona", last_name="Moderator"),
        leader=factories.leader(first_name="Leo", last_name="Leader"),
        admin=factories.person(role=Role.ADMIN, first_name="Ada", last_name="Admin"),
    )


@pytest.fixture
def api(people):
    """`api("employee")` is a client for that role; `api("signed_out")` has nobody."""

    def for_role(role: str, **options) -> Api:
        if role == "signed_out":
            return Api(**options)
        return Api(getattr(people, role), **options)

    return for_role


# A world for the permission matrix and the fuzz tests ----------------------------


@dataclass
class World:
    people: SimpleNamespace
    concern: Concern  # open, raised by someone who is not one of `people`
    submitted: Concern  # awaiting moderation
    due: Concern  # a written response is due
    answered: Concern  # version 1 published, with a commitment the employee owns
    commitment: Commitment
    meeting: Meeting  # planned, hosted by the leader, with two agenda items
    receipt: str  # of an anonymous concern awaiting moderation
    own: Concern  # the employee's own named, open concern
    live: Meeting  # live, hosted by the leader, at the first of two items
    approved: LiveQuestion  # an approved question in the live meeting
    pending: LiveQuestion  # a pending anonymous question in the live meeting

    def item(self, meeting: Meeting, position: int = 1) -> AgendaItem:
        return meeting.items.get(position=position)


@pytest.fixture
def world(people) -> World:
    """Something for every operation to act on."""
    moderator, leader = people.moderator, people.leader
    author = factories.person(first_name="Aled", last_name="Author")
    concern = factories.open_concern(author=author, moderated_by=moderator)
    due = factories.open_concern(moderated_by=moderator)
    concern_services.concern_require_response(concern=due, actor=moderator, note="Answer it.")
    answered = factories.open_concern(moderated_by=moderator)
    concern_services.concern_require_response(concern=answered, actor=moderator, note="Answer.")
    publish(answered, leader)
    commitment = response_services.commitment_add(
        concern=answered,
        leader=leader,
        description="Fix it",
        owner=people.employee,
        due_on=timezone.localdate() + datetime.timedelta(days=7),
    )
    anonymous = factories.submission(anonymous=True)
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    # The leader hosts both meetings: a host drives the meeting but, not being a
    # moderator, neither edits the agenda nor approves questions.
    meeting = meeting_services.meeting_create(
        organiser=moderator, title="All hands", scheduled_start=timezone.now(), hosts=[leader]
    )
    meeting_services.agenda_item_add(meeting=meeting, moderator=moderator, concern=due)
    meeting_services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Parking")
    live = meeting_services.meeting_create(
        organiser=moderator, title="Town hall", scheduled_start=timezone.now(), hosts=[leader]
    )
    meeting_services.agenda_item_add(meeting=live, moderator=moderator, concern=concern)
    meeting_services.agenda_item_add(meeting=live, moderator=moderator, topic="Canteen")
    meeting_services.meeting_start(meeting=live, actor=moderator)
    asker = factories.person()
    approved, _ = meeting_services.question_ask(
        meeting=live, asker=asker, text="When will it be fixed?", anonymous=False
    )
    meeting_services.question_approve(question=approved, actor=moderator)
    pending, _ = meeting_services.question_ask(
        meeting=live, asker=asker, text="Who decided?", anonymous=True
    )
    return World(
        people=people,
        concern=concern,
        submitted=factories.submission().concern,
        due=due,
        answered=answered,
        commitment=commitment,
        meeting=meeting,
        receipt=anonymous.receipt,
        own=factories.open_concern(author=people.employee, moderated_by=moderator),
        live=live,
        approved=approved,
        pending=pending,
    )


def well_formed(world: World, name: str, method: str, client: Api) -> tuple[str, dict | None]:
    """The path and body of a well-formed request for the operation, as the client's
    person would send it."""
    c, tomorrow = world.concern, timezone.localdate() + datetime.timedelta(days=1)
    token_id = (
        ApiToken.objects.filter(person=client.person).values_list("pk", flat=True).first() or 1
    )
    m, live = world.meeting, world.live
    planned_item, live_item = world.item(m, 2), world.item(live, 1)
    requests = {
        "concerns": ("concerns/", {"title": "Lockers", "body": "Too few.", "anonymous": True}),
        "concern-anonymous": (
            "concerns/anonymous/",
            {"access_phrase": ACCESS_PHRASE, "title": "Quietly", "body": "Without an account."},
        ),
        "concerns-similar": ("concerns/similar/", {"text": "lockers in the basement"}),
        "concern-withdraw": (f"concerns/{world.own.pk}/withdraw/", None),
        "my-concerns": ("me/concerns/", None),
        "concern": (f"concerns/{c.pk}/", None),
        "vote": (f"concerns/{c.pk}/vote/", None),
        "moderation": (f"concerns/{world.submitted.pk}/moderation/", {"action": "approve"}),
        "messages": (f"concerns/{c.pk}/messages/", {"body": "Which floor?"}),
        "response": (f"concerns/{world.answered.pk}/response/", None),
        "draft-saved": (f"concerns/{world.due.pk}/response/draft/saved/", None),
        "overdue": ("overdue/", None),
        "dashboard": ("dashboard/", None),
        "ledger-heads": ("ledger/heads/", None),
        "draft": (
            f"concerns/{world.due.pk}/response/draft/",
            {"position": "partly", "summary": "Partly.", "details": "Some of it."},
        ),
        "commitments": (
            f"concerns/{world.answered.pk}/commitments/",
            {
                "description": "Also this",
                "owner": world.people.employee.pk,
                "due_on": str(tomorrow),
            },
        ),
        "rating": (f"concerns/{world.answered.pk}/rating/", {"value": "partly"}),
        "commitment-updates": (
            f"commitments/{world.commitment.pk}/updates/",
            {"status": "in_progress", "note": "Started."},
        ),
        "moderation-queue": ("moderation/queue/", None),
        "receipt": ("receipts/status/", {"receipt": world.receipt}),
        "receipt-reply": ("receipts/reply/", {"receipt": world.receipt, "body": "More detail."}),
        "receipt-withdraw": ("receipts/withdraw/", {"receipt": world.receipt}),
        "tags": ("tags/", None),
        "meetings": (
            "meetings/",
            {"title": "Q4 all-hands", "scheduled_start": f"{tomorrow}T10:00:00Z"}
            if method == "POST"
            else None,
        ),
        "meeting": (f"meetings/{world.meeting.pk}/", None),
        "meeting-start": (f"meetings/{m.pk}/start/", None),
        "meeting-advance": (f"meetings/{live.pk}/advance/", {}),
        "meeting-end": (f"meetings/{live.pk}/end/", None),
        "agenda": (f"meetings/{m.pk}/agenda/", {"topic": "Lifts", "time_box_minutes": 5}),
        "agenda-propose": (f"meetings/{m.pk}/agenda/propose/", None),
        "agenda-item": (f"meetings/{m.pk}/agenda/{planned_item.pk}/", None),
        "agenda-item-move": (
            f"meetings/{m.pk}/agenda/{planned_item.pk}/move/",
            {"direction": "up"},
        ),
        "agenda-item-notes": (
            f"meetings/{m.pk}/agenda/{planned_item.pk}/notes/",
            {"notes": "*Decided* to ask facilities."},
        ),
        "agenda-item-discussed": (f"meetings/{live.pk}/agenda/{live_item.pk}/discussed/", None),
        "questions": (f"meetings/{live.pk}/questions/", {"text": "Why now?", "anonymous": True}),
        "question-vote": (f"meetings/{live.pk}/questions/{world.approved.pk}/vote/", None),
        "question-approve": (f"meetings/{live.pk}/questions/{world.pending.pk}/approve/", None),
        "question-reject": (f"meetings/{live.pk}/questions/{world.pending.pk}/reject/", None),
        "question-highlight": (
            f"meetings/{live.pk}/questions/{world.approved.pk}/highlight/",
            None,
        ),
        "ledger-entries": ("ledger/entries/", None),
        "ledger-head": ("ledger/head/", None),
        "ledger-verify": ("ledger/verify/", {}),
        "me": ("me/", None),
        "preferences": ("me/preferences/", {"digest": "daily"} if method == "PUT" else None),
        "follows": ("me/follows/", None),
        "follow": (f"me/follows/{c.pk}/", None),
        "tokens": ("me/tokens/", {"name": "Another"} if method == "POST" else None),
        "token": (f"me/tokens/{token_id}/", None),
    }
    return requests[name]


def send_well_formed(world: World, name: str, method: str, client: Api):
    path, body = well_formed(world, name, method, client)
    if method == "GET":
        return client.get(path)
    return client.send(method, path, body)
