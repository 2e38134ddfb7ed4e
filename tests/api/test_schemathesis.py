"""Schemathesis over the API's own OpenAPI schema, served at /api/schema/: for every
operation it generates requests from the schema (valid ones and, in its negative
mode, invalid ones) and sends them to the application in-process, as a client
written only from the schema would. No answer may be a server error, and every
answer must have a status the schema documents for the operation and a body that
matches the schema documented for that status.

Requests carry real bearer tokens of a moderator, an employee, a leader and an
admin in turn. It is bounded (derandomised, a few examples per operation and mode)
so it runs in the ordinary suite. Path parameters name real objects of the `world`
fixture, so the generated bodies reach the services instead of stopping at a 404;
odd ids in the path are the subject of test_problem_json_and_fuzz.py."""

import itertools
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken
from accounts.services import api_token_create
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 4
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CONFIG = {"generation": {"database": "none"}}
# Derandomised, so every run sends the same requests; no shrinking, so a failure is
# reported at once with the request that caused it.
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)


class Callers:
    """Bearer tokens of real people. Each example is sent by the next of them in
    turn, so operations are tried both by those allowed to use them and by those
    refused. A token that a generated DELETE revoked is replaced, so the rest of the
    run is still authenticated."""

    def __init__(self, world: World) -> None:
        people = world.people
        self.people = [people.moderator, people.employee, people.leader, people.admin]
        self.turn = itertools.cycle(self.people)
        self.secrets = {person.pk: self._issue(person) for person in self.people}

    @staticmethod
    def _issue(person) -> str:
        return api_token_create(person=person, name="schemathesis").secret

    def headers(self) -> dict[str, str]:
        person = next(self.turn)
        secret = self.secrets[person.pk]
        if not ApiToken.objects.filter(person=person, revoked_at__isnull=True).exists():
            secret = self.secrets[person.pk] = self._issue(person)
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def _generous_limits(settings):
    # Rate limits are tested in test_throttling.py; here they would only stop the
    # generated requests from reaching the code under test.
    settings.API_REQUESTS_PER_PERIOD = 1_000_000
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 1_000_000
    settings.RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = 1_000_000
    settings.LIVE_QUESTIONS_PER_HOUR = 1_000_000
    settings.PUBLIC_SUBMISSIONS_PER_HOUR = 1_000_000
    settings.SUBMISSIONS_PER_HOUR = 1_000_000
    settings.VOTES_PER_MINUTE = 1_000_000


@pytest.fixture
def wsgi_application():
    """Django's WSGI application, kept inside the test's transaction: like Django's
    test client, it must not close the database connection after each request."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def callers(world) -> Callers:
    return Callers(world)


def real_ids(world: World) -> dict[str, object]:
    spare = api_token_create(person=world.people.employee, name="spare").token
    return {
        "concern_id": str(world.answered.pk),
        "meeting_id": world.live.pk,
        "item_id": world.item(world.live, 2).pk,
        "question_id": str(world.approved.pk),
        "commitment_id": world.commitment.pk,
        "token_id": spare.pk,
    }


def _sender(strategy, checks: list, callers: Callers, sent: Counter, mode):
    @SETTINGS
    @hypothesis.given(case=strategy)
    def send(case):
        answer = case.call_and_validate(headers=callers.headers(), checks=checks)
        sent[mode.value] += 1
        sent[f"{answer.status_code // 100}xx"] += 1

    return send


def test_no_generated_request_gets_a_server_error_or_an_answer_off_the_schema(
    world, _generous_limits, callers, wsgi_application
):
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        wsgi_application,
        config=schemathesis.Config.from_dict(CONFIG),
        headers=callers.headers(),
    )
    ids = real_ids(world)
    failures: list[str] = []
    sent = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        fixed = {p.name: ids[p.name] for p in operation.path_parameters}
        for mode in MODES:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            try:
                _sender(strategy, CHECKS, callers, sent, mode)()
            # Schemathesis reports check failures as a FailureGroup, a BaseExceptionGroup.
            except (Exception, FailureGroup) as error:  # noqa: BLE001 - all reported below
                failures.append(f"{operation.label} ({mode.value}): {error}")

    operations = len(list(schema.get_all_operations()))
    print(f"schemathesis: {operations} operations, {dict(sent)}")
    assert not failures, "\n\n".join(failures)
    requests = sent["positive"] + sent["negative"]
    assert operations >= 50 and requests >= operations * len(MODES)
    # Authenticated and aimed at real objects, a good part of the run succeeds.
    assert sent["2xx"] >= operations
