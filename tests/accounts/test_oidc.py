"""Single sign-on through OpenID Connect, against a real provider on localhost.

Each test runs tests/accounts/oidc_provider.py on a free port. The browser's hops are
made with Django's test client (to Answerable) and with `requests` (to the provider);
Answerable itself calls the provider's token, userinfo and JWKS endpoints over HTTP.
"""

import html
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.models import Department, Role, User
from tests import factories
from tests.accounts.oidc_provider import (
    PROVIDER_NAME,
    Provider,
    ProviderServer,
    new_key,
    sso_settings,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ADA = {
    "sub": "ada-0001",
    "email": "ada@example.test",
    "email_verified": True,
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "preferred_username": "ada",
    "groups": ["everyone", "answerable-leaders"],
}


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def provider():
    with ProviderServer(Provider(person=dict(ADA))) as running:
        yield running


@pytest.fixture
def sso(provider):
    with sso_settings(provider):
        yield provider


def start_sign_in(client: Client, next_url: str = "") -> requests.Response:
    """Clicks "Sign in with …" and lets the provider answer; returns its answer."""
    start = client.get(
        reverse("oidc_authentication_init") + (f"?next={next_url}" if next_url else "")
    )
    assert start.status_code == 302
    assert start["Location"].startswith(f"{client_provider(start)}/authorize?")
    return requests.get(start["Location"], allow_redirects=False, timeout=10)


def client_provider(response) -> str:
    parts = urlsplit(response["Location"])
    return f"{parts.scheme}://{parts.netloc}"


def sign_in_through_provider(client: Client, next_url: str = ""):
    at_provider = start_sign_in(client, next_url)
    assert at_provider.status_code == 302
    return client.get(at_provider.headers["Location"])


def signed_in_person(client: Client) -> User | None:
    user_id = client.session.get(SESSION_KEY)
    return User.objects.get(pk=user_id) if user_id else None


# --- Signing in -------------------------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_beside_the_password(client, sso):
    response = client.get(reverse("accounts:sign-in") + "?next=/mine/")

    text = page_text(response)
    assert response.status_code == 200
    assert f"Sign in with {PROVIDER_NAME}" in text
    assert reverse("oidc_authentication_init") + "?next=/mine/" in text
    assert 'name="password"' in text


def test_a_new_person_signs_in_through_the_provider_with_the_role_of_their_group(client, sso):
    response = sign_in_through_provider(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("concerns:list")
    person = User.objects.get(email="ada@example.test")
    assert signed_in_person(client) == person
    assert person.username == "ada"
    assert person.get_full_name() == "Ada Lovelace"
    assert person.role == Role.LEADER
    assert not person.is_staff
    assert not person.has_usable_password()
    page = client.get(response["Location"])
    assert "Sign out Ada Lovelace" in page_text(page)


def test_the_flow_uses_pkce_a_nonce_and_the_registered_callback(client, sso):
    response = sign_in_through_provider(client)

    assert response.status_code == 302
    (token_request,) = sso.token_requests
    assert token_request["redirect_uri"] == "http://testserver/oidc/callback/"
    assert token_request["code_verifier"]  # the provider checked it against the challenge


def test_signing_in_returns_to_the_page_asked_for(client, sso):
    response = sign_in_through_provider(client, next_url=reverse("concerns:mine"))

    assert response.status_code == 302
    assert response["Location"] == reverse("concerns:mine")
    assert "oidc_login_next" not in client.session


def test_signing_in_never_returns_to_another_site(client, sso):
    response = sign_in_through_provider(client, next_url="https://evil.example/")

    assert response["Location"] == reverse("concerns:list")


def test_an_existing_person_is_recognised_by_email_and_their_role_follows_their_groups(client, sso):
    person = factories.person(
        username="ada.l", email="Ada@Example.test", role=Role.EMPLOYEE, first_name="A"
    )

    sign_in_through_provider(client)
    person.refresh_from_db()
    assert signed_in_person(client) == person
    assert person.role == Role.LEADER
    assert person.username == "ada.l"  # kept: it may be how colleagues know them
    assert person.first_name == "Ada"
    assert person.has_usable_password()  # their password still works too

    client.post(reverse("accounts:sign-out"))
    sso.person["groups"] = ["answerable-admins"]
    sign_in_through_provider(client)
    person.refresh_from_db()
    assert person.role == Role.ADMIN
    assert person.is_staff and person.is_superuser
    assert "Admin" in page_text(client.get(reverse("concerns:list")))

    client.post(reverse("accounts:sign-out"))
    sso.person["groups"] = ["everyone"]
    sign_in_through_provider(client)
    person.refresh_from_db()
    assert person.role == Role.EMPLOYEE
    assert not person.is_staff and not person.is_superuser
    assert User.objects.count() == 1


def test_the_highest_role_among_a_persons_groups_wins(client, sso):
    sso.person["groups"] = ["answerable-moderators", "answerable-admins", "answerable-leaders"]

    sign_in_through_provider(client)

    assert User.objects.get(email="ada@example.test").role == Role.ADMIN


def test_someone_in_no_mapped_group_signs_in_as_an_employee(client, sso):
    sso.person["groups"] = ["everyone", "answerable-admins-old"]

    response = sign_in_through_provider(client)

    assert response.status_code == 302
    person = User.objects.get(email="ada@example.test")
    assert person.role == Role.EMPLOYEE
    assert not person.is_staff


def test_without_a_group_mapping_roles_stay_as_set_in_answerable(client, provider):
    factories.person(email="ada@example.test", role=Role.MODERATOR)
    with sso_settings(provider, OIDC_ROLE_GROUPS={}):
        sign_in_through_provider(client)

    assert User.objects.get(email="ada@example.test").role == Role.MODERATOR


def test_groups_sent_only_in_the_id_token_still_set_the_role(client, sso):
    sso.person["groups"] = ["answerable-moderators"]
    sso.id_token_claims = ("groups",)
    sso.userinfo_omits = ("groups",)

    sign_in_through_provider(client)

    assert User.objects.get(email="ada@example.test").role == Role.MODERATOR


def test_a_department_claim_places_the_person_in_that_department(client, provider):
    existing = factories.department("Engineering")
    provider.person["department"] = "engineering"
    with sso_settings(provider, OIDC_DEPARTMENT_CLAIM="department"):
        sign_in_through_provider(client)
        assert User.objects.get(email="ada@example.test").department == existing

        client.post(reverse("accounts:sign-out"))
        provider.person["department"] = "Legal"
        sign_in_through_provider(client)

    assert User.objects.get(email="ada@example.test").department.name == "Legal"
    assert Department.objects.count() == 2


def test_a_taken_username_falls_back_to_the_email_address(client, sso):
    factories.person(username="ada", email="another.ada@example.test")

    sign_in_through_provider(client)

    assert User.objects.get(email="ada@example.test").username == "ada@example.test"


def test_a_person_made_by_single_sign_on_cannot_sign_in_with_a_password(client, sso):
    sign_in_through_provider(client)
    client.post(reverse("accounts:sign-out"))

    response = client.post(reverse("accounts:sign-in"), {"username": "ada", "password": ""})

    assert response.status_code == 200
    assert signed_in_person(client) is None


def test_signing_out_ends_a_single_sign_on_session(client, sso):
    sign_in_through_provider(client)
    assert signed_in_person(client) is not None

    response = client.post(reverse("accounts:sign-out"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:sign-in")
    assert signed_in_person(client) is None
    assert client.get(reverse("concerns:mine")).status_code == 302


def test_deactivating_a_person_ends_their_single_sign_on_session(client, sso):
    sign_in_through_provider(client)
    User.objects.filter(email="ada@example.test").update(is_active=False)

    response = client.get(reverse("concerns:mine"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))


def test_the_session_keeps_no_token_or_claim_from_the_provider(client, sso):
    sign_in_through_provider(client)

    session = dict(client.session.items())
    (access_token,) = sso.access_tokens
    assert set(session) <= {"_auth_user_id", "_auth_user_backend", "_auth_user_hash", "oidc_states"}
    assert session.get("oidc_states", {}) == {}
    assert access_token not in repr(session)
    assert "ada@example.test" not in repr(session)


# --- Refusals -----------------------------------------------------------------------------


def refusal(response) -> str:
    text = page_text(response)
    assert "<h1>You are not signed in</h1>" in text
    return text


def test_a_person_without_an_email_address_is_refused_with_a_clear_page(client, sso):
    del sso.person["email"]

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert f"Your {PROVIDER_NAME} account has no email address" in refusal(response)
    assert signed_in_person(client) is None
    assert not User.objects.exists()


@pytest.mark.parametrize("verified", [False, "false"])
def test_an_unverified_email_address_is_refused_with_a_clear_page(client, sso, verified):
    factories.person(email="ada@example.test", role=Role.ADMIN)
    sso.person["email_verified"] = verified

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "email address of your Example SSO account is not verified" in refusal(response)
    assert signed_in_person(client) is None
    assert User.objects.get().role == Role.ADMIN  # nothing was changed either


def test_an_id_token_with_a_tampered_signature_is_refused(client, sso):
    sso.tamper_id_token = True

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "could not be verified" in refusal(response)
    assert signed_in_person(client) is None
    assert not User.objects.exists()


def test_an_id_token_signed_by_another_key_is_refused(client, sso):
    published = sso.jwks()
    sso.key = new_key()
    sso.jwks = lambda: published

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "could not be verified" in refusal(response)
    assert not User.objects.exists()


def test_an_id_token_issued_for_another_client_is_refused(client, sso):
    sso.audience = "some-other-application"

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "could not be verified" in refusal(response)
    assert not User.objects.exists()


def test_userinfo_about_someone_else_is_refused(client, sso):
    sso.userinfo_overrides = {"sub": "mallory-0666", "email": "mallory@example.test"}

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "could not be verified" in refusal(response)
    assert not User.objects.exists()


def test_a_provider_that_declines_ends_on_a_clear_page_and_signs_nobody_out(client, sso):
    colleague = factories.person()
    client.force_login(colleague)
    sso.deny = "access_denied"

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert f"{PROVIDER_NAME} did not sign you in" in refusal(response)
    assert signed_in_person(client) == colleague


def test_a_callback_used_twice_is_refused_the_second_time(client, sso):
    at_provider = start_sign_in(client)
    callback = at_provider.headers["Location"]
    assert client.get(callback).status_code == 302
    client.post(reverse("accounts:sign-out"))

    response = client.get(callback)

    assert response.status_code == 400
    assert "expired or was already used" in refusal(response)
    assert signed_in_person(client) is None


def test_a_callback_without_a_started_sign_in_is_refused(client, sso):
    response = client.get(reverse("oidc_authentication_callback") + "?code=abc&state=xyz")

    assert response.status_code == 400
    assert "expired or was already used" in refusal(response)


def test_a_provider_that_does_not_answer_ends_on_a_clear_page(client, provider):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with sso_settings(provider, OIDC_OP_TOKEN_ENDPOINT=f"http://127.0.0.1:{closed_port}/token"):
        response = sign_in_through_provider(client)

    assert response.status_code == 502
    assert f"{PROVIDER_NAME} did not answer properly" in refusal(response)
    assert signed_in_person(client) is None


def test_a_deactivated_person_is_refused(client, sso):
    factories.person(email="ada@example.test", is_active=False)

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "deactivated" in refusal(response)
    assert signed_in_person(client) is None


def test_two_accounts_with_the_same_email_address_are_refused(client, sso):
    factories.person(email="ada@example.test")
    factories.person(email="ADA@example.test")

    response = sign_in_through_provider(client)

    assert response.status_code == 403
    assert "More than one Answerable account has your email address" in refusal(response)


def test_callbacks_are_rate_limited(client, sso, settings):
    settings.SIGN_INS_PER_MINUTE = 1
    for _ in range(3):
        client.get(reverse("oidc_authentication_callback") + "?code=abc&state=xyz")

    response = client.get(reverse("oidc_authentication_callback") + "?code=abc&state=xyz")

    assert response.status_code == 429
    assert "Too many sign-in attempts" in page_text(response)


# --- Password sign-in and SSO off ---------------------------------------------------------


def test_password_sign_in_still_works_with_single_sign_on_on(client, sso):
    person = factories.person(username="grace")

    response = client.post(
        reverse("accounts:sign-in") + "?code=abc&state=xyz",
        {"username": "grace", "password": "correct horse battery staple"},
    )

    assert response.status_code == 302
    assert signed_in_person(client) == person
    assert sso.token_requests == []  # the password path never calls the provider


def test_with_single_sign_on_off_there_is_no_button_and_no_oidc_address(client):
    response = client.get(reverse("accounts:sign-in"))

    assert response.status_code == 200
    assert "Sign in with" not in page_text(response)
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=abc&state=xyz").status_code == 404


# --- Configuration --------------------------------------------------------------------


def run_settings(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    return subprocess.run(  # noqa: S603 - a fixed interpreter and arguments
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


SSO_ENV = {
    "OIDC_RP_CLIENT_ID": "answerable",
    "OIDC_RP_CLIENT_SECRET": "secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://id.example.test/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://id.example.test/token",
    "OIDC_OP_USER_ENDPOINT": "https://id.example.test/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://id.example.test/jwks",
    "OIDC_ROLE_GROUPS": "admin=answerable-admins, leader=answerable-leaders,"
    "moderator=answerable-moderators,admin=it-admins",
}


def test_single_sign_on_is_configured_from_the_environment_and_passes_the_deploy_checks():
    production = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ANONYMITY_KEY": secrets.token_urlsafe(48),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "answerable.example.test",
    }
    result = run_settings(
        "import django; django.setup(); from django.conf import settings;"
        "from django.core.management import call_command;"
        "from django.urls import reverse;"
        "call_command('check', deploy=True, fail_level='WARNING');"
        "print(settings.OIDC_ROLE_GROUPS); print(settings.AUTHENTICATION_BACKENDS);"
        "print(settings.OIDC_RP_SIGN_ALGO, settings.OIDC_STORE_ID_TOKEN);"
        "print(reverse('oidc_authentication_callback'))",
        **(SSO_ENV | production),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()[-4:]
    assert lines[0] == str(
        {
            "admin": ["answerable-admins", "it-admins"],
            "leader": ["answerable-leaders"],
            "moderator": ["answerable-moderators"],
        }
    )
    assert "accounts.oidc.SignInBackend" in lines[1]
    assert lines[2] == "RS256 False"
    assert lines[3] == "/oidc/callback/"


def test_a_client_id_without_the_endpoints_stops_the_start_with_a_clear_error():
    result = run_settings("import django; django.setup()", OIDC_RP_CLIENT_ID="answerable")

    assert result.returncode != 0
    assert "OIDC_RP_CLIENT_SECRET, OIDC_OP_AUTHORIZATION_ENDPOINT" in result.stderr


def test_an_unknown_role_in_the_group_mapping_stops_the_start_with_a_clear_error():
    result = run_settings(
        "import django; django.setup()", **(SSO_ENV | {"OIDC_ROLE_GROUPS": "boss=execs"})
    )

    assert result.returncode != 0
    assert "OIDC_ROLE_GROUPS: 'boss=execs' is not role=group" in result.stderr
