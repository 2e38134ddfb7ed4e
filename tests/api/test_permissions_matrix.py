"""Every API operation for every role, against an explicit table of what each role
may do. The table must name exactly the operations the URLconf and the OpenAPI
schema have, so a new endpoint cannot arrive without its permissions written down."""

import re

import pytest
from django.core.cache import cache
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator

from config.api_urls import urlpatterns
from tests.api.conftest import ROLES, assert_problem, send_well_formed

STAFF = ("employee", "moderator", "leader", "admin")


def everyone(code: int) -> dict[str, int]:
    return {"signed_out": 401, **dict.fromkeys(STAFF, code)}


def only(code: int, *roles: str) -> dict[str, int]:
    return {"signed_out": 401, **{r: code if r in roles else 403 for r in STAFF}}


def anyone(code: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, code)


# (URL name, method) -> the status each role gets for a well-formed request. In the
# `world` fixture (conftest.py) the employee owns the commitment but did not raise the concern.
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("concerns", "GET"): everyone(200),
    ("concerns", "POST"): everyone(201),
    ("concern", "GET"): everyone(200),
    ("vote", "POST"): everyone(200),
    ("vote", "DELETE"): everyone(200),
    ("moderation", "POST"): only(200, "moderator", "admin"),
    ("messages", "POST"): only(201, "moderator", "leader", "admin"),
    ("response", "GET"): everyone(200),
    ("draft", "POST"): only(200, "leader"),
    ("draft-saved", "GET"): only(200, "leader"),
    ("overdue", "GET"): everyone(200),
    ("dashboard", "GET"): everyone(200),
    ("ledger-heads", "GET"): everyone(200),
    ("commitments", "POST"): only(201, "leader"),
    ("rating", "POST"): everyone(200),
    ("commitment-updates", "POST"): only(201, "employee", "leader"),
    ("moderation-queue", "GET"): only(200, "moderator", "admin"),
    ("receipt", "POST"): anyone(200),
    ("receipt-reply", "POST"): anyone(200),
    ("receipt-withdraw", "POST"): anyone(200),
    ("tags", "GET"): everyone(200),
    ("concern-anonymous", "POST"): anyone(201),
    ("concerns-similar", "POST"): everyone(200),
    ("concern-withdraw", "POST"): only(200, "employee"),
    ("my-concerns", "GET"): everyone(200),
    ("meetings", "GET"): everyone(200),
    ("meetings", "POST"): only(201, "moderator", "admin"),
    ("meeting", "GET"): everyone(200),
    # The leader hosts both meetings: hosts run them, only moderators change the
    # agenda or approve a question (it becomes a published concern).
    ("meeting-start", "POST"): only(200, "moderator", "leader", "admin"),
    ("meeting-advance", "POST"): only(200, "moderator", "leader", "admin"),
    ("meeting-end", "POST"): only(200, "moderator", "leader", "admin"),
    ("agenda", "POST"): only(201, "moderator", "admin"),
    ("agenda-propose", "POST"): only(200, "moderator", "admin"),
    ("agenda-item", "DELETE"): only(204, "moderator", "admin"),
    ("agenda-item-move", "POST"): only(200, "moderator", "admin"),
    ("agenda-item-notes", "PUT"): only(200, "moderator", "leader", "admin"),
    ("agenda-item-discussed", "POST"): only(200, "moderator", "leader", "admin"),
    ("questions", "POST"): everyone(201),
    ("question-vote", "POST"): everyone(200),
    ("question-approve", "POST"): only(200, "moderator", "admin"),
    ("question-reject", "POST"): only(200, "moderator", "leader", "admin"),
    ("question-highlight", "POST"): only(200, "moderator", "leader", "admin"),
    ("ledger-entries", "GET"): everyone(200),
    ("ledger-head", "GET"): everyone(200),
    ("ledger-verify", "POST"): everyone(200),
    ("me", "GET"): everyone(200),
    ("preferences", "GET"): everyone(200),
    ("preferences", "PUT"): everyone(200),
    ("follows", "GET"): everyone(200),
    ("follow", "PUT"): everyone(201),
    ("follow", "DELETE"): everyone(204),
    ("tokens", "GET"): everyone(200),
    ("tokens", "POST"): everyone(201),
    ("token", "DELETE"): everyone(200),
}


def url_operations() -> set[tuple[str, str]]:
    operations = set()
    for pattern in urlpatterns:
        view = pattern.callback.cls
        for method in view.http_method_names:
            if method not in ("options", "head") and hasattr(view, method):
                operations.add((pattern.name, method.upper()))
    return operations


def _openapi_path(route: str) -> str:
    return "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_the_table_names_every_operation_the_urls_have():
    assert set(EXPECTED) == url_operations()


def test_the_table_names_every_operation_the_schema_documents():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {
        (path, method.upper())
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    }
    routes = {p.name: _openapi_path(str(p.pattern)) for p in urlpatterns}
    assert documented == {(routes[name], method) for name, method in EXPECTED}


@pytest.mark.parametrize(("name", "method"), sorted(EXPECTED), ids=lambda v: v)
def test_each_role_gets_exactly_the_expected_answer(api, world, name, method):
    """Each role's request runs in a savepoint that is rolled back, with the rate
    limits' counters cleared, so every role meets the same world."""
    clients = {role: api(role) for role in ROLES}
    got = {}

    for role, client in clients.items():
        cache.clear()
        with transaction.atomic():
            answer = send_well_formed(world, name, method, client)
            transaction.set_rollback(True)
        expected = EXPECTED[(name, method)][role]
        if expected >= 400:
            assert_problem(answer, expected)
            if expected == 401:
                assert answer["WWW-Authenticate"].startswith("Bearer")
        got[role] = answer.status_code

    assert got == EXPECTED[(name, method)]
