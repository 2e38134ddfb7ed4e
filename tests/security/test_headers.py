"""Web hardening as the browser meets it: the Content Security Policy, HSTS and
secure cookies with the production settings, framing, the referrer policy (and that a
real form post in Chromium still passes CSRF with it), no-store on the anonymous and
receipt pages and the receipt API, and `manage.py check --deploy` with production
settings.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP

from accounts.models import Organisation
from accounts.services import api_token_create
from concerns import services as concern_services
from meetings import services as meeting_services
from tests import factories

BASE_DIR = Path(django_settings.BASE_DIR)
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery staple"
ACCESS_PHRASE = "lanterns over the harbour 4471"

# What production runs with: the same variables the Makefile's `check` target sets.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "check-deploy-secret-key-that-is-long-enough-0123456789",
    "ANONYMITY_KEY": "check-deploy-anonymity-key-that-is-long-enough-012345",
    "EMAIL_HOST": "mail.internal",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "X_FRAME_OPTIONS",
]


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_"))}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return {**env, **PRODUCTION_ENV}


# One interpreter runs `manage.py check --deploy --fail-level WARNING` exactly as the
# command line would, then reports the security settings it ran with.
_PRODUCTION_PROBE = f"""
import contextlib, io, json, runpy, sys
sys.argv = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
out, err, code = io.StringIO(), io.StringIO(), 0
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        runpy.run_path("manage.py", run_name="__main__")
    except SystemExit as exit:
        code = exit.code or 0
from django.conf import settings as s
print(json.dumps({{
    "check": {{"code": code, "output": out.getvalue() + err.getvalue()}},
    "settings": {{name: getattr(s, name) for name in {SECURITY_SETTINGS!r}}},
}}))
"""


@pytest.fixture(scope="module")
def production() -> dict[str, object]:
    """What config/settings.py gives with DEBUG off, read in a fresh interpreter so
    nothing the test process set can colour it, and what check --deploy says."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _PRODUCTION_PROBE],
        cwd=BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.fixture
def people(db):
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    return {"employee": factories.person(password=PASSWORD), "moderator": factories.moderator()}


def _signed_in(person, **extra) -> Client:
    client = Client(**extra)
    client.force_login(person)
    return client


# The Content Security Policy --------------------------------------------------------


def _normal_pages(people) -> list[tuple[str, Client]]:
    concern = factories.open_concern(moderated_by=people["moderator"])
    employee = _signed_in(people["employee"])
    return [
        (reverse("concerns:list"), employee),
        (concern.get_absolute_url(), employee),
        (reverse("concerns:new"), employee),
        (reverse("meetings:list"), employee),
        (reverse("ledger:ledger"), employee),
        (reverse("responses:dashboard"), employee),
        (reverse("concerns:moderation"), _signed_in(people["moderator"])),
        (reverse("concerns:receipt"), Client()),
        (reverse("concerns:new-public"), Client()),
        (reverse("accounts:sign-in"), Client()),
        ("/api/v1/tags/", employee),
    ]


def test_normal_pages_have_a_strict_policy_without_unsafe_inline(people):
    for path, client in _normal_pages(people):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = _policy(response)

        assert "unsafe-inline" not in response["Content-Security-Policy"], path
        assert "unsafe-eval" not in response["Content-Security-Policy"], path
        assert policy["default-src"] == ["'self'"], path
        scripts = policy["script-src"]
        assert scripts[0] == "'self'" and all(s.startswith("'nonce-") for s in scripts[1:]), path
        assert policy["style-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"], path
        assert policy["base-uri"] == ["'none'"], path
        assert policy["form-action"] == ["'self'"], path
        assert policy["frame-ancestors"] == ["'none'"], path


def test_the_policy_carries_a_fresh_nonce_whenever_a_page_uses_one(settings):
    """Django 6's built-in nonces: the policy lists 'nonce-…' exactly when the page
    used the nonce (no template needs one today: there is no inline script at all),
    and every response gets a new one."""
    assert CSP.NONCE in settings.SECURE_CSP["script-src"]

    def page(request):
        return HttpResponse(f'<script nonce="{request._csp_nonce}">ok()</script>')

    middleware = ContentSecurityPolicyMiddleware(page)
    nonces = []
    for _ in range(2):
        response = middleware(RequestFactory().get("/"))
        nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)
        assert f"'nonce-{nonce}'" in _policy(response)["script-src"]
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert len(nonces[0]) >= 16


def test_no_template_has_an_inline_script_style_or_handler():
    """So the policy can stay without 'unsafe-inline'. Mail templates are exempt:
    mail clients apply no policy and need inline styles."""
    findings = []
    for template in (BASE_DIR / "templates").rglob("*.html"):
        if "emails" in template.parts:
            continue
        text = template.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            if "src=" not in match.group():
                findings.append(f"{template.name}: inline {match.group()}")
        if re.search(r"<style\b|\sstyle=|\son[a-z]+=", text):
            findings.append(f"{template.name}: inline style or handler")
    assert findings == []


def test_only_the_api_docs_allow_inline_styles(people):
    employee = _signed_in(people["employee"])

    docs = employee.get(reverse("api-docs"))

    assert _policy(docs)["style-src"] == ["'self'", "'unsafe-inline'"]
    assert "unsafe-inline" not in " ".join(_policy(docs)["script-src"])


# Framing, referrer, sniffing ---------------------------------------------------------


ANONYMOUS_PAGES = {"concerns:new", "concerns:new-public", "concerns:receipt"}


def test_every_answer_forbids_framing_and_sniffing_and_keeps_the_referrer_on_site(people):
    anonymous = {reverse(name) for name in ANONYMOUS_PAGES}
    for path, client in _normal_pages(people):
        response = client.get(path)

        assert response["X-Frame-Options"] == "DENY", path
        assert response["X-Content-Type-Options"] == "nosniff", path
        if path in anonymous:
            assert response["Referrer-Policy"] == "no-referrer", path
            assert "no-store" in response["Cache-Control"], path
        else:
            assert response["Referrer-Policy"] == "same-origin", path


def _csrf_client(**extra) -> Client:
    client = Client(enforce_csrf_checks=True, **extra)
    client.get(reverse("concerns:receipt"))  # sets the CSRF cookie
    return client


def _null_origin_post(client: Client, name: str, data: dict, token: str | None = None):
    token = client.cookies["csrftoken"].value if token is None else token
    return client.post(
        reverse(name), {**data, "csrfmiddlewaretoken": token}, HTTP_ORIGIN="null", secure=True
    )


@pytest.mark.django_db
def test_a_form_posted_from_a_no_referrer_page_with_origin_null_is_accepted_with_its_token():
    """What Chromium sends from a page whose policy is no-referrer: Origin: null and no
    Referer, over HTTPS. The receipt form decides on its token alone."""
    answer = _null_origin_post(_csrf_client(), "concerns:receipt", {"receipt": "X" * 28})

    # No such receipt: the form itself answered, so CSRF let the post through.
    assert answer.status_code == 404
    assert 'name="receipt"' in answer.content.decode()


@pytest.mark.django_db
def test_origin_null_without_the_right_token_is_refused():
    answer = _null_origin_post(
        _csrf_client(), "concerns:receipt", {"receipt": "X" * 28}, token="forged" * 8
    )

    assert answer.status_code == 403


@pytest.mark.django_db
def test_origin_null_is_refused_by_every_page_that_is_not_an_anonymous_page(people):
    client = _csrf_client()
    client.force_login(people["employee"])
    concern = factories.open_concern(moderated_by=people["moderator"])
    token = client.cookies["csrftoken"].value

    vote = client.post(
        reverse("concerns:vote", args=[concern.pk]),
        {"action": "cast", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="null",
        secure=True,
    )
    sign_in = _null_origin_post(_csrf_client(), "accounts:sign-in", {"username": "x"})

    assert (vote.status_code, sign_in.status_code) == (403, 403)


# Production settings: HSTS and secure cookies ------------------------------------------


def test_production_settings_turn_on_https_everywhere(production):
    production = production["settings"]
    assert production["DEBUG"] is False
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SECURE_HSTS_PRELOAD"] is True
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert production["X_FRAME_OPTIONS"] == "DENY"
    assert production["SECURE_REFERRER_POLICY"] == "same-origin"


def test_with_production_settings_answers_carry_hsts_and_cookies_are_secure(
    production, people, settings
):
    for name, value in production["settings"].items():
        setattr(settings, name, value)
    browser = Client()

    plain = browser.get(reverse("accounts:sign-in"))
    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")

    form = browser.get(reverse("accounts:sign-in"), secure=True)
    signed_in = browser.post(
        reverse("accounts:sign-in"),
        {"username": people["employee"].username, "password": PASSWORD},
        secure=True,
    )

    assert form.status_code == 200 and signed_in.status_code == 302
    assert form["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csrf = form.cookies[django_settings.CSRF_COOKIE_NAME]
    session = signed_in.cookies[django_settings.SESSION_COOKIE_NAME]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


def test_check_deploy_reports_nothing_with_production_settings(production):
    check = production["check"]

    assert check["code"] == 0, check["output"]
    assert "System check identified no issues" in check["output"]


# No-store on the anonymous form, the receipt pages and the receipt API -------------------


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_anonymous_and_receipt_pages_are_never_stored_by_a_cache(people):
    employee = _signed_in(people["employee"])
    public = Client()
    tag = factories.tag("Ethics")
    submission = concern_services.concern_submit(
        author=None, anonymous=True, title="Held", body="Text."
    )
    concern_services.message_ask(
        concern=submission.concern, author=people["moderator"], body="Which team?"
    )
    receipt = submission.receipt
    meeting = meeting_services.meeting_create(
        organiser=people["moderator"], title="All-hands", scheduled_start=timezone.now()
    )
    meeting_services.meeting_start(meeting=meeting, actor=people["moderator"])
    answers = {
        "the concern form": employee.get(reverse("concerns:new")),
        "the public form": public.get(reverse("concerns:new-public")),
        "the receipt form": public.get(reverse("concerns:receipt")),
        "a receipt look-up": public.post(reverse("concerns:receipt"), {"receipt": receipt}),
        "a wrong receipt": public.post(reverse("concerns:receipt"), {"receipt": "0000"}),
        "a reply by receipt": public.post(
            reverse("concerns:receipt-reply"), {"receipt": receipt, "body": "Payroll."}
        ),
        "a new receipt": employee.post(
            reverse("concerns:new"),
            {"title": "Anon", "body": "Text.", "identity": "anonymous", "tags": [tag.pk]},
        ),
        "a receipt from the public form": public.post(
            reverse("concerns:new-public"),
            {"access_phrase": ACCESS_PHRASE, "title": "Public", "body": "Text."},
        ),
        "a live question's receipt": employee.post(
            reverse("meetings:ask", args=[meeting.pk]), {"text": "Why?", "anonymous": "on"}
        ),
        "a withdrawal by receipt": public.post(
            reverse("concerns:receipt-withdraw"), {"receipt": receipt}
        ),
    }
    codes = {name: r.status_code for name, r in answers.items()}
    assert codes == {**dict.fromkeys(answers, 200), "a wrong receipt": 404}

    stored = [name for name, response in answers.items() if not _no_store(response)]

    assert stored == [], f"may be kept by a cache: {stored}"


def test_the_receipt_api_and_anonymous_api_submission_are_never_stored(people):
    submission = concern_services.concern_submit(
        author=None, anonymous=True, title="Held", body="Text."
    )
    receipt = submission.receipt
    token = api_token_create(person=people["employee"], name="headers").secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(path, data):
        return api.post(path, json.dumps(data), content_type="application/json")

    answers = {
        "status": post("/api/v1/receipts/status/", {"receipt": receipt}),
        "reply": post("/api/v1/receipts/reply/", {"receipt": receipt, "body": "Payroll."}),
        "withdraw": post("/api/v1/receipts/withdraw/", {"receipt": receipt}),
        "anonymous submission": post(
            "/api/v1/concerns/", {"title": "Anon", "body": "Text.", "anonymous": True}
        ),
    }
    assert {n: r.status_code for n, r in answers.items()} == {
        "status": 200,
        "reply": 200,
        "withdraw": 200,
        "anonymous submission": 201,
    }

    stored = [name for name, response in answers.items() if not _no_store(response)]

    assert stored == [], f"may be kept by a cache: {stored}"


# A real form post in Chromium -----------------------------------------------------------


def _chromium_or_skip():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    return sync_playwright


def _post_forms(browser, base_url: str, username: str, referrer_policy: str | None):
    """Signs in through the real form and, once signed in, raises an anonymous
    concern through the real form: the status and page of each post. With
    `referrer_policy`, every answer's Referrer-Policy is replaced on its way to the
    browser."""
    posts = []
    context = browser.new_context(base_url=base_url)
    if referrer_policy:

        def rewrite(route):
            answer = route.fetch(max_redirects=0)
            headers = {**answer.headers, "referrer-policy": referrer_policy}
            route.fulfill(response=answer, headers=headers)

        context.route("**/*", rewrite)
    page = context.new_page()
    page.goto("/accounts/sign-in/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[method=post] button.primary")
    posts.append((posted.value.status, "", posted.value.request.headers.get("origin")))
    if posted.value.status == 302:
        page.wait_for_load_state()
        form = page.goto("/concerns/new/")
        assert form.headers["referrer-policy"] == "no-referrer"
        page.fill("input[name=title]", "The fire doors are chained")
        page.fill("textarea[name=body]", "Every night after ten.")
        page.check("input[name=identity][value=anonymous]")
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/concerns/new/")
        ) as posted:
            page.click("form[method=post] button.primary")
        page.wait_for_load_state()
        request = posted.value.request
        posts.append((posted.value.status, page.content(), request.headers.get("origin")))
        assert "referer" not in request.headers, "the anonymous form sent a Referer"
    context.close()
    return posts


@pytest.mark.django_db(transaction=True)
def test_a_real_form_post_in_chromium_passes_csrf_with_the_sites_referrer_policy(live_server):
    """The site sends Referrer-Policy: same-origin, and no-referrer on the anonymous
    pages. From a no-referrer page Chromium posts with `Origin: null` and no Referer:
    the anonymous form accepts that on its CSRF token (config/csrf.py), while any other
    page still refuses it, as the sign-in form forced to no-referrer shows."""
    person = factories.person(password=PASSWORD)

    sync_playwright = _chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            posts = _post_forms(browser, live_server.url, person.username, None)
            refused = _post_forms(browser, live_server.url, person.username, "no-referrer")
        finally:
            browser.close()

    [(signed_in, _, _), (submitted, page, origin)] = posts
    assert signed_in == 302, "the sign-in form post failed"
    assert origin == "null", "Chromium was expected to post Origin: null from no-referrer"
    assert submitted == 200 and "data-receipt" in page, "the anonymous form post failed"
    assert refused == [(403, "", "null")], "sign-in with Origin: null was expected to fail"
