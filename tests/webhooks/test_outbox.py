"""Events are written to the outbox in the same transaction as the change that
caused them, with one delivery per subscribed endpoint, and each event type comes
from the action that names it. Nothing here sends anything."""

import json

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from concerns import services as concern_services
from concerns.models import Concern
from ledger.services import ledger_append, ledger_flush_deferred
from meetings import services as meeting_services
from responses import services as response_services
from tests import factories
from tests.responses import publish
from tests.webhooks import due, endpoint, in_days
from webhooks.admin import EndpointForm
from webhooks.models import DeliveryStatus, EventType, OutboxEvent, WebhookDelivery
from webhooks.services import body_of, webhook_emit


@pytest.fixture
def moderator(db):
    return factories.moderator()


@pytest.fixture
def leader(db):
    return factories.leader(first_name="Lena", last_name="Leader")


def test_the_event_and_its_deliveries_are_written_with_the_change(moderator):
    subscribed = endpoint(events=[EventType.CONCERN_PUBLISHED])
    also = endpoint(events=[EventType.CONCERN_PUBLISHED, EventType.MEETING_STARTED])
    concern = factories.submission().concern

    with transaction.atomic():
        concern_services.concern_approve(concern=concern, moderator=moderator)
        [event] = OutboxEvent.objects.filter(type=EventType.CONCERN_PUBLISHED)
        deliveries = WebhookDelivery.objects.filter(event=event)
        assert {d.endpoint for d in deliveries} == {subscribed, also}

    assert all(d.status == DeliveryStatus.PENDING and d.attempts == 0 for d in deliveries)
    assert all(d.next_attempt_at <= timezone.now() for d in deliveries)
    assert event.payload["id"] == str(concern.pk)


def test_a_change_that_is_rolled_back_leaves_no_event_behind(
    moderator, django_capture_on_commit_callbacks
):
    concern = factories.submission().concern
    endpoint()

    with (
        django_capture_on_commit_callbacks() as queued,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        concern_services.concern_approve(concern=concern, moderator=moderator)
        assert OutboxEvent.objects.filter(type=EventType.CONCERN_PUBLISHED).exists()
        assert OutboxEvent.objects.filter(type=EventType.LEDGER_APPENDED).exists()
        raise RuntimeError("the change fails after the event was written")

    assert not OutboxEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert queued == []
    assert Concern.objects.get(pk=concern.pk).published_at is None


def test_deliveries_are_queued_only_once_the_change_commits(
    moderator, django_capture_on_commit_callbacks, monkeypatch
):
    endpoint(events=[EventType.CONCERN_PUBLISHED])
    concern = factories.submission().concern
    queued = []
    monkeypatch.setattr("webhooks.tasks.deliver_webhook.delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        concern_services.concern_approve(concern=concern, moderator=moderator)
        assert queued == []

    assert queued == [WebhookDelivery.objects.get().pk]


def test_no_delivery_for_events_nobody_subscribed_to(moderator):
    meetings_only = endpoint(events=[EventType.MEETING_STARTED])
    endpoint(events=[EventType.CONCERN_PUBLISHED], active=False)

    factories.open_concern(moderated_by=moderator)

    assert not WebhookDelivery.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not meetings_only.deliveries.exists()


def test_without_any_endpoint_nothing_is_written(moderator):
    factories.open_concern(moderated_by=moderator)

    assert webhook_emit(type=EventType.LEDGER_APPENDED, payload={}) is None
    assert not OutboxEvent.objects.exists()


def test_an_unknown_event_type_is_a_programming_error(db):
    with pytest.raises(ValueError, match="Unknown webhook event"):
        webhook_emit(type="concern.deleted", payload={})


# Every event from the action that names it -------------------------------------------


def _published(moderator, concern=None):
    """Approves a concern; an anonymous one is published by the batch that follows."""
    return factories.published(concern or factories.submission().concern, moderator)


def _response_due(moderator, leader):
    organisation = Organisation.current()
    organisation.response_vote_threshold = 2
    organisation.save()
    concern = factories.open_concern(moderated_by=moderator)

    def votes_then_batch():
        for _ in range(2):
            concern_services.vote_cast(concern=concern, voter=factories.person())
        # The deciding vote holds the announcement back; the batch makes it.
        concern_services.publication_batch()

    return votes_then_batch


def _overdue(moderator, leader):
    concern = due(factories.open_concern(moderated_by=moderator), moderator)
    return lambda: concern_services.deadlines_enforce(
        today=concern.response_due_on + timezone.timedelta(days=1)
    )


def _response_published(moderator, leader):
    concern = due(factories.open_concern(moderated_by=moderator), moderator)
    return lambda: publish(concern, leader)


def _commitment_added(moderator, leader):
    concern = due(factories.open_concern(moderated_by=moderator), moderator)
    publish(concern, leader)
    return lambda: response_services.commitment_add(
        concern=concern, leader=leader, description="Fix it", owner=leader, due_on=in_days(7)
    )


def _commitment_updated(moderator, leader):
    concern = due(factories.open_concern(moderated_by=moderator), moderator)
    publish(concern, leader)
    commitment = response_services.commitment_add(
        concern=concern, leader=leader, description="Fix it", owner=leader, due_on=in_days(7)
    )
    return lambda: response_services.commitment_update(
        commitment=commitment, author=leader, to_status="in_progress", note="Started."
    )


def _meeting(moderator, *, start: bool):
    meeting = meeting_services.meeting_create(
        organiser=moderator, title="All hands", scheduled_start=timezone.now()
    )
    if start:
        return lambda: meeting_services.meeting_start(meeting=meeting, actor=moderator)
    meeting_services.meeting_start(meeting=meeting, actor=moderator)
    return lambda: meeting_services.meeting_end(meeting=meeting, actor=moderator)


def _approval(moderator, leader):
    concern = factories.submission().concern
    return lambda: _published(moderator, concern)


def _required_response(moderator, leader):
    concern = factories.open_concern(moderated_by=moderator)
    return lambda: due(concern, moderator)


ACTIONS = {
    "approving a concern": (EventType.CONCERN_PUBLISHED, _approval, {"status": "open"}),
    "the batch after the vote that reaches the threshold": (
        EventType.CONCERN_RESPONSE_DUE,
        _response_due,
        {"status": "response_due"},
    ),
    "a moderator requiring a response": (
        EventType.CONCERN_RESPONSE_DUE,
        _required_response,
        {"status": "response_due"},
    ),
    "the deadline check after the due date": (
        EventType.CONCERN_OVERDUE,
        _overdue,
        {"status": "response_due"},
    ),
    "publishing a response": (
        EventType.RESPONSE_PUBLISHED,
        _response_published,
        {"version": 1, "signed_as": "Lena Leader"},
    ),
    "adding a commitment": (
        EventType.COMMITMENT_UPDATED,
        _commitment_added,
        {"from": None, "to": "planned"},
    ),
    "updating a commitment": (
        EventType.COMMITMENT_UPDATED,
        _commitment_updated,
        {"from": "planned", "to": "in_progress", "note": "Started."},
    ),
    "starting a meeting": (
        EventType.MEETING_STARTED,
        lambda m, _: _meeting(m, start=True),
        {"status": "live"},
    ),
    "ending a meeting": (
        EventType.MEETING_ENDED,
        lambda m, _: _meeting(m, start=False),
        {"status": "ended", "owed_in_writing": 0},
    ),
    "appending to the ledger": (
        EventType.LEDGER_APPENDED,
        lambda m, _: lambda: ledger_append(kind="test.entry", payload={"n": 1}),
        {"kind": "test.entry"},
    ),
}


def test_every_event_type_in_the_issue_has_an_action_here():
    assert {event for event, _, _ in ACTIONS.values()} == set(EventType.values)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_event_type_is_emitted_by_its_action(moderator, leader, action):
    event_type, prepare, expected = ACTIONS[action]
    act = prepare(moderator, leader)
    OutboxEvent.objects.all().delete()
    only_this = endpoint(events=[event_type])
    everything_else = endpoint(events=[t for t in EventType.values if t != event_type])

    act()

    emitted = list(OutboxEvent.objects.filter(type=event_type))
    assert emitted, f"{action} emitted no {event_type}"
    assert {d.event.type for d in only_this.deliveries.select_related("event")} == {event_type}
    assert not everything_else.deliveries.filter(event__type=event_type).exists()
    payload = emitted[-1].payload
    assert expected.items() <= payload.items(), payload


def test_the_events_that_need_none_are_not_emitted_by_reading_or_voting(moderator):
    concern = factories.open_concern(moderated_by=moderator)
    everything = endpoint()

    concern_services.vote_cast(concern=concern, voter=factories.person())

    assert not everything.deliveries.exists()


# Anonymity ---------------------------------------------------------------------------


def test_payloads_about_an_anonymous_concern_carry_no_person(moderator, leader):
    author = factories.person(username="whistle", first_name="Zelda", last_name="Whistle")
    endpoint()
    submission = factories.submission(author=author, anonymous=True, title="Quiet concern")

    concern = _published(moderator, submission.concern)
    due(concern, moderator)
    concern_services.deadlines_enforce(today=in_days(30))
    publish(concern, leader)
    ledger_flush_deferred()  # the submitter's own entries, held back until now

    events = list(OutboxEvent.objects.all())
    assert {e.type for e in events} >= {
        EventType.CONCERN_PUBLISHED,
        EventType.CONCERN_RESPONSE_DUE,
        EventType.CONCERN_OVERDUE,
        EventType.RESPONSE_PUBLISHED,
        EventType.LEDGER_APPENDED,
    }
    for event in events:
        if event.type.startswith("concern."):
            assert event.payload["author"] is None and event.payload["anonymous"] is True
        body = body_of(event).decode()
        for identifying in ("whistle", "Zelda", "Whistle", submission.receipt):
            assert identifying not in body, (event.type, identifying)


def test_payloads_about_a_named_concern_name_its_author(moderator):
    author = factories.person(first_name="Nora", last_name="Named")
    endpoint(events=[EventType.CONCERN_PUBLISHED])

    factories.open_concern(author=author, moderated_by=moderator)

    assert OutboxEvent.objects.get().payload["author"] == "Nora Named"


def test_the_body_is_the_event_as_canonical_json(moderator):
    endpoint(events=[EventType.CONCERN_PUBLISHED])
    concern = factories.open_concern(moderated_by=moderator)
    event = OutboxEvent.objects.get()

    body = body_of(event)

    document = json.loads(body)
    assert document == {
        "id": str(event.id),
        "type": "concern.published",
        "created_at": document["created_at"],
        "data": event.payload,
    }
    assert document["created_at"].endswith("+00:00")
    assert document["data"]["id"] == str(concern.pk)
    assert body == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


# Targets -----------------------------------------------------------------------------


PRIVATE_TARGETS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/hook",
]


def _form(url: str) -> EndpointForm:
    return EndpointForm(
        data={"url": url, "secret": "s" * 32, "events": [EventType.CONCERN_PUBLISHED]}
    )


def test_targets_on_loopback_or_private_networks_are_refused_by_default(db):
    accepted = [url for url in PRIVATE_TARGETS if _form(url).is_valid()]

    assert accepted == []


def test_a_setting_allows_loopback_targets(settings, db):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    assert _form("http://127.0.0.1:8080/hook").is_valid()


def test_only_http_and_https_targets_are_accepted(db):
    form = _form("ftp://hooks.example.com/")

    assert not form.is_valid() and "url" in form.errors
