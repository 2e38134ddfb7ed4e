"""Personal API tokens on the profile page: a person names a token and sees it once,
sees each token's name, first characters, creation and last use, and revokes it;
all with plain forms, no JavaScript."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts.models import ApiToken
from accounts.services import api_token_create, token_hash
from tests import factories
from tests.notifications import visible

pytestmark = pytest.mark.django_db

PROFILE = reverse("notifications:preferences")
CREATE = reverse("notifications:token-create")


def _revoke(token: ApiToken) -> str:
    return reverse("notifications:token-revoke", kwargs={"token_id": token.pk})


@pytest.fixture
def person():
    return factories.person(first_name="Erin", last_name="Employee")


@pytest.fixture
def browser(person) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    return client


def _csrf(client: Client) -> str:
    page = client.get(PROFILE)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]


def _secret_on(page) -> str:
    return re.search(r"<code>(ans_[A-Za-z0-9_-]+)</code>", page.content.decode())[1]


def test_the_profile_page_is_the_persons_own_and_is_in_the_navigation(browser, person):
    page = browser.get(PROFILE)

    text = visible(page.content.decode())
    assert page.status_code == 200
    assert "Your profile" in text and person.display_name in text and person.username in text
    assert f'<a href="{PROFILE}">Profile</a>' in page.content.decode()
    assert "You have no API token." in text


def test_a_person_creates_a_named_token_and_sees_it_exactly_once(browser, person):
    page = browser.post(CREATE, {"name": "Slack bot", "csrfmiddlewaretoken": _csrf(browser)})

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    secret = _secret_on(page)
    token = ApiToken.objects.get(person=person)
    assert token.name == "Slack bot" and token.token_hash == token_hash(secret)
    assert secret not in str(ApiToken.objects.values_list())
    assert "Copy it now: it is shown this once" in visible(page.content.decode())
    again = browser.get(PROFILE).content.decode()
    assert secret not in again
    assert "Slack bot" in again and f"{token.prefix}…" in again
    answer = Client().get("/api/v1/me/", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and answer.json()["username"] == person.username


def test_the_list_shows_name_prefix_creation_and_last_use(browser, person):
    used = api_token_create(person=person, name="Dashboard")
    api_token_create(person=person, name="Never used")
    Client().get("/api/v1/me/", headers={"Authorization": f"Bearer {used.secret}"})

    rows = re.findall(r"<tr>(.*?)</tr>", browser.get(PROFILE).content.decode(), re.S)

    cells = [visible(row).split() for row in rows]
    by_name = {row[0]: " ".join(row) for row in cells if row and row[0] in ("Dashboard", "Never")}
    today = dateformat.format(timezone.localdate(), "j M Y")
    assert by_name["Dashboard"].startswith(f"Dashboard {used.token.prefix}…")
    assert by_name["Dashboard"].endswith(f"{today} Revoke")  # created today, used today
    assert by_name["Never"].endswith("never Revoke")


def test_revoking_a_token_closes_the_api_to_it_and_says_so(browser, person):
    issued = api_token_create(person=person, name="Old script")

    page = browser.post(_revoke(issued.token), {"csrfmiddlewaretoken": _csrf(browser)}, follow=True)

    assert page.redirect_chain == [(PROFILE + "#tokens", 302)]
    text = visible(page.content.decode())
    assert "The token “Old script” is revoked" in text and "revoked" in text
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    answer = Client().get("/api/v1/me/", headers={"Authorization": f"Bearer {issued.secret}"})
    assert answer.status_code == 401


def test_nobody_revokes_another_persons_token(browser):
    someone = api_token_create(person=factories.person(), name="Theirs")

    page = browser.post(
        _revoke(someone.token), {"csrfmiddlewaretoken": _csrf(browser)}, follow=True
    )

    assert "No such token." in visible(page.content.decode())
    assert ApiToken.objects.get(pk=someone.token.pk).revoked_at is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_a_token_needs_a_name_of_at_most_80_characters(browser, person, name):
    page = browser.post(CREATE, {"name": name, "csrfmiddlewaretoken": _csrf(browser)})

    assert page.status_code == 400
    assert 'class="error"' in page.content.decode()
    assert not ApiToken.objects.filter(person=person).exists()


def test_the_forms_need_a_csrf_token_and_signing_in(browser, person):
    issued = api_token_create(person=person, name="Keep")

    forged_create = browser.post(CREATE, {"name": "Sneaky"})
    forged_revoke = browser.post(_revoke(issued.token))
    signed_out = Client().post(CREATE, {"name": "Anyone"})
    read_by_get = browser.get(CREATE)

    assert forged_create.status_code == 403 and forged_revoke.status_code == 403
    assert signed_out.status_code == 302
    assert signed_out["Location"].startswith(reverse("accounts:sign-in"))
    assert read_by_get.status_code == 405
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("Keep", None)]
