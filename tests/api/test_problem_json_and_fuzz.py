"""Every endpoint fed a corpus of odd inputs: wrong JSON types, huge strings, nulls,
arrays instead of objects, invalid ids, unicode, invalid JSON bytes, wrong content
types and forged cursors. No input of any shape may produce a 5xx, and every error
is RFC 9457 problem+json.

Each operation is called by a role allowed to reach its handler, so the corpus meets
the input validation and the services, not just the permission check. The request
fields and query parameters come from the OpenAPI schema, as a generated client's
would."""

import base64
import functools
import json
import re
import uuid

import pytest
from drf_spectacular.generators import SchemaGenerator

from concerns import services as concern_services
from config.api_urls import urlpatterns
from tests import factories
from tests.api.conftest import PROBLEM, Api, well_formed
from tests.api.test_permissions_matrix import EXPECTED

# The role each operation is exercised as: the first that may use it.
ACTING = {
    operation: next(
        role
        for role in ("employee", "leader", "moderator", "admin", "signed_out")
        if roles[role] < 300
    )
    for operation, roles in EXPECTED.items()
}
WITH_BODY = sorted(op for op in EXPECTED if op[1] in ("POST", "PUT"))
READS = sorted(op for op in EXPECTED if op[1] == "GET")
WITH_PATH_IDS = sorted(
    op for op in EXPECTED if "<" in {p.name: str(p.pattern) for p in urlpatterns}[op[0]]
)

ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    10**40,
    -(10**40),
    1.5,
    1e308,
    "",
    " ",
    "x" * 100_000,
    "💥" * 2_000,
    "\u202eevil\u0301",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "not-a-uuid",
    "00000000-0000-0000-0000-000000000000",
    "2031-02-30",
    "99999-12-31",
    "NaN",
    "-1",
    "1:" + "a" * 64,
    [],
    [None],
    ["x"] * 500,
    [[[]]],
    {},
    {"$ne": None},
]
WHOLE_BODIES = [
    None,
    True,
    0,
    "a string",
    [],
    [1, 2],
    [{}],
    {},
    {"unknown": 1},
    {"": None},
    {"x" * 10_000: 1},
]
RAW_JSON = [
    b"",
    b"{",
    b"}",
    b"[1,]",
    b"{'single': 'quotes'}",
    b'{"a": 1} trailing',
    b"\x00",
    b"\xff\xfe\xfd",
    b"NaN",
    b"1e999999",
    b'{"a": Infinity}',
    b'{"a": "\\ud800"}',
    b'{"a": "\\u0000"}',
    b'{"title": "\xff"}',
    b" " * 10_000,
    '{"title": "caf\u00e9"}'.encode("latin-1"),
    b'{"a": ' + b"1" * 5_000 + b"}",
]
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/json; charset=utf-16",
    "application/json; charset=no-such-charset",
    "application/problem+json",
    "image/png",
]
ACCEPTS = ["text/html", "application/xml", "*/*", "application/problem+json", "nonsense;;q=x"]
QUERY_VALUES = [
    "",
    "x" * 10_000,
    "\u0000",
    "💥",
    "\ud7ff",
    "<b>",
    "%",
    "-1",
    "not a slug!",
    "open,closed",
]
RAW_QUERIES = [
    "q=%ff%fe",
    "q=%00",
    "%%%",
    "sort=top&sort=new",
    "status[]=open",
    "=&=&",
    "q=" + "a%20" * 3000,
]
# Python's JSON decoder recurses once per level and gives up with RecursionError.
DEEPLY_NESTED = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]
PATH_VALUES = ["not-a-uuid", "%00", "x" * 300, "-1", "0", "9" * 30, str(uuid.uuid4()), ".."]


@functools.cache
def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operation(name: str, method: str) -> dict:
    route = {p.name: str(p.pattern) for p in urlpatterns}[name]
    path = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    return _schema()["paths"][path][method.lower()]


def request_fields(name: str, method: str) -> list[str]:
    body = _operation(name, method).get("requestBody")
    if not body:
        return []
    reference = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return sorted(_schema()["components"]["schemas"][reference]["properties"])


def query_parameters(name: str, method: str) -> list[str]:
    parameters = _operation(name, method).get("parameters", [])
    return sorted({p["name"] for p in parameters if p["in"] == "query"} | {"cursor"})


def wrong(answer) -> str | None:
    """What is wrong with an answer to odd input: a server error, or an error that is
    not problem+json."""
    if answer.status_code >= 500:
        return f"{answer.status_code} server error"
    if answer.status_code < 400:
        return None
    if answer["Content-Type"].split(";")[0] != PROBLEM:
        return f"{answer.status_code} as {answer['Content-Type']}"
    body = json.loads(answer.content)
    missing = {"type", "title", "status", "detail"} - set(body)
    if missing or body["status"] != answer.status_code:
        return f"{answer.status_code} problem without {sorted(missing)}"
    return None


@pytest.fixture(autouse=True)
def _generous_limits(settings):
    settings.API_REQUESTS_PER_PERIOD = 100_000
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 100_000
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 100_000
    settings.LIVE_QUESTIONS_PER_HOUR = 100_000
    settings.PUBLIC_SUBMISSIONS_PER_HOUR = 100_000


@pytest.fixture
def acting(api):
    """A client for the operation's acting role that reports server errors as
    answers instead of raising them."""

    def for_operation(operation: tuple[str, str]) -> Api:
        client = api(ACTING[operation])
        client.client.raise_request_exception = False
        return client

    return for_operation


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _check(failures: list[str]) -> None:
    assert not failures, "\n".join(failures[:40])


@pytest.mark.parametrize("operation", WITH_BODY, ids="-".join)
def test_no_body_of_the_wrong_shape_causes_a_server_error(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, _ = well_formed(world, name, method, client)
    failures = []

    for body in WHOLE_BODIES:
        problem = wrong(client.send(method, path, body))
        if problem:
            failures.append(f"{_short(body)}: {problem}")

    _check(failures)


@pytest.mark.parametrize("operation", [op for op in WITH_BODY if request_fields(*op)], ids="-".join)
def test_no_odd_value_in_any_field_causes_a_server_error(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, valid = well_formed(world, name, method, client)
    failures = []

    for field in request_fields(name, method):
        for value in ODD_VALUES:
            problem = wrong(client.send(method, path, {**(valid or {}), field: value}))
            if problem:
                failures.append(f"{field}={_short(value)}: {problem}")

    _check(failures)


# Two characters that databases and encoders refuse: NUL (PostgreSQL text cannot hold
# it) and a lone UTF-16 surrogate (UTF-8 cannot encode it), alone, inside a string
# and inside a list, in every field.
AWKWARD_CHARACTERS = {"nul": "\u0000", "lone-surrogate": "\ud800"}


@pytest.mark.parametrize("character", sorted(AWKWARD_CHARACTERS))
@pytest.mark.parametrize("operation", [op for op in WITH_BODY if request_fields(*op)], ids="-".join)
def test_nul_and_lone_surrogates_in_any_field_get_a_400_problem(
    world, acting, operation, character
):
    name, method = operation
    client = acting(operation)
    path, valid = well_formed(world, name, method, client)
    text = AWKWARD_CHARACTERS[character]
    failures = []

    for field in request_fields(name, method):
        for value in (text, f"a{text}b", [f"a{text}b"]):
            problem = wrong(client.send(method, path, {**(valid or {}), field: value}))
            if problem:
                failures.append(f"{field}={_short(value)}: {problem}")

    _check(failures)


@pytest.mark.parametrize("operation", WITH_BODY, ids="-".join)
def test_invalid_json_bytes_never_cause_a_server_error(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, _ = well_formed(world, name, method, client)
    failures = []

    for raw in RAW_JSON:
        problem = wrong(client.raw(method, path, raw, "application/json"))
        if problem:
            failures.append(f"{_short(raw)}: {problem}")

    _check(failures)


@pytest.mark.parametrize("operation", WITH_BODY, ids="-".join)
def test_deeply_nested_json_gets_a_400_problem_not_a_server_error(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, _ = well_formed(world, name, method, client)

    for raw in DEEPLY_NESTED:
        answer = client.raw(method, path, raw, "application/json")
        assert wrong(answer) is None, f"{wrong(answer)} for JSON nested thousands of levels deep"
        if request_fields(name, method):
            assert answer.status_code == 400


@pytest.mark.parametrize("operation", WITH_BODY, ids="-".join)
def test_a_body_in_another_format_gets_a_415_problem(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, valid = well_formed(world, name, method, client)
    body = json.dumps(valid or {}).encode()
    failures = []

    reads_body = bool(request_fields(name, method))

    for content_type in CONTENT_TYPES:
        answer = client.raw(method, path, body, content_type)
        problem = wrong(answer)
        if problem:
            failures.append(f"{content_type}: {problem}")
        elif reads_body and "json" not in content_type and answer.status_code != 415:
            failures.append(f"{content_type}: {answer.status_code}, not 415")

    _check(failures)


@pytest.mark.parametrize("operation", sorted(EXPECTED), ids="-".join)
def test_any_accept_header_gets_json_or_a_problem(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, body = well_formed(world, name, method, client)
    failures = []

    for accept in ACCEPTS:
        if method == "GET":
            answer = client.get(path, Accept=accept)
        else:
            answer = client.send(method, path, body, Accept=accept)
        problem = wrong(answer)
        if problem:
            failures.append(f"Accept: {accept}: {problem}")

    _check(failures)


@pytest.mark.parametrize("operation", READS, ids="-".join)
def test_no_query_string_causes_a_server_error(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, _ = well_formed(world, name, method, client)
    failures = []

    for parameter in [p for p in query_parameters(name, method) if p != "cursor"] + ["unknown"]:
        for value in QUERY_VALUES:
            problem = wrong(client.get(path, {parameter: value}))
            if problem:
                failures.append(f"?{parameter}={_short(value)}: {problem}")
    for raw in RAW_QUERIES:
        problem = wrong(client.client.get(Api.url(path) + "?" + raw, headers=client.headers))
        if problem:
            failures.append(f"?{_short(raw)}: {problem}")

    _check(failures)


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


GARBLED_CURSORS = ["bz1hYmM=", "x" * 5_000, _cursor("o=-1"), _cursor("r=2&o=x")]
FORGED_CURSORS = [
    _cursor("p=abc"),
    _cursor("o=1&p=\u0000"),
    _cursor("p=1e999"),
    _cursor("r=1&p=[]"),
]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("concerns/", {"sort": "top"}),
        ("concerns/", {"sort": "new"}),
        ("concerns/", {"sort": "trending"}),
        ("concerns/", {"sort": "relevant", "q": "heating"}),
        ("ledger/entries/", {}),
    ],
)
def test_a_garbled_cursor_gets_a_404_problem(world, acting, path, params):
    client = acting(("concerns", "GET"))

    for cursor in GARBLED_CURSORS:
        answer = client.get(path, {**params, "cursor": cursor})
        assert wrong(answer) is None and answer.status_code == 404, (cursor, answer.status_code)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("concerns/", {"sort": "top"}),
        ("concerns/", {"sort": "new"}),
        ("concerns/", {"sort": "trending"}),
        ("ledger/entries/", {}),
    ],
)
def test_a_forged_cursor_position_gets_a_404_problem_not_a_server_error(
    world, acting, path, params
):
    client = acting(("concerns", "GET"))
    failures = []

    for cursor in FORGED_CURSORS:
        answer = client.get(path, {**params, "cursor": cursor})
        if wrong(answer) or answer.status_code != 404:
            decoded = base64.b64decode(cursor).decode()
            failures.append(f"cursor {decoded!r}: {wrong(answer) or answer.status_code}")

    _check(failures)


@pytest.mark.parametrize("operation", WITH_PATH_IDS, ids="-".join)
def test_no_odd_id_in_the_path_causes_a_server_error(world, acting, operation):
    name, method = operation
    client = acting(operation)
    path, body = well_formed(world, name, method, client)
    failures = []

    for value in PATH_VALUES:
        odd = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|(?<=/)\d+(?=/)", value, path, count=1)
        answer = client.get(odd) if method == "GET" else client.send(method, odd, body)
        if answer.status_code >= 500:
            failures.append(f"{odd[:80]}: {answer.status_code}")
        elif answer.status_code < 400:
            failures.append(f"{odd[:80]}: {answer.status_code} for an id that does not exist")

    _check(failures)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/concerns/not-a-uuid/",
        "/api/v1/concerns/not-a-uuid/vote/",
        "/api/v1/meetings/first/",
        "/api/v1/no-such-resource/",
        "/api/v2/concerns/",
    ],
)
def test_an_api_url_that_does_not_exist_gets_a_404_problem(api, path):
    answer = api("employee").client.get(path, headers=api("employee").headers)

    assert answer.status_code == 404
    assert wrong(answer) is None


def test_an_unsupported_method_gets_a_405_problem_with_allow(api):
    answer = api("employee").send("PATCH", "concerns/", {})

    assert answer.status_code == 405 and wrong(answer) is None
    assert set(answer["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_field_errors_name_each_field_with_its_messages(api):
    answer = api("employee").post("concerns/", {"title": "", "body": None, "tags": "pay"})

    body = json.loads(answer.content)
    assert answer.status_code == 400 and answer["Content-Type"] == PROBLEM
    assert body["type"] == "about:blank" and body["title"] == "Invalid input"
    assert set(body["errors"]) == {"title", "body", "tags"}
    assert all(isinstance(m, str) for messages in body["errors"].values() for m in messages)


def test_a_domain_refusal_is_a_problem_carrying_the_services_message(api, people):
    concern = factories.submission().concern
    concern_services.concern_reject(concern=concern, moderator=people.moderator, reason="No.")

    answer = api("employee").post(f"concerns/{concern.pk}/vote/")

    assert answer.status_code == 409 and wrong(answer) is None
    assert json.loads(answer.content) == {
        "type": "about:blank",
        "title": "Not possible now",
        "status": 409,
        "detail": "Votes are closed: this concern is rejected.",
    }
