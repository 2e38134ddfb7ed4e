"""The anonymity promise, end to end: after each anonymous action, taken through the
real pages by a known person from a known address and browser, nothing the system
kept (any row of any table, any log record at DEBUG, any cache or Redis entry, the
channel layer, any mail) names that person or holds the receipt.

See "Anonymity promises" in PRODUCT.md. The scanning lives in tests/security/scan.py.
"""

import hashlib
import logging
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, User
from concerns import anonymity, services
from concerns.models import Concern, ConcernEvent, Message, Status, Tag, Vote
from tests import factories
from tests.security.scan import Kept, Needle, kept_traces

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.77"
USER_AGENT = "ScanBrowser/1.0 unique-ua-token"
PASSWORD = "correct horse battery staple"
ACCESS_PHRASE = "lanterns over the harbour 4471"
# Distinctive enough that finding it as a whole number anywhere means finding the person.
PERSON_ID = 918273645


# The scene -------------------------------------------------------------------------


@dataclass
class Scene:
    person: User
    moderator: User
    tag: Tag
    _browsers: list[Client] = field(default_factory=list)

    def browser(self, *, signed_in: bool) -> Client:
        """The person's browser: every request carries their address and user agent."""
        browser = Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=USER_AGENT)
        if signed_in:
            response = browser.post(
                reverse("accounts:sign-in"),
                {"username": self.person.username, "password": PASSWORD},
            )
            assert response.status_code == 302, "the person could not sign in"
        self._browsers.append(browser)
        return browser

    def who(self) -> list[Needle]:
        """Everything that names the person, including every session they hold."""
        person = self.person
        needles = [
            Needle("person's id", str(person.pk), whole_number=True),
            Needle("username", person.username),
            Needle("email address", person.email),
            Needle("first name", person.first_name),
            Needle("last name", person.last_name),
            Needle("IP address", ADDRESS),
            Needle("user agent", USER_AGENT),
            Needle("user agent's token", "unique-ua-token"),
        ]
        for browser in self._browsers:
            session = browser.cookies.get(django_settings.SESSION_COOKIE_NAME)
            if session is not None and session.value:
                needles.append(Needle("session key", session.value))
        return needles


@pytest.fixture
def scene() -> Scene:
    person = factories.person(
        id=PERSON_ID,
        username="quillon.xanthos.7f3",
        email="q.xanthopoulos.7f3@scan.example.test",
        first_name="Quillon",
        last_name="Xanthopoulos",
        password=PASSWORD,
    )
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    return Scene(person=person, moderator=factories.moderator(), tag=factories.tag("Ethics"))


def receipt_needles(receipt: str) -> list[Needle]:
    normalised = anonymity.receipt_normalise(receipt)
    return [
        Needle("receipt", receipt),
        Needle("receipt, normalised", normalised),
        Needle("receipt, spaced", receipt.replace("-", " ")),
    ]


def concern_needles(concern: Concern) -> list[Needle]:
    return [
        Needle("concern's id", str(concern.pk)),
        Needle("concern's id, as hex", concern.pk.hex),
        Needle("concern's title", concern.title),
    ]


def submitted_needles(concern: Concern) -> list[Needle]:
    return [*concern_needles(concern), Needle("concern's text", BODY_PHRASE)]


def receipt_shown(response: HttpResponse) -> str:
    match = re.search(r"data-receipt>([^<]+)<", response.content.decode())
    assert match, "the page did not show a receipt"
    return match.group(1).strip()


# The anonymous actions -------------------------------------------------------------


@dataclass
class Outcome:
    kept: Kept
    responses: list[HttpResponse]
    concern: Concern
    receipt: str | None = None
    extra_secrets: list[Needle] = field(default_factory=list)
    work: list[Needle] = field(default_factory=list)

    @property
    def secrets(self) -> list[Needle]:
        receipt = receipt_needles(self.receipt) if self.receipt else []
        return [*receipt, *self.extra_secrets]


TITLE = "Selling face matching to border agencies"
BODY_PHRASE = "uses we were told it would never have"
BODY = f"Our **matching** product is being sold for {BODY_PHRASE}."
REPLY = "It was announced in the sales kick-off, slide 14."


def _submit_signed_in(browser: Client, scene: Scene, *, title: str = TITLE) -> HttpResponse:
    return browser.post(
        reverse("concerns:new"),
        {"title": title, "body": BODY, "identity": "anonymous", "tags": [scene.tag.pk]},
    )


def anonymous_submission(scene: Scene) -> Outcome:
    browser = scene.browser(signed_in=True)
    with kept_traces() as kept:
        response = _submit_signed_in(browser, scene)
    assert response.status_code == 200, "the anonymous concern was not accepted"
    concern = Concern.objects.get(title=TITLE)
    return Outcome(
        kept, [response], concern, receipt_shown(response), work=submitted_needles(concern)
    )


def _public_submission(scene: Scene, *, signed_in: bool) -> Outcome:
    browser = scene.browser(signed_in=signed_in)
    form = browser.get(reverse("concerns:new-public"))
    assert form.status_code == 200
    with kept_traces() as kept:
        response = browser.post(
            reverse("concerns:new-public"),
            {
                "access_phrase": ACCESS_PHRASE,
                "title": TITLE,
                "body": BODY,
                "tags": [scene.tag.pk],
            },
        )
    assert response.status_code == 200, "the public form did not accept the concern"
    concern = Concern.objects.get(title=TITLE)
    return Outcome(
        kept,
        [response],
        concern,
        receipt_shown(response),
        extra_secrets=[Needle("access phrase", ACCESS_PHRASE)],
        work=submitted_needles(concern),
    )


def public_form_submission(scene: Scene) -> Outcome:
    return _public_submission(scene, signed_in=False)


def public_form_submission_from_a_signed_in_browser(scene: Scene) -> Outcome:
    return _public_submission(scene, signed_in=True)


def _open_concern_by_someone_else(scene: Scene) -> Concern:
    return factories.open_concern(title="Publish the sales contracts", moderated_by=scene.moderator)


def vote(scene: Scene) -> Outcome:
    concern = _open_concern_by_someone_else(scene)
    browser = scene.browser(signed_in=True)
    with kept_traces() as kept:
        response = browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})
    assert response.status_code == 302
    concern.refresh_from_db()
    assert concern.vote_count == 1, "the vote was not counted"
    return Outcome(kept, [response], concern, work=concern_needles(concern))


def vote_retraction(scene: Scene) -> Outcome:
    concern = _open_concern_by_someone_else(scene)
    browser = scene.browser(signed_in=True)
    browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})
    assert Vote.objects.filter(concern=concern).count() == 1
    with kept_traces() as kept:
        response = browser.post(reverse("concerns:vote", args=[concern.pk]), {"action": "retract"})
    assert response.status_code == 302
    concern.refresh_from_db()
    assert concern.vote_count == 0, "the vote was not withdrawn"
    return Outcome(kept, [response], concern, work=concern_needles(concern))


def _submitted_anonymously(scene: Scene, browser: Client) -> tuple[Concern, str]:
    """The person's earlier anonymous concern, which a moderator has asked about."""
    response = _submit_signed_in(browser, scene)
    assert response.status_code == 200
    concern = Concern.objects.get(title=TITLE)
    services.message_ask(
        concern=concern, author=scene.moderator, body="Which customer was it sold to?"
    )
    return concern, receipt_shown(response)


def receipt_look_up(scene: Scene) -> Outcome:
    browser = scene.browser(signed_in=True)
    concern, receipt = _submitted_anonymously(scene, browser)
    with kept_traces() as kept:
        response = browser.post(reverse("concerns:receipt"), {"receipt": receipt.lower()})
    assert response.status_code == 200
    assert TITLE in response.content.decode(), "the receipt did not find the concern"
    return Outcome(kept, [response], concern, receipt, work=concern_needles(concern))


def anonymous_reply_by_receipt(scene: Scene) -> Outcome:
    browser = scene.browser(signed_in=True)
    concern, receipt = _submitted_anonymously(scene, browser)
    with kept_traces() as kept:
        response = browser.post(
            reverse("concerns:receipt-reply"), {"receipt": receipt, "body": REPLY}
        )
    assert response.status_code == 200
    assert concern.messages.filter(from_submitter=True).count() == 1, "the reply was lost"
    work = [*concern_needles(concern), Needle("reply", REPLY)]
    return Outcome(kept, [response], concern, receipt, work=work)


def withdrawal_by_receipt(scene: Scene) -> Outcome:
    browser = scene.browser(signed_in=True)
    concern, receipt = _submitted_anonymously(scene, browser)
    with kept_traces() as kept:
        response = browser.post(reverse("concerns:receipt-withdraw"), {"receipt": receipt})
    assert response.status_code == 200
    concern.refresh_from_db()
    assert concern.status == Status.WITHDRAWN, "the concern was not withdrawn"
    return Outcome(kept, [response], concern, receipt, work=concern_needles(concern))


ANONYMOUS_ACTIONS: list[Callable[[Scene], Outcome]] = [
    anonymous_submission,
    public_form_submission,
    public_form_submission_from_a_signed_in_browser,
    vote,
    vote_retraction,
    receipt_look_up,
    anonymous_reply_by_receipt,
    withdrawal_by_receipt,
]
each_anonymous_action = pytest.mark.parametrize(
    "action", ANONYMOUS_ACTIONS, ids=[action.__name__ for action in ANONYMOUS_ACTIONS]
)


def _listed(findings: list[str]) -> str:
    return "\n  " + "\n  ".join(findings)


# Nothing kept links the work to the person -----------------------------------------


@each_anonymous_action
def test_nothing_kept_after_an_anonymous_action_names_the_person_or_holds_the_receipt(
    scene, action
):
    outcome = action(scene)

    findings = outcome.kept.links_to(person=scene.who(), secrets=outcome.secrets, work=outcome.work)

    assert findings == [], f"{action.__name__} left links to the person:" + _listed(findings)


@each_anonymous_action
def test_nothing_kept_after_an_anonymous_action_records_its_time_of_day(scene, action):
    outcome = action(scene)

    findings = outcome.kept.times_of_the_action()

    assert findings == [], f"{action.__name__} kept the time it happened:" + _listed(findings)


@each_anonymous_action
def test_nothing_kept_after_an_anonymous_action_numbers_it_in_sequence_with_other_work(
    scene, action
):
    outcome = action(scene)

    findings = outcome.kept.sequence_numbers()

    assert findings == [], f"{action.__name__} numbered its rows in sequence:" + _listed(findings)


@each_anonymous_action
def test_no_answer_to_an_anonymous_action_puts_the_receipt_in_a_header_or_a_cookie(scene, action):
    outcome = action(scene)
    needles = outcome.secrets

    for response in outcome.responses:
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
        cookies = response.cookies.output()
        leaked = [n.label for n in needles if n.found_in(headers) or n.found_in(cookies)]
        assert leaked == [], f"{action.__name__} sent {leaked} in a header or cookie"
        if outcome.receipt and outcome.receipt in response.content.decode():
            assert "no-store" in response.get("Cache-Control", ""), (
                "a page showing the receipt may be kept by a cache on the way"
            )


# What the anonymous rows do hold ---------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [anonymous_submission, public_form_submission],
    ids=["signed_in", "public_form"],
)
def test_an_anonymous_concern_row_has_no_author_a_date_only_and_a_keyed_receipt_hash(
    scene, action, settings
):
    outcome = action(scene)
    [row] = outcome.kept.rows(Concern._meta.db_table, "new")

    assert row["is_anonymous"] in (True, 1)
    assert row["author_id"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(row["submitted_on"]))
    stored = row["receipt_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    receipt = outcome.receipt
    normalised = anonymity.receipt_normalise(receipt)
    unkeyed = {
        hashlib.sha256(text.encode()).hexdigest()
        for text in (receipt, normalised, receipt.lower(), normalised.lower())
    }
    assert stored not in unkeyed
    # The receipt itself: at least 128 bits from the stated alphabet.
    assert set(normalised) <= set(anonymity.RECEIPT_ALPHABET)
    assert len(normalised) * math.log2(len(anonymity.RECEIPT_ALPHABET)) >= 128
    # Keyed: the same receipt under another key gives another hash, so the stored one
    # cannot be recomputed from a copy of the database alone.
    assert anonymity.receipt_hash(receipt) == stored
    settings.ANONYMITY_KEY = "a-different-anonymity-key-used-by-this-test-only"
    assert anonymity.receipt_hash(receipt) != stored


def test_the_submission_event_of_an_anonymous_concern_has_no_time_and_no_actor(scene):
    outcome = anonymous_submission(scene)
    [event] = outcome.kept.rows(ConcernEvent._meta.db_table, "new")

    assert event["to_status"] == Status.SUBMITTED
    assert event["occurred_at"] is None
    assert event["actor_id"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(event["occurred_on"]))


def test_an_anonymous_reply_has_no_time_and_no_staff_author(scene):
    outcome = anonymous_reply_by_receipt(scene)
    [message] = outcome.kept.rows(Message._meta.db_table, "new")

    assert message["from_submitter"] in (True, 1)
    assert message["body"] == REPLY
    assert message["sent_at"] is None
    assert message["staff_author_id"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(message["sent_on"]))


def test_a_withdrawal_by_receipt_records_no_time_and_no_actor(scene):
    outcome = withdrawal_by_receipt(scene)
    [event] = outcome.kept.rows(ConcernEvent._meta.db_table, "new")

    assert event["to_status"] == Status.WITHDRAWN
    assert event["occurred_at"] is None
    assert event["actor_id"] is None


def test_a_vote_row_holds_only_the_concern_a_keyed_hash_and_the_date(scene, settings):
    outcome = vote(scene)
    [row] = outcome.kept.rows(Vote._meta.db_table, "new")
    concern = outcome.concern

    assert set(row) == {"id", "concern_id", "voter_hash", "cast_on"}
    assert uuid.UUID(str(row["concern_id"])) == concern.pk
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(row["cast_on"]))
    assert re.fullmatch(r"[0-9a-f]{64}", row["voter_hash"])
    unkeyed = {
        hashlib.sha256(text.encode()).hexdigest()
        for text in (f"{PERSON_ID}:{concern.pk}", f"{PERSON_ID}:{concern.pk.hex}", str(PERSON_ID))
    }
    assert row["voter_hash"] not in unkeyed
    settings.ANONYMITY_KEY = "a-different-anonymity-key-used-by-this-test-only"
    assert anonymity.voter_hash(person_id=PERSON_ID, concern_id=concern.pk) != row["voter_hash"]


def test_retracting_a_vote_removes_its_row_and_changes_only_the_count(scene):
    outcome = vote_retraction(scene)
    changes = outcome.kept.changes

    assert [(c.table, c.kind) for c in changes] == sorted(
        [(Concern._meta.db_table, "changed"), (Vote._meta.db_table, "gone")]
    )
    [concern_change] = [c for c in changes if c.kind == "changed"]
    assert concern_change.changed_columns == ("vote_count",)


def test_a_receipt_look_up_changes_no_row(scene):
    outcome = receipt_look_up(scene)

    assert outcome.kept.changes == []


# The scan itself -------------------------------------------------------------------


def test_the_scan_finds_a_link_planted_in_each_place_it_searches(scene):
    browser = scene.browser(signed_in=True)
    person = scene.person
    receipt = anonymity.receipt_new()
    layer = get_channel_layer()
    session_key = browser.cookies[django_settings.SESSION_COOKIE_NAME].value
    try:
        with kept_traces() as kept:
            services.concern_submit(
                author=person, anonymous=False, title="Named", body="Signed.", tags=[scene.tag]
            )
            session = SessionStore(session_key=session_key)
            session["last_receipt"] = receipt
            session.save()
            logging.getLogger("tests.security.planted").debug("look-up from %s", ADDRESS)
            transaction.on_commit(
                lambda: logging.getLogger("tests.security.later").debug(person.username)
            )
            cache.set("last-look-up", {"at": timezone.now().isoformat()})
            cache.set(f"seen:{person.username}", 1)
            cache.set("digest", hashlib.sha256(person.email.encode()).hexdigest())
            mail.send_mail("Thanks", f"Your receipt is {receipt}", None, ["someone@example.test"])
            async_to_sync(layer.send)("planted.channel", {"type": "x", "agent": USER_AGENT})

        findings = kept.links_to(person=scene.who(), secrets=receipt_needles(receipt))
        times = kept.times_of_the_action()
        numbers = kept.sequence_numbers()
    finally:
        async_to_sync(layer.flush)()

    def found(place: str, label: str) -> bool:
        return any(f.startswith(place) and f.endswith(f"the {label}") for f in findings)

    cache_place = "redis" if "Redis" in django_settings.CACHES["default"]["BACKEND"] else "cache"
    layer_place = "redis" if "Redis" in type(layer).__name__ else "channel layer"
    assert found("database", "person's id"), findings
    assert found("database", "receipt"), findings  # inside the signed session data
    assert found("log", "IP address"), findings
    assert found("log", "username"), findings  # logged by work run after the commit
    assert found(cache_place, "username"), findings
    assert found(cache_place, "email address (sha256)"), findings
    assert found("mail", "receipt"), findings
    assert found(layer_place, "user agent"), findings
    assert any("occurred_at" in t for t in times), times
    assert any(t.startswith(cache_place) and "last-look-up" in t for t in times), times
    assert any("ledger_ledgerentry" in n for n in numbers), numbers  # a named concern's entry


def test_the_scan_does_not_mistake_the_persons_own_untouched_rows_for_links(scene):
    scene.browser(signed_in=True)

    with kept_traces() as kept:
        pass

    assert kept.changes == []
    assert kept.links_to(person=scene.who()) == []


# With the logging the settings configure -------------------------------------------


def test_with_debug_on_and_log_level_debug_the_configured_logs_name_nobody(scene, settings):
    """An operator chasing a problem turns DEBUG on and LOG_LEVEL=DEBUG: the SQL log
    is live then, and only the settings keep it quiet."""
    settings.DEBUG = True
    browser = scene.browser(signed_in=True)
    other = _open_concern_by_someone_else(scene)

    with kept_traces(every_logger_at_debug=False) as kept:
        receipt = receipt_shown(_submit_signed_in(browser, scene))
        browser.post(reverse("concerns:receipt"), {"receipt": receipt})
        browser.post(reverse("concerns:receipt-reply"), {"receipt": receipt, "body": REPLY})
        browser.post(reverse("concerns:receipt-withdraw"), {"receipt": receipt})
        browser.post(reverse("concerns:vote", args=[other.pk]), {"action": "cast"})
        browser.post(reverse("concerns:vote", args=[other.pk]), {"action": "retract"})

    assert Concern.objects.get(title=TITLE).status == Status.WITHDRAWN
    findings = [
        finding
        for finding in kept.links_to(person=scene.who(), secrets=receipt_needles(receipt))
        if finding.startswith("log")
    ]
    assert findings == [], "the configured logs link anonymous work:" + _listed(findings)
