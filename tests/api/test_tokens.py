"""Personal API tokens: issued once by the command line or the API, kept only as a
hash, sent as `Authorization: Bearer <token>`, revocable, with the day last used."""

import hashlib

import pytest
from django.apps import apps
from django.core.management import ManagementUtility
from django.db import models
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_authenticate
from tests import factories
from tests.api.conftest import Api, assert_problem


def _manage(*argv: str) -> int:
    """Runs manage.py in this process, as a shell would, and returns its exit code."""
    try:
        ManagementUtility(["manage.py", *argv]).execute()
    except SystemExit as leaving:
        return leaving.code or 0
    return 0


def _columns_holding(text: str) -> list[str]:
    """Every text column in the database whose value contains `text`."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.CharField | models.TextField):
                continue
            if model._default_manager.filter(**{f"{field.name}__contains": text}).exists():
                found.append(f"{model._meta.db_table}.{field.column}")
    return found


# The command runs `connections.close_all()` when it ends, which a test transaction
# would not survive.
@pytest.mark.django_db(transaction=True)
def test_the_command_prints_a_working_token_once_on_stdout(capsys):
    person = factories.person(username="bot-owner")

    assert _manage("create_api_token", "bot-owner", "--name", "Slack bot") == 0

    out, err = capsys.readouterr()
    secret = out.strip()
    assert len(out.splitlines()) == 1 and secret.startswith("ans_")
    assert secret not in err and "Slack bot" in err
    token = ApiToken.objects.get(person=person)
    assert token.name == "Slack bot"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert Api(token=secret).get("me/").json()["username"] == "bot-owner"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("nobody", "--name", "Slack bot"), "No person with the username 'nobody'"),
        (("bot-owner", "--name", ""), "Name the token"),
        (("bot-owner", "--name", "   "), "Name the token"),
        (("bot-owner", "--name", "x" * 81), "at most 80 characters"),
        (("gone", "--name", "Slack bot"), "gone is not active"),
    ],
)
def test_the_command_refuses_an_unknown_person_or_a_bad_name_in_one_line(capsys, argv, says):
    factories.person(username="bot-owner")
    factories.person(username="gone", is_active=False)

    assert _manage("create_api_token", *argv) != 0

    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and says in err
    assert "Traceback" not in err
    assert not ApiToken.objects.exists()


def test_a_token_made_through_the_api_is_shown_once_and_never_listed(api, people):
    employee = api("employee", session=True)

    made = employee.post("me/tokens/", {"name": "HR dashboard"})

    assert made.status_code == 201
    assert "no-store" in made["Cache-Control"]
    secret = made.json()["secret"]
    assert secret.startswith("ans_")
    assert made.json()["token"]["name"] == "HR dashboard"
    assert made.json()["token"]["active"] is True
    listing = employee.get("me/tokens/")
    assert listing.status_code == 200
    assert [t["name"] for t in listing.json()] == ["HR dashboard"]
    assert secret not in listing.content.decode()
    assert "secret" not in listing.json()[0] and "token_hash" not in listing.json()[0]
    assert Api(token=secret).get("me/").json()["username"] == people.employee.username


def test_a_token_is_stored_only_as_its_hash(api, people):
    secret = api("employee").post("me/tokens/", {"name": "Widget"}).json()["secret"]

    assert _columns_holding(secret) == []
    stored = ApiToken.objects.get(name="Widget")
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(stored.prefix) and len(stored.prefix) < len(secret) // 2


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, None, ["bot"], {"name": "bot"}])
def test_a_token_needs_a_sensible_name(api, name):
    made = api("employee").post("me/tokens/", {"name": name})

    assert_problem(made, 400, fields=("name",))
    # Only the token the client itself signs in with.
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["Tests"]


def test_each_person_lists_only_their_own_tokens(api, people):
    api("employee").post("me/tokens/", {"name": "Erin's bot"})

    names = [t["name"] for t in api("moderator", session=True).get("me/tokens/").json()]

    assert "Erin's bot" not in names


def test_a_bearer_token_authenticates_and_records_the_day_it_was_used(people):
    secret = Api(people.employee, session=True).post("me/tokens/", {"name": "Bot"}).json()
    token = ApiToken.objects.get(pk=secret["token"]["id"])
    assert token.last_used_on is None

    answer = Api(token=secret["secret"]).get("me/")

    assert answer.status_code == 200
    assert answer.json()["username"] == people.employee.username
    token.refresh_from_db()
    assert token.last_used_on == timezone.localdate()


def test_a_token_used_again_the_same_day_is_recognised_without_another_write(
    people, django_assert_num_queries
):
    secret = Api(people.employee, session=True).post("me/tokens/", {"name": "Bot"}).json()
    assert api_token_authenticate(secret=secret["secret"]) is not None

    with django_assert_num_queries(1):  # the look-up; the day is already recorded
        token = api_token_authenticate(secret=secret["secret"])

    assert token.last_used_on == timezone.localdate()
    assert token.person == people.employee
    assert token.person.username == people.employee.username
    assert token.pk == secret["token"]["id"]


def test_a_token_of_a_person_who_has_left_authenticates_nobody(people):
    secret = Api(people.employee, session=True).post("me/tokens/", {"name": "Bot"}).json()
    people.employee.is_active = False
    people.employee.save(update_fields=["is_active"])

    assert api_token_authenticate(secret=secret["secret"]) is None
    assert Api(token=secret["secret"]).get("me/").status_code == 401


def test_a_revoked_token_no_longer_works(people):
    owner = Api(people.employee, session=True)
    issued = owner.post("me/tokens/", {"name": "Bot"}).json()
    assert Api(token=issued["secret"]).get("me/").status_code == 200

    revoked = owner.delete(f"me/tokens/{issued['token']['id']}/")

    assert revoked.status_code == 200 and revoked.json()["active"] is False
    refused = Api(token=issued["secret"]).get("me/")
    assert_problem(refused, 401)
    assert refused["WWW-Authenticate"].startswith("Bearer")
    listed = owner.get("me/tokens/").json()
    assert [t["active"] for t in listed] == [False]


def test_nobody_can_revoke_another_persons_token(people):
    issued = Api(people.employee, session=True).post("me/tokens/", {"name": "Bot"}).json()

    answer = Api(people.admin).delete(f"me/tokens/{issued['token']['id']}/")

    assert 400 <= answer.status_code < 500
    assert_problem(answer, answer.status_code)
    assert Api(token=issued["secret"]).get("me/").status_code == 200


def test_a_deactivated_persons_tokens_stop_working(people):
    secret = Api(people.employee, session=True).post("me/tokens/", {"name": "Bot"}).json()
    people.employee.is_active = False
    people.employee.save()

    assert_problem(Api(token=secret["secret"]).get("me/"), 401)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ans_not-a-token-that-was-ever-issued",
        "Bearer",
        "Bearer two parts",
        "bearer ",
        "Bearer \u00ff\u00fe",
        "Bearer " + "A" * 5000,
        "Token ans_something",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_wrong_or_malformed_tokens_get_401_with_a_bearer_challenge(db, authorization):
    answer = Api().get("me/", Authorization=authorization)

    assert_problem(answer, 401)
    assert answer["WWW-Authenticate"] == 'Bearer realm="answerable"'


def test_a_request_without_credentials_is_told_how_to_authenticate(db):
    answer = Api().get("concerns/")

    body = assert_problem(answer, 401)
    assert body["title"] == "Not signed in"
    assert answer["WWW-Authenticate"].startswith("Bearer")


def test_a_session_needs_the_csrf_token_but_a_bearer_token_does_not(people):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people.employee)
    bearer = Api(people.employee)
    bearer.client = Client(enforce_csrf_checks=True)
    concern = {"title": "Lockers", "body": "Too few."}

    forged = browser.post("/api/v1/concerns/", concern, content_type="application/json")
    browser.get("/")  # the page sets the CSRF cookie, as a browser session would have it
    sent = browser.post(
        "/api/v1/concerns/",
        concern,
        content_type="application/json",
        headers={"X-CSRFToken": browser.cookies["csrftoken"].value},
    )

    assert "CSRF" in assert_problem(forged, 403)["detail"]
    assert sent.status_code == 201
    assert bearer.post("concerns/", concern).status_code == 201
