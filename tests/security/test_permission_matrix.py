"""Who may do what: every named URL in config/urls.py (pages, the REST API, the API
schema and docs, and the Django admin), for every role and signed out, gets exactly
the answer written in the tables below.

The resolver is walked, so a URL added without a row here fails
`test_every_named_url_has_a_row`. Path parameters are filled with real objects. Each
request runs in a savepoint that is rolled back, with the cache cleared, so no
request changes what the next one meets.

How an answer is written:
    "200", "201", "204", "400", "403", "404", "405", "401"
        the status code (for pages and API answers that are not redirects)
    "sign-in"      a redirect to the sign-in page with ?next=
    "admin-login"  a redirect to the admin's sign-in page with ?next=
    "→ name ✓"     a redirect to the page `name` with a success message
    "→ name ✗"     a redirect to the page `name` with an error message
    "→ name"       a redirect to the page `name` without a message
"""

import datetime
import json
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import constants
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from accounts.models import Department, Organisation, Role, User
from accounts.services import api_token_create
from concerns import services as concern_services
from concerns.models import Concern, LeaderRoute, Tag
from ledger.models import LedgerEntry
from meetings import services as meeting_services
from meetings.models import Meeting
from notifications.models import Delivery
from notifications.services import unsubscribe_token
from responses import services as response_services
from responses.models import Commitment
from tests import factories
from webhooks.models import Endpoint, EventType, WebhookDelivery

pytestmark = pytest.mark.django_db

ROLES = ("signed_out", "employee", "moderator", "leader", "admin")
ACCESS_PHRASE = "a lantern for every harbour"


# The world the requests meet ---------------------------------------------------------


@dataclass
class World:
    people: dict[str, User]
    tokens: dict[str, str]
    sessions: dict[str, str]
    ids: dict[str, object]
    receipt: str


@pytest.fixture
def world() -> World:
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    people = {
        "employee": factories.person(first_name="Emil", last_name="Employee"),
        "moderator": factories.moderator(first_name="Mona", last_name="Moderator"),
        "leader": factories.leader(first_name="Leo", last_name="Leader"),
        "admin": User.objects.create_superuser(
            "ada.admin", "ada@example.test", "correct horse battery staple"
        ),
    }
    assert people["admin"].role == Role.ADMIN
    moderator, leader, employee = people["moderator"], people["leader"], people["employee"]
    tag = factories.tag("Safety")
    endpoint = Endpoint.objects.create(
        url="http://127.0.0.1:9/hook", secret="s" * 32, events=[EventType.CONCERN_PUBLISHED]
    )
    department = factories.department("Logistics", size=1)

    # Someone else's named, open concern with a published response and a commitment
    # the leader owns.
    answered = factories.open_concern(title="Fix the loading bay lights", moderated_by=moderator)
    response_services.response_draft_save(
        concern=answered,
        leader=leader,
        position="will_act",
        summary="New lights by June.",
        details="Ordered.",
    )
    response_services.response_publish(concern=answered, leader=leader)
    commitment = response_services.commitment_add(
        concern=answered,
        leader=leader,
        description="Replace the lights",
        owner=leader,
        due_on=timezone.localdate() + datetime.timedelta(days=30),
    )
    # The employee's own named, open concern.
    own = factories.open_concern(
        author=employee, title="Stairs are slippery", moderated_by=moderator
    )
    # An anonymous concern waiting for moderation, and its receipt.
    waiting = factories.submission(anonymous=True, title="Quiet overtime").concern
    receipt = concern_services.concern_submit(
        author=None, anonymous=True, title="Receipt holder's concern", body="Text."
    ).receipt
    meeting = meeting_services.meeting_create(
        organiser=moderator, title="Q3 all-hands", scheduled_start=timezone.now(), hosts=[moderator]
    )
    meeting_services.agenda_item_add(meeting=meeting, moderator=moderator, concern=answered)
    meeting_services.meeting_start(meeting=meeting, actor=moderator)
    question, _ = meeting_services.question_ask(
        meeting=meeting, asker=factories.person(), text="When?", anonymous=False
    )
    meeting_services.question_approve(question=question, actor=moderator)
    pending, _ = meeting_services.question_ask(
        meeting=meeting, asker=factories.person(), text="Why?", anonymous=False
    )
    tokens = {role: api_token_create(person=p, name="matrix").secret for role, p in people.items()}
    sessions = {}
    for role, person in people.items():
        client = Client()
        client.force_login(person)
        sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    delivery = Delivery.objects.create(person=employee, key="digest:daily:2030-01-01", subject="x")
    route = LeaderRoute.objects.create(tag=tag, leader=leader)
    ids = {
        "answered": answered.pk,
        "own": own.pk,
        "waiting": waiting.pk,
        "meeting": meeting.pk,
        "item": meeting.items.get().pk,
        "question": question.pk,
        "pending": pending.pk,
        "commitment": commitment.pk,
        "employee_token": people["employee"].api_tokens.get().pk,
        "unsubscribe": unsubscribe_token(employee),
        # One object of every model the admin manages, for its object pages.
        "admin_objects": {
            "auth_group": Group.objects.create(name="Auditors").pk,
            "accounts_user": employee.pk,
            "accounts_department": department.pk,
            "accounts_organisation": organisation.pk,
            "concerns_tag": tag.pk,
            "concerns_leaderroute": route.pk,
            "ledger_ledgerentry": LedgerEntry.objects.order_by("sequence").first().pk,
            "notifications_delivery": delivery.pk,
            "webhooks_endpoint": endpoint.pk,
            "webhooks_webhookdelivery": WebhookDelivery.objects.first().pk,
        },
        "tag": tag,
        "leader_id": leader.pk,
    }
    assert ids["admin_objects"]["webhooks_webhookdelivery"] is not None
    return World(people=people, tokens=tokens, sessions=sessions, ids=ids, receipt=receipt)


# Asking and reading the answer -------------------------------------------------------


def _name_of(path: str) -> str:
    match = resolve(path.split("?")[0].split("#")[0])
    return match.view_name


def answer(response) -> str:
    code = response.status_code
    if code not in (301, 302, 303):
        return str(code)
    location = response["Location"]
    if location.startswith(reverse("accounts:sign-in") + "?next="):
        return "sign-in"
    if location.startswith(reverse("admin:login") + "?next="):
        return "admin-login"
    storage = getattr(response.wsgi_request, "_messages", None)
    levels = {m.level for m in getattr(storage, "_queued_messages", [])}
    mark = " ✗" if constants.ERROR in levels else " ✓" if constants.SUCCESS in levels else ""
    return f"→ {_name_of(location)}{mark}"


def ask(world: World, role: str, method: str, path: str, data=None, *, api: bool = False) -> str:
    client = Client(raise_request_exception=False)
    headers = {}
    if role != "signed_out":
        if api:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[role]}"
        else:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    if isinstance(data, dict) and "receipt" in data:
        cache.clear()  # receipt look-ups are rate limited per client; all come from one
    with transaction.atomic():
        if api:
            body = json.dumps(data) if data is not None else ""
            response = client.generic(
                method.upper(), path, body, content_type="application/json", **headers
            )
        elif method == "get":
            response = client.get(path, data or {}, **headers)
        else:
            response = getattr(client, method)(path, data or {}, **headers)
        transaction.set_rollback(True)
    return answer(response)


# The tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    expected: tuple[str, str, str, str, str]  # signed out, employee, moderator, leader, admin
    kwargs: tuple = ()  # (parameter, key in world.ids or a literal)
    data: object = None
    note: str = ""

    def id(self) -> str:
        return f"{self.method.upper()} {self.name}{' ' + self.note if self.note else ''}"


def everyone(answer: str, signed_out: str = "sign-in") -> tuple[str, str, str, str, str]:
    return (signed_out, answer, answer, answer, answer)


MODERATORS = ("sign-in", "403", "200", "403", "200")
ANSWERED = (("concern_id", "answered"),)
MEETING = (("meeting_id", "meeting"),)

PAGES = [
    Row("concerns:list", "get", everyone("200")),
    Row("concerns:new", "get", everyone("200")),
    Row(
        "concerns:new",
        "post",
        everyone("→ concerns:detail ✓"),
        data={"title": "A named one", "body": "Text.", "identity": "named"},
    ),
    Row("concerns:new-public", "get", everyone("200", signed_out="200")),
    Row(
        "concerns:new-public",
        "post",
        everyone("200", signed_out="200"),
        data={"access_phrase": ACCESS_PHRASE, "title": "Public", "body": "Text."},
        note="(receipt page)",
    ),
    Row("concerns:similar", "get", everyone("405", signed_out="405")),
    Row("concerns:similar", "post", everyone("200", signed_out="403"), data={"text": "lights"}),
    Row("concerns:mine", "get", everyone("200")),
    Row("concerns:detail", "get", everyone("200"), ANSWERED, note="open"),
    Row(
        "concerns:detail",
        "get",
        ("sign-in", "404", "200", "404", "200"),
        (("concern_id", "waiting"),),
        note="awaiting moderation",
    ),
    Row("concerns:vote", "get", everyone("405"), ANSWERED),
    Row("concerns:vote", "post", everyone("→ concerns:detail ✓"), ANSWERED, {"action": "cast"}),
    Row("concerns:withdraw", "get", everyone("405"), ANSWERED),
    Row(
        "concerns:withdraw",
        "post",
        everyone("→ concerns:detail ✗"),
        ANSWERED,
        note="someone else's",
    ),
    Row(
        "concerns:withdraw",
        "post",
        ("sign-in", "→ concerns:detail ✓", *["→ concerns:detail ✗"] * 3),
        (("concern_id", "own"),),
        note="the employee's own",
    ),
    Row("concerns:message", "get", everyone("405"), ANSWERED),
    Row(
        "concerns:message",
        "post",
        ("sign-in", "→ concerns:detail ✗", *["→ concerns:detail ✓"] * 3),
        ANSWERED,
        {"body": "Which bay?"},
    ),
    Row("concerns:receipt", "get", everyone("200", signed_out="200")),
    Row("concerns:receipt", "post", everyone("200", signed_out="200"), data="receipt"),
    Row("concerns:receipt-reply", "get", everyone("405", signed_out="405")),
    Row("concerns:receipt-reply", "post", everyone("200", signed_out="200"), data="receipt+body"),
    Row("concerns:receipt-withdraw", "get", everyone("405", signed_out="405")),
    Row("concerns:receipt-withdraw", "post", everyone("200", signed_out="200"), data="receipt"),
    Row("concerns:moderation", "get", MODERATORS),
    Row(
        "concerns:moderate",
        "get",
        ("sign-in", "403", "405", "403", "405"),
        (("concern_id", "waiting"), ("action", "review")),
    ),
    Row(
        "concerns:moderate",
        "post",
        ("sign-in", "403", "→ concerns:detail ✓", "403", "→ concerns:detail ✓"),
        (("concern_id", "waiting"), ("action", "review")),
        note="review",
    ),
    Row(
        "concerns:moderate",
        "post",
        ("sign-in", "403", "→ concerns:moderation ✓", "403", "→ concerns:moderation ✓"),
        (("concern_id", "waiting"), ("action", "approve")),
        note="approve",
    ),
    Row(
        "concerns:moderate",
        "post",
        ("sign-in", "403", "404", "403", "404"),
        (("concern_id", "waiting"), ("action", "explode")),
        note="unknown action",
    ),
    Row("responses:edit", "get", ("sign-in", "403", "403", "200", "403"), ANSWERED),
    Row(
        "responses:edit",
        "post",
        ("sign-in", "403", "403", "→ responses:edit ✓", "403"),
        ANSWERED,
        {"position": "partly", "summary": "Half.", "details": "More.", "change_reason": ""},
    ),
    Row("responses:commitment-add", "get", everyone("405"), ANSWERED),
    Row(
        "responses:commitment-add",
        "post",
        ("sign-in", "→ concerns:detail ✗", "→ concerns:detail ✗", "→ concerns:detail ✓")
        + ("→ concerns:detail ✗",),
        ANSWERED,
        "commitment",
    ),
    Row("responses:rate", "get", everyone("405"), ANSWERED),
    Row("responses:rate", "post", everyone("→ concerns:detail ✓"), ANSWERED, {"value": "partly"}),
    Row("responses:commitment-update", "get", everyone("405"), (("commitment_id", "commitment"),)),
    Row(
        "responses:commitment-update",
        "post",
        ("sign-in", "→ concerns:detail ✗", "→ concerns:detail ✗", "→ concerns:detail ✓")
        + ("→ concerns:detail ✗",),
        (("commitment_id", "commitment"),),
        {"status": "in_progress", "note": "Started."},
        note="owned by the leader",
    ),
    Row("responses:overdue", "get", everyone("200")),
    Row("responses:dashboard", "get", everyone("200")),
    Row("ledger:ledger", "get", everyone("200")),
    Row("ledger:ledger", "post", everyone("200"), data={"anchor": ""}),
    Row("notifications:preferences", "get", everyone("200")),
    Row(
        "notifications:preferences",
        "post",
        everyone("→ notifications:preferences ✓"),
        data={"digest": "daily"},
    ),
    Row("notifications:token-create", "get", everyone("405")),
    Row(
        "notifications:token-create",
        "post",
        everyone("200"),
        data={"name": "Slack bot"},
        note="(the token, shown once)",
    ),
    Row("notifications:token-revoke", "get", everyone("405"), (("token_id", "employee_token"),)),
    Row(
        "notifications:token-revoke",
        "post",
        ("sign-in", "→ notifications:preferences ✓", *["→ notifications:preferences ✗"] * 3),
        (("token_id", "employee_token"),),
        note="the employee's token",
    ),
    Row("notifications:digest", "get", everyone("200")),
    Row("notifications:follow", "get", everyone("405"), ANSWERED),
    Row("notifications:follow", "post", everyone("→ concerns:detail ✓"), ANSWERED),
    Row(
        "notifications:unsubscribe",
        "get",
        everyone("200", signed_out="200"),
        (("token", "unsubscribe"),),
    ),
    Row(
        "notifications:unsubscribe",
        "post",
        everyone("200", signed_out="200"),
        (("token", "unsubscribe"),),
        note="the signed token is the credential",
    ),
    Row(
        "notifications:unsubscribe",
        "post",
        everyone("400", signed_out="400"),
        (("token", "forged.token"),),
        note="a forged token",
    ),
    Row("accounts:sign-in", "get", everyone("200", signed_out="200")),
    Row(
        "accounts:sign-in",
        "post",
        everyone("200", signed_out="200"),
        data={"username": "nobody", "password": "wrong"},
        note="wrong password",
    ),
    Row("accounts:sign-out", "get", everyone("405", signed_out="405")),
    Row(
        "accounts:sign-out", "post", everyone("→ accounts:sign-in", signed_out="→ accounts:sign-in")
    ),
    Row("meetings:list", "get", everyone("200")),
    Row(
        "meetings:list",
        "post",
        ("sign-in", "403", "→ meetings:console", "403", "→ meetings:console"),
        data={"title": "Q4 all-hands", "scheduled_start": "2031-01-05 10:00"},
    ),
    Row("meetings:detail", "get", everyone("200"), MEETING),
    Row("meetings:presenter", "get", everyone("200"), MEETING),
    Row("meetings:console", "get", MODERATORS, MEETING),
    Row("meetings:ask", "get", everyone("405"), MEETING),
    Row("meetings:ask", "post", everyone("→ meetings:detail ✓"), MEETING, {"text": "How?"}),
    Row("meetings:vote", "get", everyone("405"), MEETING),
    Row("meetings:vote", "post", everyone("→ meetings:detail"), MEETING, "question"),
    Row("meetings:act", "get", everyone("405"), (*MEETING, ("action", "propose"))),
    Row(
        "meetings:act",
        "post",
        ("sign-in", "403", "→ meetings:console ✓", "403", "→ meetings:console ✓"),
        (*MEETING, ("action", "propose")),
        note="propose",
    ),
    Row(
        "meetings:act",
        "post",
        ("sign-in", "403", "→ meetings:console ✓", "403", "→ meetings:console ✓"),
        (*MEETING, ("action", "approve")),
        "pending question",
        note="approve a question",
    ),
    Row(
        "meetings:act",
        "post",
        ("sign-in", "403", "404", "403", "404"),
        (*MEETING, ("action", "explode")),
        note="unknown action",
    ),
    Row("api-schema", "get", everyone("200", signed_out="200")),
    Row("api-docs", "get", everyone("200", signed_out="200")),
]

# The API, with a bearer token per role. Anonymous callers get 401 everywhere but the
# receipt endpoints, which need no account by design.
NOBODY = "401"
SIGNED_IN = lambda answer: (NOBODY, answer, answer, answer, answer)  # noqa: E731
ONLY_MODERATORS = (NOBODY, "403", "200", "403", "200")
ONLY_LEADERS = lambda answer: (NOBODY, "403", "403", answer, "403")  # noqa: E731
ANYONE = lambda answer: (answer,) * 5  # noqa: E731
# The meeting's drivers here are the moderator (its host) and the admin.
DRIVERS = lambda answer: (NOBODY, "403", answer, "403", answer)  # noqa: E731
ITEM = (*MEETING, ("item_id", "item"))
ITEM_DATA = "item"

API = [
    Row("api:concerns", "get", SIGNED_IN("200")),
    Row("api:concerns", "post", SIGNED_IN("201"), data={"title": "Named", "body": "Text."}),
    Row("api:concerns", "delete", SIGNED_IN("405")),
    Row("api:concern", "get", SIGNED_IN("200"), ANSWERED, note="open"),
    Row(
        "api:concern",
        "get",
        (NOBODY, "404", "200", "404", "200"),
        (("concern_id", "waiting"),),
        note="awaiting moderation",
    ),
    Row("api:concern", "delete", SIGNED_IN("405"), ANSWERED),
    Row("api:vote", "post", SIGNED_IN("200"), ANSWERED),
    Row("api:vote", "delete", SIGNED_IN("200"), ANSWERED),
    Row("api:vote", "get", SIGNED_IN("405"), ANSWERED),
    Row(
        "api:moderation",
        "post",
        ONLY_MODERATORS,
        (("concern_id", "waiting"),),
        {"action": "review"},
    ),
    Row("api:moderation", "get", (NOBODY, "403", "405", "403", "405"), ANSWERED),
    Row(
        "api:messages",
        "post",
        (NOBODY, "403", "201", "201", "201"),
        ANSWERED,
        {"body": "Which bay?"},
    ),
    Row("api:response", "get", SIGNED_IN("200"), ANSWERED),
    Row(
        "api:draft",
        "post",
        ONLY_LEADERS("200"),
        ANSWERED,
        {"position": "partly", "summary": "Half.", "details": "More."},
    ),
    Row("api:draft-saved", "get", ONLY_LEADERS("200"), ANSWERED),
    Row("api:overdue", "get", SIGNED_IN("200")),
    Row("api:dashboard", "get", SIGNED_IN("200")),
    Row("api:ledger-heads", "get", SIGNED_IN("200")),
    Row("api:commitments", "post", ONLY_LEADERS("201"), ANSWERED, "commitment"),
    Row("api:rating", "post", SIGNED_IN("200"), ANSWERED, {"value": "partly"}),
    Row(
        "api:commitment-updates",
        "post",
        (NOBODY, "403", "403", "201", "403"),
        (("commitment_id", "commitment"),),
        {"status": "in_progress", "note": "Started."},
    ),
    Row("api:moderation-queue", "get", ONLY_MODERATORS),
    Row("api:receipt", "post", ANYONE("200"), data="receipt"),
    Row("api:receipt", "get", ANYONE("405")),
    Row("api:receipt-reply", "post", ANYONE("200"), data="receipt+body"),
    Row("api:receipt-withdraw", "post", ANYONE("200"), data="receipt"),
    Row("api:tags", "get", SIGNED_IN("200")),
    Row(
        "api:concern-anonymous",
        "post",
        ANYONE("201"),
        data={"access_phrase": ACCESS_PHRASE, "title": "Public", "body": "Text."},
    ),
    Row("api:concerns-similar", "post", SIGNED_IN("200"), data={"text": "lights"}),
    Row(
        "api:concern-withdraw",
        "post",
        SIGNED_IN("403"),
        ANSWERED,
        note="someone else's",
    ),
    Row(
        "api:concern-withdraw",
        "post",
        (NOBODY, "200", "403", "403", "403"),
        (("concern_id", "own"),),
        note="the employee's own",
    ),
    Row("api:my-concerns", "get", SIGNED_IN("200")),
    Row("api:meetings", "get", SIGNED_IN("200")),
    Row(
        "api:meetings",
        "post",
        (NOBODY, "403", "201", "403", "201"),
        data={"title": "Q4 all-hands", "scheduled_start": "2031-01-05T10:00:00Z"},
    ),
    Row("api:meeting", "get", SIGNED_IN("200"), MEETING),
    Row("api:meeting-start", "post", DRIVERS("409"), MEETING, note="already live"),
    Row("api:meeting-advance", "post", DRIVERS("200"), MEETING, ITEM_DATA),
    Row("api:meeting-end", "post", DRIVERS("200"), MEETING),
    Row("api:agenda", "post", DRIVERS("201"), MEETING, {"topic": "Parking"}),
    Row("api:agenda-propose", "post", DRIVERS("200"), MEETING),
    Row("api:agenda-item", "delete", DRIVERS("409"), ITEM, note="the current item"),
    Row("api:agenda-item-move", "post", DRIVERS("200"), ITEM, {"direction": "down"}),
    Row("api:agenda-item-notes", "put", DRIVERS("200"), ITEM, {"notes": "Said *yes*."}),
    Row("api:agenda-item-discussed", "post", DRIVERS("200"), ITEM),
    Row("api:questions", "post", SIGNED_IN("201"), MEETING, {"text": "How?"}),
    Row("api:question-vote", "post", SIGNED_IN("200"), (*MEETING, ("question_id", "question"))),
    Row("api:question-approve", "post", DRIVERS("200"), (*MEETING, ("question_id", "pending"))),
    Row("api:question-reject", "post", DRIVERS("200"), (*MEETING, ("question_id", "pending"))),
    Row("api:question-highlight", "post", DRIVERS("200"), (*MEETING, ("question_id", "question"))),
    Row("api:ledger-entries", "get", SIGNED_IN("200")),
    Row("api:ledger-head", "get", SIGNED_IN("200")),
    Row("api:ledger-verify", "post", SIGNED_IN("200"), data={}),
    Row("api:me", "get", SIGNED_IN("200")),
    Row("api:preferences", "get", SIGNED_IN("200")),
    Row("api:preferences", "put", SIGNED_IN("200"), data={"digest": "daily"}),
    Row("api:follows", "get", SIGNED_IN("200")),
    Row("api:follow", "put", SIGNED_IN("201"), ANSWERED),
    Row("api:follow", "delete", SIGNED_IN("204"), ANSWERED),
    Row("api:tokens", "get", SIGNED_IN("200")),
    Row("api:tokens", "post", SIGNED_IN("201"), data={"name": "Another"}),
    Row(
        "api:token",
        "delete",
        (NOBODY, "200", "400", "400", "400"),
        (("token_id", "employee_token"),),
        note="the employee's token",
    ),
]

# The Django admin: only the admin (a superuser with the admin role) gets in. Every
# other role, signed in or not, is sent to the admin's sign-in page.
ADMIN_MODELS = [
    "auth_group",
    "accounts_user",
    "accounts_department",
    "accounts_organisation",
    "concerns_tag",
    "concerns_leaderroute",
    "ledger_ledgerentry",
    "notifications_delivery",
    "webhooks_endpoint",
    "webhooks_webhookdelivery",
]
# What the admin gets; "add" and "delete" are refused where the record must not be
# made or removed by hand (the ledger, deliveries, the one organisation).
ADMIN_ANSWERS = {
    "admin:index": "200",
    "admin:login": "→ admin:index",
    "admin:logout": "405",
    "admin:password_change": "200",
    "admin:password_change_done": "200",
    "admin:autocomplete": "403",
    "admin:jsi18n": "200",
    "admin:view_on_site": "404",
    "admin:app_list": "200",
    "admin:auth_user_password_change": "200",
    **{
        f"admin:{model}_{view}": "200"
        for model in ADMIN_MODELS
        for view in ("changelist", "add", "history", "delete", "change")
    },
}
ADMIN_ANSWERS.update(
    {
        "admin:accounts_organisation_add": "403",
        "admin:accounts_organisation_delete": "403",
        "admin:ledger_ledgerentry_add": "403",
        "admin:ledger_ledgerentry_delete": "403",
        "admin:notifications_delivery_add": "403",
        "admin:notifications_delivery_delete": "403",
        "admin:webhooks_webhookdelivery_add": "403",
    }
)
# Signed out and non-staff roles: the admin's own sign-in page is open, the rest
# redirects to it.
ADMIN_FOR_OTHERS = {"admin:login": "200", "admin:logout": "→ admin:index"}


def _admin_rows() -> list[Row]:
    rows = []
    for name, for_admin in ADMIN_ANSWERS.items():
        others = ADMIN_FOR_OTHERS.get(name, "admin-login")
        rows.append(Row(name, "get", (others, others, others, others, for_admin)))
    return rows


ADMIN = _admin_rows()


# Filling in a row ----------------------------------------------------------------------


def _kwargs(row: Row, world: World) -> dict:
    kwargs = {}
    for parameter, key in row.kwargs:
        kwargs[parameter] = world.ids.get(key, key) if isinstance(key, str) else key
    name = row.name
    if name.startswith("admin:"):
        objects = world.ids["admin_objects"]
        if name == "admin:view_on_site":
            ct = ContentType.objects.get_for_model(Tag)
            kwargs = {"content_type_id": ct.pk, "object_id": objects["concerns_tag"]}
        elif name == "admin:app_list":
            kwargs = {"app_label": "concerns"}
        elif name == "admin:auth_user_password_change":
            kwargs = {"id": objects["accounts_user"]}
        else:
            model, _, view = name.removeprefix("admin:").rpartition("_")
            if model in objects and view in ("history", "delete", "change"):
                kwargs = {"object_id": objects[model]}
    return kwargs


def _data(row: Row, world: World):
    if row.data == "receipt":
        return {"receipt": world.receipt}
    if row.data == "receipt+body":
        return {"receipt": world.receipt, "body": "An answer."}
    if row.data == "commitment":
        due = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
        return {"description": "Paint the lines", "owner": world.ids["leader_id"], "due_on": due}
    if row.data == "question":
        return {"question": str(world.ids["question"])}
    if row.data == "pending question":
        return {"question": str(world.ids["pending"])}
    if row.data == ITEM_DATA:
        return {"item": world.ids["item"]}
    return row.data


def _run(rows: list[Row], world: World, *, api: bool = False) -> list[str]:
    wrong = []
    for row in rows:
        path = reverse(row.name, kwargs=_kwargs(row, world))
        got = tuple(
            ask(world, role, row.method, path, _data(row, world), api=api) for role in ROLES
        )
        if got != row.expected:
            cells = [
                f"{role}: {g!r} (expected {e!r})"
                for role, g, e in zip(ROLES, got, row.expected, strict=True)
                if g != e
            ]
            wrong.append(f"{row.id()} {path}: " + "; ".join(cells))
    return wrong


# The tests -------------------------------------------------------------------------------


def _named_urls() -> set[str]:
    found: set[str] = set()

    def walk(patterns, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace
                walk(
                    pattern.url_patterns,
                    f"{namespace}:{inner}" if namespace and inner else inner or namespace,
                )
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, None)
    return found


def test_every_named_url_has_a_row():
    covered = {row.name for row in [*PAGES, *API, *ADMIN]}

    assert _named_urls() - covered == set(), "URLs without an expected answer"
    assert covered - _named_urls() == set(), "rows for URLs that no longer exist"


def test_pages_answer_each_role_as_the_table_says(world):
    wrong = _run(PAGES, world)

    assert wrong == [], "\n  " + "\n  ".join(wrong)


def test_the_api_answers_each_role_as_the_table_says(world):
    wrong = _run(API, world, api=True)

    assert wrong == [], "\n  " + "\n  ".join(wrong)


def test_the_admin_answers_each_role_as_the_table_says(world):
    wrong = _run(ADMIN, world)

    assert wrong == [], "\n  " + "\n  ".join(wrong)
    assert not LogEntry.objects.exists(), "a GET wrote to the admin log"


def test_a_revoked_token_opens_nothing_but_the_receipt_endpoints(world):
    """The receipt endpoints take no credential but the receipt; a revoked token
    opens nothing."""
    employee = world.people["employee"]
    token = employee.api_tokens.get()
    token.revoked_at = timezone.now()
    token.save()

    assert ask(world, "employee", "get", "/api/v1/me/", api=True) == "401"
    assert (
        ask(
            world,
            "employee",
            "post",
            "/api/v1/receipts/status/",
            {"receipt": world.receipt},
            api=True,
        )
        == "200"
    )


def test_a_closed_public_form_is_not_found_for_anyone(world):
    organisation = Organisation.current()
    organisation.public_form_enabled = False
    organisation.save()
    path = reverse("concerns:new-public")

    answers = {role: ask(world, role, "get", path) for role in ROLES}

    assert answers == dict.fromkeys(ROLES, "404")


def test_no_department_or_person_list_is_reachable_without_admin(world):
    """Department membership is what small-group hiding protects: only the admin's
    pages list it."""
    department = Department.objects.get(name="Logistics")
    path = reverse("admin:accounts_department_change", kwargs={"object_id": department.pk})

    answers = {role: ask(world, role, "get", path) for role in ROLES}

    assert answers == {**dict.fromkeys(ROLES, "admin-login"), "admin": "200"}
    assert Concern.objects.exists() and Meeting.objects.exists() and Commitment.objects.exists()
