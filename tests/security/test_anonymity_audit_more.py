"""The anonymity audit for the paths test_anonymity_scan.py does not take: rating a
response, an anonymous live question and its approval, question votes, the REST API
(anonymous submission with a bearer token, votes, receipts), and the follow-ups that
anonymous work sets off: follower mail, webhook payloads (in the outbox and as a
receiver gets them), Celery task messages and channel-layer messages.

Each action is taken by a known person, from a known address and browser, through a
browser that really holds a CSRF cookie; then everything the system kept is searched
with `kept_traces()` (tests/security/scan.py), and so are the arguments of every
Celery task sent and every webhook body delivered. None may name the person (id,
username, email, names, session key, address, user agent) or hold the receipt, the
CSRF secret or the API token. Django's own traces count too: `last_login`, the
session row, the admin log.
"""

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import async_to_sync
from celery.app.task import Task
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.contrib.admin.models import LogEntry
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, User
from accounts.services import api_token_create
from concerns import anonymity
from concerns import services as concern_services
from concerns.models import Concern, Status, Vote
from config.celery import app as celery_app
from ledger.models import LedgerEntry
from ledger.services import ledger_flush_deferred
from meetings import services as meeting_services
from meetings.events import drivers_group, meeting_group
from meetings.models import LiveQuestion, LiveQuestionVote, Meeting, QuestionStatus
from notifications.models import Follow
from responses import services as response_services
from responses.models import Rating
from tests import factories
from tests.security.scan import Kept, Needle, kept_traces, with_digests
from webhooks.models import Endpoint, EventType, OutboxEvent

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.203"
USER_AGENT = "AuditBrowser/2.0 audit-ua-5d81e"
PASSWORD = "correct horse battery staple"
# Distinctive enough that finding it as a whole number anywhere means finding the person.
PERSON_ID = 827364519
LISTENER = "audit.listener"

TITLE = "Overtime is logged as training hours"
BODY = "The rota calls **overtime** training so that it is never paid."
QUESTION = "Why were the night-shift allowances cut without a consultation?"
REPLY = "It started in the March rota, for all three wards."


# The webhook receiver ----------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the name http.server calls
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode("utf-8", errors="replace")
        self.server.received.append(f"{self.headers}\n{body}")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # the test reads the bodies, not a log
        pass


@pytest.fixture
def receiver() -> Iterator[list[str]]:
    """A webhook receiver on 127.0.0.1: what it was sent, headers and body."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()
    server.server_close()


# Celery ------------------------------------------------------------------------------


@pytest.fixture
def tasks(monkeypatch) -> list[str]:
    """Every task message sent, as text (name, args, kwargs). Tasks run in the test
    (eagerly) so that their mail and webhook deliveries happen and are searched; the
    broker path on Redis has a test of its own below."""
    sent: list[str] = []
    original = Task.apply_async

    def recording(self, args=None, kwargs=None, *rest, **options):
        sent.append(json.dumps({"task": self.name, "args": args, "kwargs": kwargs}, default=str))
        return original(self, args, kwargs, *rest, **options)

    monkeypatch.setattr(Task, "apply_async", recording)
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield sent
    conf.task_always_eager, conf.task_eager_propagates = saved


# The scene ---------------------------------------------------------------------------


@dataclass
class Browser:
    client: Client

    @property
    def csrf(self) -> str:
        return self.client.cookies[django_settings.CSRF_COOKIE_NAME].value

    @property
    def session_key(self) -> str | None:
        cookie = self.client.cookies.get(django_settings.SESSION_COOKIE_NAME)
        return cookie.value if cookie is not None and cookie.value else None

    def get(self, path: str, **extra) -> HttpResponse:
        return self.client.get(path, **extra)

    def post(self, path: str, data: dict | None = None, **extra) -> HttpResponse:
        """A form post, with the token a real browser takes from the page."""
        return self.client.post(path, {"csrfmiddlewaretoken": self.csrf, **(data or {})}, **extra)

    def api(self, method: str, path: str, data: dict | None = None, token: str | None = None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        call = getattr(self.client, method)
        return call(path, json.dumps(data or {}), content_type="application/json", **headers)


@dataclass
class Scene:
    person: User
    moderator: User
    leader: User
    follower: User
    endpoint: Endpoint
    sent_tasks: list[str]
    received: list[str]
    browsers: list[Browser] = field(default_factory=list)
    token: str | None = None

    def browser(self, *, signed_in: bool = True) -> Browser:
        """The person's browser: every request carries their address and user agent,
        and the CSRF cookie is enforced as a real browser meets it."""
        client = Client(enforce_csrf_checks=True, REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=USER_AGENT)
        browser = Browser(client)
        assert client.get(reverse("accounts:sign-in")).status_code == 200
        if signed_in:
            response = browser.post(
                reverse("accounts:sign-in"),
                {"username": self.person.username, "password": PASSWORD},
            )
            assert response.status_code == 302, "the person could not sign in"
        self.browsers.append(browser)
        return browser

    def api_token(self) -> str:
        self.token = api_token_create(person=self.person, name="Audit script").secret
        return self.token

    def who(self) -> list[Needle]:
        person = self.person
        needles = [
            Needle("person's id", str(person.pk), whole_number=True),
            Needle("username", person.username),
            Needle("email address", person.email),
            Needle("first name", person.first_name),
            Needle("last name", person.last_name),
            Needle("IP address", ADDRESS),
            Needle("user agent", USER_AGENT),
            Needle("user agent's token", "audit-ua-5d81e"),
        ]
        for browser in self.browsers:
            if browser.session_key:
                needles.append(Needle("session key", browser.session_key))
        return needles

    def secrets(self, receipt: str | None = None) -> list[Needle]:
        needles = []
        for n, browser in enumerate(self.browsers):
            needles.append(Needle(f"CSRF secret of browser {n}", browser.csrf))
        if self.token:
            needles.append(Needle("API token", self.token))
        if receipt:
            normalised = anonymity.receipt_normalise(receipt)
            needles += [
                Needle("receipt", receipt),
                Needle("receipt, normalised", normalised),
                Needle("receipt, spaced", receipt.replace("-", " ")),
            ]
        return needles


@pytest.fixture
def scene(tasks, receiver, settings) -> Scene:
    # The receiver listens on loopback, which webhooks refuse unless allowed.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    Organisation.current()  # made now, not by the first action that reads it
    person = factories.person(
        id=PERSON_ID,
        username="ottoline.brackwater.9a2",
        email="o.brackwater.9a2@audit.example.test",
        first_name="Ottoline",
        last_name="Brackwater",
        password=PASSWORD,
    )
    endpoint = Endpoint.objects.create(
        url=receiver.url,
        description="Audit receiver",
        secret="audit-webhook-secret-0123456789",
        events=list(EventType.values),
    )
    follower = factories.person(first_name="Fenella", last_name="Follower")
    return Scene(
        person=person,
        moderator=factories.moderator(first_name="Moira", last_name="Moderator"),
        leader=factories.leader(first_name="Lionel", last_name="Leader"),
        follower=follower,
        endpoint=endpoint,
        sent_tasks=tasks,
        received=receiver.received,
    )


# What the audit searches ---------------------------------------------------------------


@dataclass
class Outcome:
    kept: Kept
    responses: list[HttpResponse]
    receipt: str | None = None
    tasks: list[str] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)


@contextmanager
def audited(scene: Scene) -> Iterator[Outcome]:
    """Runs the block inside kept_traces(), with a listener in every meeting's groups
    so that channel-layer messages stay in the layer to be searched."""
    layer = get_channel_layer()
    for meeting_id in Meeting.objects.values_list("pk", flat=True):
        for group in (meeting_group(meeting_id), drivers_group(meeting_id)):
            async_to_sync(layer.group_add)(group, LISTENER)
    tasks_before, webhooks_before = len(scene.sent_tasks), len(scene.received)
    outcome = Outcome(kept=None, responses=[])  # type: ignore[arg-type]
    try:
        with kept_traces() as kept:
            outcome.kept = kept
            yield outcome
        outcome.tasks = scene.sent_tasks[tasks_before:]
        outcome.webhooks = scene.received[webhooks_before:]
    finally:
        async_to_sync(layer.flush)()


def links(outcome: Outcome, scene: Scene) -> list[str]:
    person, secrets = scene.who(), scene.secrets(outcome.receipt)
    findings = outcome.kept.links_to(person=person, secrets=secrets)
    for place, texts in (("celery task", outcome.tasks), ("webhook sent", outcome.webhooks)):
        for text in texts:
            for needle in with_digests([*person, *secrets]):
                if needle.found_in(text):
                    findings.append(f"{place}: {text[:120]!r}: holds the {needle.label}")
    return findings


def django_traces(outcome: Outcome, scene: Scene) -> list[str]:
    """Django's own records of the request: the person's row (last_login), their
    session, the admin log. An anonymous action must leave all three alone."""
    findings = []
    for change in outcome.kept.changes:
        if change.table == User._meta.db_table and change.values().get("id") == scene.person.pk:
            findings.append(f"the person's row changed: {change.changed_columns}")
        if change.table == "django_session":
            findings.append(f"a session was written: {change}")
        if change.table == LogEntry._meta.db_table:
            findings.append(f"an admin log entry was written: {change}")
    for response in outcome.responses:
        if django_settings.SESSION_COOKIE_NAME in response.cookies:
            findings.append(f"the answer set the session cookie ({response.status_code})")
    return findings


def _listed(findings: list[str]) -> str:
    return "\n  " + "\n  ".join(findings)


# Building blocks -----------------------------------------------------------------------


def _answered_concern(scene: Scene, *, title: str = "Publish the rota rules") -> Concern:
    concern = factories.open_concern(title=title, moderated_by=scene.moderator)
    response_services.response_draft_save(
        concern=concern,
        leader=scene.leader,
        position="will_act",
        summary="We will publish the rules.",
        details="They go on the intranet on Monday.",
    )
    response_services.response_publish(concern=concern, leader=scene.leader)
    Follow.objects.create(person=scene.follower, concern=concern)
    return Concern.objects.get(pk=concern.pk)


def _live_meeting(scene: Scene) -> Meeting:
    meeting = meeting_services.meeting_create(
        organiser=scene.moderator,
        title="Autumn all-hands",
        scheduled_start=timezone.now(),
        hosts=[scene.moderator],
    )
    return meeting_services.meeting_start(meeting=meeting, actor=scene.moderator)


def _question_receipt(response: HttpResponse) -> str:
    match = re.search(r'id="receipt-code">([^<]+)<', response.content.decode())
    assert match, "the page did not show a receipt"
    return match.group(1).strip()


# The actions -----------------------------------------------------------------------------


def rating_by_page(scene: Scene) -> Outcome:
    concern = _answered_concern(scene)
    browser = scene.browser()
    with audited(scene) as outcome:
        response = browser.post(reverse("responses:rate", args=[concern.pk]), {"value": "partly"})
        outcome.responses.append(response)
    assert response.status_code == 302
    assert Rating.objects.filter(version__response__concern=concern).count() == 1
    return outcome


def deciding_rating_by_page(scene: Scene) -> Outcome:
    """The fifth "not answered" rating: the response becomes due again, which mails
    the follower, emits webhooks and appends to the ledger."""
    concern = _answered_concern(scene)
    for _ in range(response_services.ESCALATION_MIN_RATERS - 1):
        response_services.rating_cast(
            concern=concern, rater=factories.person(), value="not_answered"
        )
    browser = scene.browser()
    with audited(scene) as outcome:
        response = browser.post(
            reverse("responses:rate", args=[concern.pk]), {"value": "not_answered"}
        )
        outcome.responses.append(response)
    assert response.status_code == 302
    assert Concern.objects.get(pk=concern.pk).status == Status.RESPONSE_DUE, "no escalation"
    _announced_later_by_the_batch(scene, outcome)
    return outcome


def deciding_vote_by_page(scene: Scene) -> Outcome:
    """The vote that makes a written response due, on a concern someone follows."""
    organisation = Organisation.current()
    organisation.response_vote_threshold = 2
    organisation.save()
    concern = factories.open_concern(
        title="Publish the sales contracts", moderated_by=scene.moderator
    )
    concern_services.vote_cast(concern=concern, voter=factories.person())
    Follow.objects.create(person=scene.follower, concern=concern)
    browser = scene.browser()
    with audited(scene) as outcome:
        response = browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})
        outcome.responses.append(response)
    assert response.status_code == 302
    assert Concern.objects.get(pk=concern.pk).status == Status.RESPONSE_DUE
    _announced_later_by_the_batch(scene, outcome)
    return outcome


def _announced_later_by_the_batch(scene: Scene, outcome: Outcome) -> None:
    """At the moment of the deciding act nobody is mailed, no webhook is written and
    the ledger does not grow; the next publication batch and the daily ledger flush
    announce it, and what they send names nobody either."""
    assert outcome.kept.mails == [], "the follower was mailed at the moment of the act"
    assert outcome.webhooks == [], "a webhook went out at the moment of the act"
    assert not [c for c in outcome.kept.changes if c.table == LedgerEntry._meta.db_table]
    with audited(scene) as later:
        concern_services.publication_batch()
        ledger_flush_deferred()
    [mail] = later.kept.mails
    assert mail.to == [scene.follower.email], "the follower was not told"
    assert any("concern.response_due" in body for body in later.webhooks)
    assert [c for c in later.kept.changes if c.table == LedgerEntry._meta.db_table]
    # Tasks take ids and plain values only.
    names = {json.loads(t)["task"] for t in later.tasks}
    assert names == {"notifications.tasks.send_delivery", "webhooks.tasks.deliver_webhook"}
    for text in later.tasks:
        args = json.loads(text)["args"]
        assert all(isinstance(a, int) for a in args), f"a task carries more than ids: {text}"
    assert links(later, scene) == []


def live_question(scene: Scene) -> Outcome:
    meeting = _live_meeting(scene)
    browser = scene.browser()
    assert browser.get(meeting.get_absolute_url()).status_code == 200
    with audited(scene) as outcome:
        response = browser.post(
            reverse("meetings:ask", args=[meeting.pk]), {"text": QUESTION, "anonymous": "on"}
        )
        outcome.responses.append(response)
    assert response.status_code == 200, "the question was not accepted"
    outcome.receipt = _question_receipt(response)
    question = LiveQuestion.objects.get(meeting=meeting)
    assert question.is_anonymous and question.author_id is None
    assert any(t.place in ("channel layer", "redis") for t in outcome.kept.stores), (
        "no channel-layer message was kept to search"
    )
    return outcome


def live_question_approval(scene: Scene) -> Outcome:
    """A moderator approves the anonymous question: it becomes an anonymous concern
    that the asker's receipt follows, and a published-concern webhook goes out."""
    meeting = _live_meeting(scene)
    browser = scene.browser()
    asked = browser.post(
        reverse("meetings:ask", args=[meeting.pk]), {"text": QUESTION, "anonymous": "on"}
    )
    receipt = _question_receipt(asked)
    question = LiveQuestion.objects.get(meeting=meeting)
    moderator = Client()
    moderator.force_login(scene.moderator)
    with audited(scene) as outcome:
        response = moderator.post(
            reverse("meetings:act", args=[meeting.pk, "approve"]), {"question": question.pk}
        )
    outcome.receipt = receipt
    assert response.status_code == 302
    concern = Concern.objects.get(live_question=question)
    assert concern.is_anonymous and concern.author_id is None and concern.status == Status.OPEN
    [published] = OutboxEvent.objects.filter(type=EventType.CONCERN_PUBLISHED)
    assert published.payload["anonymous"] is True and published.payload["author"] is None
    delivered = [body for body in outcome.webhooks if "concern.published" in body]
    assert delivered and all('"author":null' in body for body in delivered)
    # The receipt the asker was shown now follows the concern.
    found = browser.post(reverse("concerns:receipt"), {"receipt": receipt})
    assert found.status_code == 200 and QUESTION[:40] in found.content.decode()
    return outcome


def question_vote(scene: Scene) -> Outcome:
    meeting = _live_meeting(scene)
    question, _ = meeting_services.question_ask(
        meeting=meeting, asker=factories.person(), text=QUESTION, anonymous=False
    )
    meeting_services.question_approve(question=question, actor=scene.moderator)
    browser = scene.browser()
    with audited(scene) as outcome:
        response = browser.post(
            reverse("meetings:vote", args=[meeting.pk]), {"question": question.pk}
        )
        outcome.responses.append(response)
    assert response.status_code == 302
    assert LiveQuestionVote.objects.filter(question=question).count() == 1
    return outcome


def api_anonymous_submission(scene: Scene) -> Outcome:
    token = scene.api_token()
    tag = factories.tag("Payroll")
    browser = scene.browser(signed_in=False)
    with audited(scene) as outcome:
        response = browser.api(
            "post",
            "/api/v1/concerns/",
            {"title": TITLE, "body": BODY, "anonymous": True, "tags": [tag.slug]},
            token=token,
        )
        outcome.responses.append(response)
    assert response.status_code == 201, response.content
    outcome.receipt = response.json()["receipt"]
    concern = Concern.objects.get(title=TITLE)
    assert concern.is_anonymous and concern.author_id is None
    return outcome


def api_vote_and_retraction(scene: Scene) -> Outcome:
    token = scene.api_token()
    concern = factories.open_concern(
        title="Publish the sales contracts", moderated_by=scene.moderator
    )
    browser = scene.browser(signed_in=False)
    path = f"/api/v1/concerns/{concern.pk}/vote/"
    with audited(scene) as outcome:
        cast = browser.api("post", path, token=token)
        assert Vote.objects.filter(concern=concern).count() == 1
        retracted = browser.api("delete", path, token=token)
        again = browser.api("post", path, token=token)
        outcome.responses += [cast, retracted, again]
    assert [r.status_code for r in outcome.responses] == [200, 200, 200]
    assert Concern.objects.get(pk=concern.pk).vote_count == 1
    return outcome


def api_rating(scene: Scene) -> Outcome:
    token = scene.api_token()
    concern = _answered_concern(scene)
    browser = scene.browser(signed_in=False)
    with audited(scene) as outcome:
        response = browser.api(
            "post", f"/api/v1/concerns/{concern.pk}/rating/", {"value": "answered"}, token=token
        )
        outcome.responses.append(response)
    assert response.status_code == 200, response.content
    return outcome


def api_receipts(scene: Scene) -> Outcome:
    """Status, reply and withdrawal by receipt through the API, from the person's
    signed-in browser (the API ignores the session, but it travels all the same)."""
    submission = factories.submission(anonymous=True, title=TITLE, body=BODY)
    concern_services.message_ask(
        concern=submission.concern, author=scene.moderator, body="Which wards?"
    )
    receipt = submission.receipt
    browser = scene.browser()
    with audited(scene) as outcome:
        outcome.responses += [
            browser.api("post", "/api/v1/receipts/status/", {"receipt": receipt.lower()}),
            browser.api("post", "/api/v1/receipts/reply/", {"receipt": receipt, "body": REPLY}),
            browser.api("post", "/api/v1/receipts/withdraw/", {"receipt": receipt}),
        ]
    outcome.receipt = receipt
    assert [r.status_code for r in outcome.responses] == [200, 200, 200]
    assert Concern.objects.get(pk=submission.concern.pk).status == Status.WITHDRAWN
    return outcome


def receipt_reply_by_page_with_a_follower(scene: Scene) -> Outcome:
    """The submitter answers by receipt on a published concern that others follow."""
    submission = factories.submission(anonymous=True, title=TITLE, body=BODY)
    concern = factories.published(submission.concern, scene.moderator)
    Follow.objects.create(person=scene.follower, concern=concern)
    concern_services.message_ask(concern=concern, author=scene.moderator, body="Which wards?")
    browser = scene.browser()
    with audited(scene) as outcome:
        response = browser.post(
            reverse("concerns:receipt-reply"), {"receipt": submission.receipt, "body": REPLY}
        )
        outcome.responses.append(response)
    outcome.receipt = submission.receipt
    assert response.status_code == 200
    return outcome


def _not_live(finding: str) -> bool:
    # Messages to live clients carry the moment they were sent: that is what "live"
    # means, they expire within a minute, and they hold no person.
    return not (finding.startswith("channel layer") or LISTENER in finding or "group:" in finding)


def stored_times(outcome: Outcome) -> list[str]:
    return [
        *filter(_not_live, outcome.kept.times_of_the_action()),
        *outcome.kept.sequence_numbers(),
    ]


@dataclass(frozen=True)
class Audit:
    action: Callable[[Scene], Outcome]
    by_the_person: bool = True  # else Django's traces of the request are not the person's
    dated_by_design: bool = False  # its follow-ups have a test of their own, below


AUDITS = [
    Audit(rating_by_page),
    Audit(live_question),
    Audit(live_question_approval, by_the_person=False, dated_by_design=True),
    Audit(question_vote),
    Audit(api_anonymous_submission),
    Audit(api_vote_and_retraction),
    Audit(api_rating),
    Audit(api_receipts),
    Audit(receipt_reply_by_page_with_a_follower),
]


def _judged(audit: Audit, scene: Scene) -> None:
    outcome = audit.action(scene)
    findings = {"links": links(outcome, scene)}
    if audit.by_the_person:
        findings["Django"] = django_traces(outcome, scene)
    if not audit.dated_by_design:
        findings["time"] = stored_times(outcome)
    found = {kind: items for kind, items in findings.items() if items}
    assert found == {}, f"{audit.action.__name__}:" + "".join(
        f"\n {kind}:" + _listed(items) for kind, items in found.items()
    )


@pytest.mark.parametrize("audit", AUDITS, ids=[a.action.__name__ for a in AUDITS])
def test_an_anonymous_action_leaves_no_link_no_django_trace_and_no_time(scene, audit):
    """Each category is reported, so one failure does not hide another:
    - links: nothing kept, sent to a task or posted to a webhook names the person or
      holds the receipt, the CSRF secret or the API token;
    - Django: the person's row (last_login), the session and the admin log are left
      alone, and the answer sets no session cookie;
    - time: nothing stored says when, to the second, it happened, and no new row is
      numbered in sequence with other work. (The approval of a question is the
      moderator's act: its time is the moderator's, by design.)"""
    _judged(audit, scene)


@pytest.mark.parametrize(
    "action", [deciding_vote_by_page, deciding_rating_by_page], ids=["vote", "rating"]
)
def test_the_deciding_vote_or_rating_links_nobody_and_cannot_be_timed(scene, action):
    """The vote or rating that makes a written response due, on a concern someone
    follows, with a webhook endpoint subscribed to everything: the follower is mailed,
    webhooks are delivered and the ledger grows. None of it may name the person, and
    docs/threat-model.md promises more: "A concern reaching the response threshold is
    recorded with the date only, so the deciding vote cannot be timed." That must hold
    for what the change sets off too: the webhook outbox and its deliveries, the
    follower's mail delivery, and the place of the ledger entry among entries whose
    times are public."""
    _judged(Audit(action), scene)


@pytest.mark.redis
def test_task_messages_on_the_redis_broker_name_nobody(scene, settings):
    """With a real broker, the queued messages themselves (kombu bodies in Redis) are
    searched by kept_traces(): the deciding vote queues a mail and webhooks."""
    celery_app.conf.task_always_eager = False
    organisation = Organisation.current()
    organisation.response_vote_threshold = 1
    organisation.save()
    concern = factories.open_concern(
        title="Publish the sales contracts", moderated_by=scene.moderator
    )
    Follow.objects.create(person=scene.follower, concern=concern)
    browser = scene.browser()
    with audited(scene) as outcome:
        response = browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})
        # The follower's mail and the webhook wait for the batch: run it, so their task
        # messages reach the broker and are searched too.
        concern_services.publication_batch()
    assert response.status_code == 302
    queued = [t for t in outcome.kept.stores if t.place == "redis" and "send_delivery" in t.text]
    assert queued, "no task message reached the broker"

    findings = links(outcome, scene)

    assert findings == [], "the broker holds links:" + _listed(findings)


def test_a_csrf_cookie_and_the_session_survive_anonymous_work_unchanged(scene):
    """The browser's CSRF secret and session key stay what they were: an anonymous
    action that rotated either would mark the moment in the browser's cookie jar."""
    concern = _answered_concern(scene)
    browser = scene.browser()
    csrf, session = browser.csrf, browser.session_key
    last_login = User.objects.get(pk=scene.person.pk).last_login

    browser.post(reverse("responses:rate", args=[concern.pk]), {"value": "partly"})
    browser.post(reverse("concerns:receipt"), {"receipt": anonymity.receipt_new()})
    browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})

    assert (browser.csrf, browser.session_key) == (csrf, session)
    assert User.objects.get(pk=scene.person.pk).last_login == last_login


def test_question_state_sent_to_live_clients_names_no_anonymous_asker(scene):
    meeting = _live_meeting(scene)
    meeting_services.question_ask(
        meeting=meeting, asker=scene.person, text=QUESTION, anonymous=True
    )
    layer = get_channel_layer()
    async_to_sync(layer.group_add)(drivers_group(meeting.pk), LISTENER)
    try:
        from meetings.events import publish_meeting_state

        publish_meeting_state(meeting.pk)
        message = async_to_sync(layer.receive)(LISTENER)
    finally:
        async_to_sync(layer.flush)()

    # The state travels serialised once, as the text every client is sent.
    [question] = json.loads(message["text"])["questions"]
    assert question["text"] == QUESTION and question["by"] is None
    assert question["status"] == QuestionStatus.PENDING
