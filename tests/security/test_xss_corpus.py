"""Every payload of tests/security/xss_payloads.py goes through the places where
user text is rendered, and nothing runs.

Where the payloads go, through the services people use:
- concern titles and bodies (one anonymous concern per payload: the list, the
  moderation queue, the digest, agenda items that name it, and its own page);
- one anonymous concern that carries everything else: a conversation of a staff
  question and a reply by receipt per payload, a response version per payload
  (summary, details, the reason for the change, and the diff between versions), and
  a commitment per payload with a progress note; its page for a moderator, its
  receipt page for the submitter and its response editor for a leader;
- rejection reasons, on the receipt pages of rejected concerns;
- a live meeting with an agenda topic and notes per payload and a live question per
  payload, for the audience, the presenter and the console; a planned meeting whose
  agenda goes into the digest;
- the digest and follower mail (their HTML), the digest page, the ledger pages.
(Which fields take every payload and which a sample is said at SAMPLE below.)

First the server-side check, on the HTML as sent: no script but the site's own files,
no event-handler attribute, no script URL (after the entity decoding and whitespace
stripping a browser does), no element a payload could smuggle in (svg, math, style,
iframe, base, meta refresh...). Template-injection strings come out as typed.

Then Chromium loads every page, with the headers the site sent (so with its Content
Security Policy), and once more without any policy, which tests the sanitiser and the
autoescaping alone: no dialog opens, `window.__xss` stays unset, the title is not
"XSS", no policy violation is reported, and the parsed DOM (after the browser's own
parse, which is where mutation XSS shows) holds no handler, script URL or smuggled
element. A canary page that does run script is loaded with them, to prove the
checks would see it.
"""

import datetime
import html
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from concerns import services as concern_services
from concerns.models import Concern, Status
from concerns.rendering import render_markdown
from ledger.models import LedgerEntry
from ledger.selectors import ENTRIES_PER_PAGE
from meetings import services as meeting_services
from notifications.models import Delivery
from notifications.services import _message
from responses import services as response_services
from tests import factories
from tests.security.xss_payloads import BREAKING_OUT, PAYLOADS, TEMPLATE_INJECTION

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ORIGIN = "http://answerable.test"
STATIC = Path(settings.BASE_DIR) / "static"

# Elements no page of the site has and no payload may bring in.
SMUGGLED = frozenset(
    {
        "applet", "audio", "base", "embed", "frame", "frameset", "iframe", "image", "img",
        "isindex", "marquee", "math", "noembed", "noframes", "noscript", "object",
        "picture", "plaintext", "portal", "source", "style", "svg", "template", "track",
        "video", "xmp",
    }
)  # fmt: skip
URL_ATTRIBUTES = frozenset(
    {
        "action", "background", "cite", "codebase", "data", "dynsrc", "formaction", "href",
        "longdesc", "lowsrc", "ping", "poster", "src", "srcset", "xlink:href",
    }
)  # fmt: skip
SAFE_SCHEMES = ("http", "https", "mailto")


def stored(payload: str) -> str:
    """No form or API field accepts NUL (Django and DRF refuse it, see the test
    below), and PostgreSQL cannot store it: payloads are stored without it."""
    return payload.replace("\x00", "")


# Server side -----------------------------------------------------------------------------


def _scheme(url: str) -> str | None:
    """The scheme a browser would see: leading and trailing C0 controls and spaces
    are dropped and tabs and newlines removed anywhere, as the URL standard says."""
    cleaned = re.sub(r"[\t\n\r]", "", url).strip("".join(map(chr, range(0x21))))
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", cleaned)
    return match.group(1).lower() if match else None


class _Inspector(HTMLParser):
    def __init__(self, *, styles_allowed: bool):
        super().__init__(convert_charrefs=True)
        self.styles_allowed = styles_allowed
        self.problems: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._check(tag, attrs)
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self._check(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"an inline script: {data.strip()[:80]!r}")
        self.text.append(data)

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        shown = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs)}>"[:160]
        values = {name: value or "" for name, value in attrs}
        if tag in SMUGGLED:
            self.problems.append(f"a smuggled element: {shown}")
        if tag == "script" and not values.get("src", "").startswith("/static/"):
            self.problems.append(f"a script that is not the site's own: {shown}")
        if tag == "meta" and "http-equiv" in values:
            self.problems.append(f"a meta http-equiv: {shown}")
        if tag == "link" and not (
            values.get("rel") == "stylesheet" and values.get("href", "").startswith("/static/")
        ):
            self.problems.append(f"a foreign link: {shown}")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"an event handler: {shown}")
            if name == "style" and not self.styles_allowed:
                self.problems.append(f"an inline style: {shown}")
            if name == "srcdoc":
                self.problems.append(f"a srcdoc: {shown}")
            if name in URL_ATTRIBUTES:
                for url in value.split(",") if name == "srcset" else [value]:
                    scheme = _scheme(url)
                    if scheme is not None and scheme not in SAFE_SCHEMES:
                        self.problems.append(f"a {scheme}: URL in {name}: {shown}")
            if tag == "form" and name == "action" and not value.startswith("/"):
                self.problems.append(f"a form posting elsewhere: {shown}")


def inspect(document: str, *, styles_allowed: bool = False) -> tuple[list[str], str]:
    inspector = _Inspector(styles_allowed=styles_allowed)
    inspector.feed(document)
    inspector.close()
    return inspector.problems, "".join(inspector.text)


# The pages -------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    html: str
    headers: dict[str, str]
    is_mail: bool = False


@dataclass
class Rendered:
    pages: list[Page] = field(default_factory=list)
    # Pages where every template-injection string must appear as typed.
    verbatim: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, response, *, status: int = 200) -> Page:
        assert response.status_code == status, f"{name}: {response.status_code}"
        headers = {k: v for k, v in response.headers.items()}
        page = Page(name, response.content.decode(), headers)
        self.pages.append(page)
        return page


def _title(payload: str, limit: int = 140) -> str:
    return stored(payload)[:limit].strip() or "blank"


def _sampled(number: int, payload: str, every: int) -> bool:
    return number % every == 0 or payload in TEMPLATE_INJECTION or payload in BREAKING_OUT


# Every payload goes into the markdown fields (bodies, messages both ways, notes) and
# the cheap plain-text ones (titles, topics, questions, mail). Fields that cost a
# ledger entry and webhooks per write (response versions, commitments, rejections)
# take a sample that covers every category: all the strings that try to leave their
# context, all the template strings, and every eighth of the rest. They go through
# the same sanitiser, or the same autoescaping, as fields that take every payload.
SAMPLE = [p for n, p in enumerate(PAYLOADS) if _sampled(n, p, 8)]


def _build(rendered: Rendered) -> None:
    """Every payload goes into every field below through the services people use. A
    page is rendered once per place, not once per payload, where one page shows every
    payload in that place; where a page shows one record (a concern's own page, a
    receipt page), a sample of the payloads gets its own page, and the carrier
    concern's page shows the very same sanitised fragments (render_markdown of the
    same text) for every payload in the same wrapper."""
    moderator = factories.moderator(first_name="Mira", last_name="Moderator")
    leader = factories.leader(first_name="Lars", last_name="Leader")
    employee = factories.person(first_name="Eve", last_name="Employee")
    browsers = {}
    for who, person in (("moderator", moderator), ("leader", leader), ("employee", employee)):
        browsers[who] = Client()
        browsers[who].force_login(person)
    public = Client()
    since = timezone.now() - datetime.timedelta(minutes=5)

    # One anonymous concern per payload: its title and its body.
    concerns = [
        concern_services.concern_submit(
            author=None, anonymous=True, title=_title(payload), body=stored(payload)
        ).concern
        for payload in PAYLOADS
    ]
    for concern, payload in zip(concerns, PAYLOADS, strict=True):
        assert concern.body_html == render_markdown(stored(payload).strip())
    rendered.add("moderation queue", browsers["moderator"].get(reverse("concerns:moderation")))
    # Published in one statement: approving through the service changes neither
    # title nor body and would cost a ledger entry and webhooks per payload.
    Concern.objects.filter(pk__in=[c.pk for c in concerns]).update(
        status=Status.OPEN, published_at=timezone.now()
    )
    for number, (concern, payload) in enumerate(zip(concerns, PAYLOADS, strict=True)):
        if _sampled(number, payload, 32):
            page = browsers["moderator"].get(concern.get_absolute_url())
            rendered.add(f"concern {number}", page)
            assert concern.body_html in page.content.decode()
    pages = -(-len(concerns) // settings.CONCERNS_PER_PAGE)
    # The list goes by position, not page number: follow "Next" to the last page.
    link = reverse("concerns:list") + "?sort=new"
    for page in range(1, pages + 1):
        listed = rendered.add(f"concern list page {page}", browsers["employee"].get(link))
        following = re.search(r'rel="next" href="([^"]+)"', listed.html)
        if following is None:
            break
        link = reverse("concerns:list") + html.unescape(following.group(1))
    rendered.add(
        "similar concerns",
        browsers["employee"].post(reverse("concerns:similar"), {"text": "window xss script"}),
    )

    # One concern that carries everything else.
    carrier = concern_services.concern_submit(
        author=None, anonymous=True, title="Everything at once", body="The carrier."
    )
    big = carrier.concern
    for payload in PAYLOADS:
        concern_services.message_ask(concern=big, author=moderator, body=stored(payload))
        concern_services.message_reply_by_receipt(receipt=carrier.receipt, body=stored(payload))
    big = factories.published(big, moderator)
    for number, payload in enumerate(SAMPLE):
        response_services.response_draft_save(
            concern=big,
            leader=leader,
            position="partly",
            summary=_title(payload, 280),
            details=stored(payload),
        )
        response_services.response_publish(
            concern=big, leader=leader, change_reason=stored(payload) if number else ""
        )
    due = timezone.localdate() + datetime.timedelta(days=3)
    for payload in SAMPLE:
        commitment = response_services.commitment_add(
            concern=big, leader=leader, description=_title(payload, 500), owner=leader, due_on=due
        )
        response_services.commitment_update(
            commitment=commitment, author=leader, to_status="in_progress", note=stored(payload)
        )
    page = rendered.add(
        "the carrier, for a moderator", browsers["moderator"].get(big.get_absolute_url())
    )
    rendered.verbatim[page.name] = page.html
    rendered.add(
        "the carrier's receipt page",
        public.post(reverse("concerns:receipt"), {"receipt": carrier.receipt}),
    )
    rendered.add(
        "the carrier's response editor",
        browsers["leader"].get(reverse("responses:edit", args=[big.pk])),
    )

    # Rejection reasons, as the submitter reads them.
    for number, payload in enumerate(SAMPLE):
        rejected = concern_services.concern_submit(
            author=None, anonymous=True, title=f"Rejected {number}", body="Text."
        )
        concern_services.concern_reject(
            concern=rejected.concern, moderator=moderator, reason=stored(payload)
        )
        rendered.add(
            f"rejection {number}",
            public.post(reverse("concerns:receipt"), {"receipt": rejected.receipt}),
        )

    # A live meeting: topics with notes, concerns on the agenda, live questions.
    live = meeting_services.meeting_create(
        organiser=moderator, title="Live all-hands", scheduled_start=timezone.now(), hosts=[]
    )
    for payload in PAYLOADS:
        item = meeting_services.agenda_item_add(
            meeting=live, moderator=moderator, topic=_title(payload)
        )
        meeting_services.agenda_item_notes(item=item, author=moderator, notes=stored(payload))
    for concern in concerns[:20]:
        meeting_services.agenda_item_add(meeting=live, moderator=moderator, concern=concern)
    meeting_services.meeting_start(meeting=live, actor=moderator)
    for number, payload in enumerate(PAYLOADS):
        question, _ = meeting_services.question_ask(
            meeting=live, asker=employee, text=_title(payload, 500), anonymous=number % 2 == 0
        )
        if number % 20 == 0:
            meeting_services.question_approve(question=question, actor=moderator)
    for who in ("moderator", "employee"):
        rendered.add(f"live meeting, for the {who}", browsers[who].get(live.get_absolute_url()))
    rendered.add(
        "presenter view", browsers["moderator"].get(reverse("meetings:presenter", args=[live.pk]))
    )
    rendered.add("console", browsers["moderator"].get(reverse("meetings:console", args=[live.pk])))

    # A planned meeting, whose agenda the digest lists.
    planned = meeting_services.meeting_create(
        organiser=moderator,
        title="Next all-hands",
        scheduled_start=timezone.now() + datetime.timedelta(days=3),
    )
    for payload in PAYLOADS:
        meeting_services.agenda_item_add(
            meeting=planned, moderator=moderator, topic=_title(payload)
        )

    # Mail, and the digest in a browser.
    until = timezone.now() + datetime.timedelta(minutes=5)
    digest = Delivery.objects.create(
        person=moderator,
        key="digest:daily:xss",
        subject="Your daily Answerable digest",
        context={"kind": "digest", "since": since.isoformat(), "until": until.isoformat()},
    )
    with mock.patch("notifications.selectors.SECTION_LIMIT", 10_000):
        mails = [("digest mail", _message(digest))]
        rendered.add("digest page", browsers["moderator"].get(reverse("notifications:digest")))
    for number, payload in enumerate(SAMPLE):
        event = Delivery(
            person=moderator,
            key=f"event:xss:{number}",
            subject=f"Update: {_title(payload)}"[:200],
            context={"kind": "event", "concern": str(big.pk), "headline": stored(payload)},
        )
        mails.append((f"follower mail {number}", _message(event)))
    for name, message in mails:
        [(body, mimetype)] = message.alternatives
        assert mimetype == "text/html"
        rendered.pages.append(Page(name, body, {}, is_mail=True))
    rendered.verbatim["digest mail"] = mails[0][1].alternatives[0][0]

    # The ledger, every page of it.
    entries = LedgerEntry.objects.count()
    for page in range(1, -(-entries // ENTRIES_PER_PAGE) + 1):
        rendered.add(
            f"ledger page {page}",
            browsers["employee"].get(reverse("ledger:ledger"), {"page": page}),
        )


@pytest.fixture(scope="module")
def rendered(django_db_setup, django_db_blocker) -> Rendered:
    """Built once for the module, in a transaction rolled back at the end."""
    result = Rendered()
    with (
        django_db_blocker.unblock(),
        override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            RECEIPT_LOOKUPS_PER_MINUTE=100_000,
            RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE=100_000,
        ),
        transaction.atomic(),
    ):
        _build(result)
        transaction.set_rollback(True)
    return result


# Server-side tests -------------------------------------------------------------------------


def test_the_corpus_is_large_and_covers_the_bleach_mutation_cases():
    assert len(PAYLOADS) >= 100
    joined = "\n".join(PAYLOADS)
    for needle in (
        "<math><mtext><table><mglyph><style><img src=x onerror=",
        "<svg><style><img src=x onerror=",
        '<noscript><p title="</noscript><img src=x onerror=',
        "[click](java&#x09;script:",
        "vbscript:",
        "data:text/html",
        "{{7*7}}",
    ):
        assert needle in joined, needle


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_the_sanitiser_lets_no_payload_through(payload):
    """The one sanitiser, on its own: concerns/rendering.py."""
    problems, _ = inspect(render_markdown(payload))

    assert problems == []


@pytest.mark.django_db
def test_no_rendered_page_carries_a_script_a_handler_or_a_script_url(rendered):
    findings = []
    for page in rendered.pages:
        problems, _ = inspect(page.html, styles_allowed=page.is_mail)
        findings += [f"{page.name}: {problem}" for problem in problems]
        own = len(re.findall(r'<script src="/static/js/[a-z]+\.js" defer></script>', page.html))
        if page.html.lower().count("<script") != own:
            findings.append(f"{page.name}: a <script that is not the site's own")

    assert findings == [], "\n  " + "\n  ".join(findings)


@pytest.mark.django_db
def test_template_injection_strings_come_out_as_typed(rendered):
    for name, document in rendered.verbatim.items():
        _, text = inspect(document, styles_allowed=True)
        for payload in TEMPLATE_INJECTION:
            assert payload in text, f"{name}: {payload!r} did not come out as typed"
        assert "SECRET_KEY" not in text.replace("settings.SECRET_KEY", "")
        assert settings.SECRET_KEY not in document


@pytest.mark.django_db
def test_every_place_got_every_payload(rendered):
    """A payload missing from a place would make the other tests pass for nothing."""
    names = {page.name for page in rendered.pages}
    assert {f"follower mail {n}" for n in range(len(SAMPLE))} <= names
    lists = "".join(p.html for p in rendered.pages if p.name.startswith("concern list page"))
    _, listed = inspect(lists)
    for payload in PAYLOADS:
        assert _title(payload) in listed, f"a title is missing from the list: {payload!r}"
    carrier = next(p for p in rendered.pages if p.name == "the carrier, for a moderator")
    _, text = inspect(carrier.html)
    for payload in TEMPLATE_INJECTION:
        # Once in the staff question, once in the reply, summaries, details,
        # reasons, commitments and notes.
        assert text.count(payload) >= 6, payload


@pytest.mark.parametrize(
    "path, field_name", [("/concerns/new/", "body"), ("/api/v1/concerns/", "body")]
)
@pytest.mark.django_db
def test_a_nul_character_is_refused_with_a_400_not_stored(path, field_name, client):
    person = factories.person()
    client.force_login(person)
    data = {"title": "Nul", "body": "a\x00b", "identity": "named", "anonymous": False}
    if path.startswith("/api/"):
        import json

        response = client.post(path, json.dumps(data), content_type="application/json")
    else:
        response = client.post(path, data)

    assert response.status_code == 400


# In Chromium -------------------------------------------------------------------------------

SHELL = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>shell</title></head>"
    "<body>{frames}</body></html>"
)
BATCH = 16

# Run in the top document: checks it, or each framed page of a shell, after the
# browser's own parse. Framed pages are same-origin (srcdoc), so they can be read.
DOM_CHECK = """
(mailFrames) => {
  const smuggled = new Set(SMUGGLED);
  const urlAttributes = new Set(URL_ATTRIBUTES);
  const safe = new Set(['http:', 'https:', 'mailto:']);
  const check = (doc, win, stylesAllowed) => {
    const problems = [];
    const say = (what, el) => problems.push(what + ' ' + el.outerHTML.slice(0, 160));
    if (win.__xss === 1) problems.push('window.__xss was set');
    if (doc.title === 'XSS') problems.push('the title became XSS');
    for (const el of doc.querySelectorAll('*')) {
      const tag = el.localName;
      if (el.namespaceURI !== 'http://www.w3.org/1999/xhtml') say('foreign element', el);
      if (smuggled.has(tag)) say('smuggled element', el);
      const src = el.getAttribute('src') || '';
      if (tag === 'script' && !src.startsWith('/static/')) say('script', el);
      if (tag === 'meta' && el.hasAttribute('http-equiv')) say('meta http-equiv', el);
      for (const attr of Array.from(el.attributes)) {
        const name = attr.name.toLowerCase();
        if (name.startsWith('on')) say('handler', el);
        if (name === 'style' && !stylesAllowed) say('inline style', el);
        if (name === 'srcdoc') say('srcdoc', el);
        if (!urlAttributes.has(name)) continue;
        for (const value of name === 'srcset' ? attr.value.split(',') : [attr.value]) {
          let url;
          try {
            url = new URL(value.trim().split(' ')[0], doc.baseURI);
          } catch (e) {
            continue;
          }
          if (!safe.has(url.protocol)) say(url.protocol + ' URL', el);
        }
      }
    }
    return problems;
  };
  const frames = Array.from(document.querySelectorAll('iframe[data-page]'));
  if (!frames.length) return {'': check(document, window, false)};
  const found = {};
  for (const frame of frames) {
    found[frame.dataset.page] = check(frame.contentDocument, frame.contentWindow, mailFrames);
  }
  return found;
}
""".replace("SMUGGLED", repr(sorted(SMUGGLED))).replace(
    "URL_ATTRIBUTES", repr(sorted(URL_ATTRIBUTES))
)

CATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  (window.top.__violations || window.__violations).push(
    e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""


def _chromium_or_skip():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    return sync_playwright


def _static(path: str) -> tuple[bytes, str] | None:
    relative = urllib.parse.unquote(path.removeprefix("/static/"))
    file = (STATIC / relative).resolve()
    if not str(file).startswith(str(STATIC.resolve())) or not file.is_file():
        return None
    kind = {".css": "text/css", ".js": "application/javascript"}.get(file.suffix, "text/plain")
    return file.read_bytes(), kind


@dataclass
class Sighting:
    where: str
    what: str


def _documents(pages: list[Page], *, with_policy: bool) -> dict[str, tuple[bytes, dict, dict]]:
    """What the fake origin answers: path -> (body, headers, {frame title: page}).

    One top-level navigation per page would take minutes, so pages are framed in
    batches (srcdoc: each page its own document, parsed on its own) inside a shell
    answered with the site's own headers; a srcdoc frame takes its parent's policy.
    A few pages are also loaded as top-level documents with exactly the headers the
    site sent them with."""
    site = next(p for p in pages if not p.is_mail)
    policy = site.headers.get("Content-Security-Policy", "")
    assert policy, "the site sent no Content-Security-Policy"
    documents = {}
    for kind in ("site", "mail"):
        chosen = [p for p in pages if p.is_mail == (kind == "mail")]
        size = BATCH if kind == "site" else 4 * BATCH  # mails are small
        for number in range(0, len(chosen), size):
            batch = chosen[number : number + size]
            frames = "".join(
                f'<iframe data-page="{html.escape(p.name)}" srcdoc="{html.escape(p.html)}">'
                "</iframe>"
                for p in batch
            )
            headers = {"Content-Type": "text/html; charset=utf-8"}
            if with_policy and kind == "site":
                headers["Content-Security-Policy"] = policy
            body = SHELL.format(frames=frames).encode()
            documents[f"/{kind}/{number}"] = (body, headers, {p.name: p for p in batch})
    if with_policy:  # the framed copies already stand for them without a policy
        site_pages = [p for p in pages if "Content-Security-Policy" in p.headers]
        for number, page in enumerate(site_pages[:: max(1, len(site_pages) // 6)]):
            documents[f"/page/{number}"] = (page.html.encode(), dict(page.headers), {"": page})
    return documents


def _load_all(browser, pages: list[Page], *, with_policy: bool) -> list[Sighting]:
    documents = _documents(pages, with_policy=with_policy)
    sightings: list[Sighting] = []
    context = browser.new_context()
    context.add_init_script(CATCH_VIOLATIONS)

    def answer(route):
        path = urllib.parse.urlsplit(route.request.url).path
        if path in documents:
            body, headers, _ = documents[path]
            return route.fulfill(status=200, body=body, headers=headers)
        if path.startswith("/static/") and (found := _static(path)):
            return route.fulfill(status=200, body=found[0], content_type=found[1])
        return route.fulfill(status=404, body=b"", content_type="text/plain")

    context.route("**/*", answer)
    page = context.new_page()

    def dialog(opened) -> None:
        sightings.append(Sighting(page.url, f"a dialog opened: {opened.message}"))
        opened.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda error: sightings.append(Sighting(page.url, str(error))))
    for path, (_, _, framed) in documents.items():
        page.goto(ORIGIN + path, wait_until="load")
        page.wait_for_timeout(100)  # for handlers that fire just after load
        found = page.evaluate(DOM_CHECK, path.startswith("/mail/"))
        for name, problems in found.items():
            where = f"{name or framed[''].name} ({path})"
            sightings += [Sighting(where, problem) for problem in problems]
        for violation in page.evaluate("window.__violations"):
            if violation.startswith("connect-src ws://ws/"):
                # meeting.js opens its socket to location.host, which a framed copy
                # of the page does not have: the framing's doing, not a payload's.
                continue
            sightings.append(Sighting(path, f"CSP violation: {violation}"))
    context.close()
    return sightings


def _browse(pages: list[Page]) -> dict[bool, list[Sighting]]:
    """Loads everything twice in one Chromium: with the site's policy, then without."""
    sync_playwright = _chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return {
                policy: _load_all(browser, pages, with_policy=policy) for policy in (True, False)
            }
        finally:
            browser.close()


# A page that does run script, loaded with the others: proof that the checks see it.
CANARY = Page(
    "canary",
    "<!doctype html><html><head><title>canary</title></head><body>"
    '<img src=x onerror="window.__xss=1"><a href="jav&#x09;ascript:alert(1)">x</a>'
    "<svg><a></a></svg></body></html>",
    {},
)


@pytest.fixture(scope="module")
def browsed(rendered) -> dict[bool, list[Sighting]]:
    return _browse([*rendered.pages, CANARY])


def _listed(sightings: list[Sighting]) -> str:
    return "\n  " + "\n  ".join(f"{s.where}: {s.what}" for s in sightings)


def _judge(sightings: list[Sighting], *, canary_ran: bool) -> list[Sighting]:
    """The sightings that are not the canary's, once the canary was seen."""
    canary = [s.what for s in sightings if s.where.startswith("canary")]
    assert any(w.startswith("handler") for w in canary), canary
    assert any(w.startswith("javascript: URL") for w in canary), canary
    assert any(w.startswith("foreign element") for w in canary), canary
    assert any(w == "window.__xss was set" for w in canary) == canary_ran, canary
    return [s for s in sightings if not s.where.startswith("canary")]


@pytest.mark.django_db
def test_no_payload_runs_in_chromium_with_the_sites_policy(browsed):
    sightings = _judge(browsed[True], canary_ran=False)
    # The canary's handler was refused by the policy, and the refusal reported.
    violations = [s for s in sightings if "CSP violation: script-src" in s.what]
    assert len(violations) >= 1, "the policy did not report the canary's handler"
    others = [s for s in sightings if s not in violations[:1]]

    assert others == [], _listed(others)


@pytest.mark.django_db
def test_no_payload_runs_in_chromium_without_any_policy(browsed):
    """The sanitiser and the autoescaping alone, as if the policy were lost."""
    sightings = _judge(browsed[False], canary_ran=True)

    assert sightings == [], _listed(sightings)
