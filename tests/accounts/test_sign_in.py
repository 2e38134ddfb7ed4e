"""Signing in and out, and how passwords are kept."""

import html

import pytest
from django.contrib.auth.hashers import make_password
from django.urls import reverse

import config.settings as project_settings
from accounts.models import User
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def real_password_hashing(settings):
    """The project's own hashers, instead of the fast one other tests use."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def test_the_sign_in_page_shows_a_form(client):
    response = client.get(reverse("accounts:sign-in"))

    assert response.status_code == 200
    text = page_text(response)
    assert "<h1>Sign in</h1>" in text
    assert 'name="username"' in text
    assert 'name="password"' in text
    assert reverse("concerns:receipt") in text


def test_signing_in_with_username_and_password_leads_to_the_concerns(client):
    person = factories.person(username="ada", first_name="Ada", last_name="Lovelace")

    response = client.post(
        reverse("accounts:sign-in"), {"username": "ada", "password": PASSWORD}, follow=True
    )

    assert response.redirect_chain == [(reverse("concerns:list"), 302)]
    assert response.status_code == 200
    assert "<h1>Concerns</h1>" in page_text(response)
    assert "Sign out Ada Lovelace" in page_text(response)
    assert response.wsgi_request.user == person


def test_signing_in_returns_to_the_page_asked_for(client):
    factories.person(username="ada")

    response = client.post(
        reverse("accounts:sign-in"),
        {"username": "ada", "password": PASSWORD, "next": reverse("concerns:mine")},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("concerns:mine")


def test_signing_in_never_returns_to_another_site(client):
    factories.person(username="ada")

    response = client.post(
        reverse("accounts:sign-in"),
        {"username": "ada", "password": PASSWORD, "next": "https://evil.example/"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("concerns:list")


WRONG_CREDENTIALS = "Please enter a correct username and password."


@pytest.mark.parametrize(
    ("username", "password", "error"),
    [
        ("ada", "wrong password", WRONG_CREDENTIALS),
        ("nobody", PASSWORD, WRONG_CREDENTIALS),
        ("ada", "", "This field is required."),
    ],
)
def test_a_wrong_username_or_password_shows_an_error(client, username, password, error):
    factories.person(username="ada")

    response = client.post(
        reverse("accounts:sign-in"), {"username": username, "password": password}
    )

    assert response.status_code == 200
    text = page_text(response)
    assert "<h1>Sign in</h1>" in text
    assert error in text
    assert "_auth_user_id" not in client.session


def test_an_inactive_account_cannot_sign_in(client):
    factories.person(username="ada", is_active=False)

    response = client.post(reverse("accounts:sign-in"), {"username": "ada", "password": PASSWORD})

    assert response.status_code == 200
    assert WRONG_CREDENTIALS in page_text(response)
    assert "_auth_user_id" not in client.session


def test_signing_out_is_a_post_that_ends_the_session(client):
    person = factories.person()
    client.force_login(person)

    response = client.post(reverse("accounts:sign-out"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:sign-in")
    listing = client.get(reverse("concerns:list"))
    assert listing.status_code == 302


def test_signing_out_by_get_is_refused_and_keeps_the_session(client):
    client.force_login(factories.person())

    response = client.get(reverse("accounts:sign-out"))

    assert response.status_code == 405
    assert client.get(reverse("concerns:list")).status_code == 200


def test_the_sign_out_button_is_a_form(client):
    client.force_login(factories.person())

    text = page_text(client.get(reverse("concerns:list")))

    assert f'<form method="post" action="{reverse("accounts:sign-out")}"' in text


def test_passwords_are_hashed_with_argon2(real_password_hashing):
    person = factories.person(password=PASSWORD)

    stored = User.objects.get(pk=person.pk).password
    assert stored.startswith("argon2$argon2id$")
    assert PASSWORD not in stored
    assert person.check_password(PASSWORD)


def test_signing_in_works_with_an_argon2_password(client, real_password_hashing):
    factories.person(username="ada", password=PASSWORD)

    response = client.post(reverse("accounts:sign-in"), {"username": "ada", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("concerns:list")


def test_an_older_password_hash_is_upgraded_to_argon2_on_sign_in(client, real_password_hashing):
    person = factories.person(username="ada")
    User.objects.filter(pk=person.pk).update(
        password=make_password(PASSWORD, hasher="pbkdf2_sha256")
    )

    response = client.post(reverse("accounts:sign-in"), {"username": "ada", "password": PASSWORD})

    assert response.status_code == 302
    assert User.objects.get(pk=person.pk).password.startswith("argon2$")


def test_visitors_are_sent_to_sign_in_from_the_list(client):
    response = client.get(reverse("concerns:list"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:sign-in')}?next=/"


@pytest.mark.parametrize("name", ["concerns:new", "concerns:mine"])
def test_visitors_are_sent_to_sign_in_from_signed_in_pages(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))


def test_visitors_can_still_check_a_receipt_without_signing_in(client):
    response = client.get(reverse("concerns:receipt"))

    assert response.status_code == 200
