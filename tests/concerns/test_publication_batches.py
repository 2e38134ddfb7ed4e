"""Publication batches: an approved anonymous concern, and a response that support made
due, go public only with the next batch at a fixed hour, all at one time and in a
shuffled order, so the moment something appears says nothing about who was active
when. Named concerns and moderators' decisions are not held back."""

import datetime
import html
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from concerns import services
from concerns.errors import IllegalTransition
from concerns.models import Concern, Status
from config.celery import app as celery_app
from config.settings import _batch_hours
from ledger.models import LedgerEntry
from ledger.services import ledger_flush_deferred
from notifications.services import follow
from responses import services as response_services
from responses.models import RatingValue
from tests import factories
from tests.responses import DAY_ONE, due_concern, publish, rules, travel_to, vote
from tests.webhooks import endpoint
from webhooks.models import EventType, OutboxEvent

pytestmark = pytest.mark.django_db

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _batch_hours_and_a_stopped_clock(settings, monkeypatch):
    """Batches at 9, 13 and 17 o'clock; the clock stands at noon on DAY_ONE (a Monday),
    so the next batch is at 13:00."""
    settings.PUBLICATION_BATCH_HOURS = (9, 13, 17)
    return travel_to(monkeypatch, DAY_ONE, hour=12)


@pytest.fixture(autouse=True)
def _tasks_run_in_the_test():
    """Mail is sent by tasks: run them here whatever REDIS_URL says."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def moderator():
    return factories.moderator(first_name="Morgan", last_name="Reviewer")


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def queue_rows(response) -> list[str]:
    """The moderation queue's rows as plain text, in page order."""
    body = re.search(r"<tbody>(.*)</tbody>", response.content.decode(), re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S) if body else []
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


def approved_anonymously(moderator, *, title: str) -> Concern:
    concern = factories.submission(anonymous=True, title=title).concern
    return services.concern_approve(concern=concern, moderator=moderator)


def status_entries(concern: Concern) -> list[dict]:
    payloads = (
        json.loads(p)
        for p in LedgerEntry.objects.filter(kind="concern.status")
        .order_by("sequence")
        .values_list("payload", flat=True)
    )
    return [p for p in payloads if p["concern"] == str(concern.pk)]


def response_due_events() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=EventType.CONCERN_RESPONSE_DUE))


# Waiting for the batch ---------------------------------------------------------------


def test_an_approved_anonymous_concern_is_neither_listed_nor_votable_until_the_batch(
    client, moderator
):
    concern = approved_anonymously(moderator, title="Badge data sold to insurers")
    client.force_login(factories.person())

    assert concern.status == Status.IN_REVIEW and concern.published_at is None
    assert "Badge data sold to insurers" not in page_text(client.get(reverse("concerns:list")))
    assert client.get(concern.get_absolute_url()).status_code == 404
    with pytest.raises(IllegalTransition, match="Votes are closed: this concern is in review."):
        services.vote_cast(concern=concern, voter=factories.person())

    services.publication_batch()

    assert "Badge data sold to insurers" in page_text(client.get(reverse("concerns:list")))
    assert client.get(concern.get_absolute_url()).status_code == 200
    assert services.vote_cast(concern=concern, voter=factories.person()) is True


def test_the_moderator_sees_an_approved_concern_waiting_for_the_next_batch(client, moderator):
    concern = factories.submission(anonymous=True, title="Badge data sold to insurers").concern
    client.force_login(moderator)
    assert "Approve for the next batch" in page_text(client.get(concern.get_absolute_url()))

    approved = client.post(reverse("concerns:moderate", args=[concern.pk, "approve"]), follow=True)

    assert approved.redirect_chain[-1][0] == reverse("concerns:moderation")
    assert (
        "“Badge data sold to insurers” is approved. Anonymous concerns are published "
        "together at fixed times, in a shuffled order: this one goes out at 13:00 on 3 Mar."
    ) in page_text(approved)
    assert queue_rows(approved) == [
        "Badge data sold to insurers In review approved, published with the next batch "
        "today anonymously"
    ]
    page = page_text(client.get(concern.get_absolute_url()))
    assert (
        "Approved. Anonymous concerns are published together at fixed times, in a shuffled "
        "order: this one goes out at 13:00 on 3 Mar. It can still be rejected or merged "
        "until then."
    ) in page
    assert "Approve for the next batch" not in page
    assert Concern.objects.get(pk=concern.pk).approved_by == moderator


def test_approving_a_waiting_concern_again_is_refused_with_a_clear_error(client, moderator):
    concern = approved_anonymously(moderator, title="Badge data sold to insurers")
    message = (
        "This concern is already approved: it is published with the next batch, at 13:00 on 3 Mar."
    )

    with pytest.raises(IllegalTransition) as refused:
        services.concern_approve(concern=concern, moderator=factories.moderator())
    assert str(refused.value) == message

    client.force_login(moderator)
    again = client.post(reverse("concerns:moderate", args=[concern.pk, "approve"]), follow=True)
    assert again.status_code == 200
    assert message in page_text(again)
    concern.refresh_from_db()
    assert (concern.status, concern.approved_by) == (Status.IN_REVIEW, moderator)
    assert concern.events.filter(note__startswith="Approved").count() == 1


def _rejected(concern, moderator, receipt):
    services.concern_reject(concern=concern, moderator=moderator, reason="It names a colleague.")
    return Status.REJECTED


def _merged(concern, moderator, receipt):
    into = factories.open_concern(moderated_by=moderator, title="The same worry, named")
    services.concern_merge(concern=concern, into=into, moderator=moderator)
    return Status.MERGED


def _withdrawn(concern, moderator, receipt):
    services.concern_withdraw_by_receipt(receipt=receipt)
    return Status.WITHDRAWN


@pytest.mark.parametrize(
    "decide",
    [_rejected, _merged, _withdrawn],
    ids=["rejected by a moderator", "merged", "withdrawn by its receipt"],
)
def test_a_waiting_concern_can_still_be_decided_otherwise_and_the_batch_leaves_it_be(
    moderator, decide
):
    submission = factories.submission(anonymous=True, title="Badge data sold to insurers")
    services.concern_approve(concern=submission.concern, moderator=moderator)

    expected = decide(submission.concern, moderator, submission.receipt)
    batch = services.publication_batch()

    concern = Concern.objects.get(pk=submission.concern.pk)
    assert batch.published == 0
    assert concern.status == expected and concern.published_at is None


# The batch ---------------------------------------------------------------------------


def test_the_batch_publishes_every_waiting_concern_at_one_time_as_its_approving_moderator(
    moderator,
):
    other = factories.moderator(first_name="Olu", last_name="Other")
    endpoint(events=[EventType.CONCERN_PUBLISHED])
    first = approved_anonymously(moderator, title="First")
    second = approved_anonymously(moderator, title="Second")
    third = approved_anonymously(other, title="Third")
    not_approved = factories.submission(anonymous=True, title="Not approved").concern
    services.concern_review_start(concern=not_approved, moderator=moderator)
    assert not OutboxEvent.objects.exists()

    batch = services.publication_batch(now=timezone.now())

    assert (batch.published, batch.announced) == (3, 0)
    published = {c.title: c for c in Concern.objects.filter(status=Status.OPEN)}
    assert set(published) == {"First", "Second", "Third"}
    assert {c.published_at for c in published.values()} == {timezone.now()}
    for concern, approver in ((first, moderator), (second, moderator), (third, other)):
        event = concern.events.get(to_status=Status.OPEN)
        assert event.actor == approver
        assert event.note == "Published with the batch of anonymous concerns."
        # The ledger, which anyone can read, names nobody for an anonymous concern.
        assert [(p["to"], p["by"]) for p in status_entries(concern)][-1] == ("open", None)
    assert Concern.objects.get(pk=not_approved.pk).status == Status.IN_REVIEW
    assert sorted(e.payload["title"] for e in OutboxEvent.objects.all()) == [
        "First",
        "Second",
        "Third",
    ]


def test_running_the_batch_twice_publishes_nothing_more(moderator, monkeypatch):
    endpoint()
    concern = approved_anonymously(moderator, title="Badge data sold to insurers")
    services.publication_batch()
    published_at = Concern.objects.get(pk=concern.pk).published_at
    events_so_far = OutboxEvent.objects.count()
    travel_to(monkeypatch, DAY_ONE, hour=13)

    again = services.publication_batch()

    assert (again.published, again.announced) == (0, 0)
    concern = Concern.objects.get(pk=concern.pk)
    assert concern.published_at == published_at
    assert concern.events.filter(to_status=Status.OPEN).count() == 1
    assert OutboxEvent.objects.count() == events_so_far


def test_a_named_concern_is_published_at_once(client, moderator):
    endpoint(events=[EventType.CONCERN_PUBLISHED])
    concern = factories.submission(title="Parking for night shifts").concern

    concern = services.concern_approve(concern=concern, moderator=moderator)

    assert concern.status == Status.OPEN
    assert concern.published_at == timezone.now()
    assert OutboxEvent.objects.get().payload["title"] == "Parking for night shifts"
    client.force_login(factories.person())
    assert "Parking for night shifts" in page_text(client.get(reverse("concerns:list")))
    assert services.publication_batch().published == 0


# Announcements that support set off --------------------------------------------------


def _deciding_vote(moderator):
    rules(votes=2, days=14)
    concern = factories.open_concern(moderated_by=moderator, title="Lockers in the warehouse")
    vote(concern, 1)
    return concern, lambda: vote(concern, 1), Status.OPEN


def _deciding_rating(moderator):
    rules(days=14)
    leader = factories.leader()
    concern = due_concern(moderator=moderator, leader=leader, title="Lockers in the warehouse")
    publish(concern, leader)
    for _ in range(4):
        response_services.rating_cast(
            concern=concern, rater=factories.person(), value=RatingValue.NOT_ANSWERED
        )

    def fifth_rating():
        response_services.rating_cast(
            concern=concern, rater=factories.person(), value=RatingValue.NOT_ANSWERED
        )

    return concern, fifth_rating, Status.ANSWERED


@pytest.mark.parametrize(
    "prepare",
    [_deciding_vote, _deciding_rating],
    ids=["the vote that reaches the threshold", "the rating that escalates"],
)
def test_support_holds_the_announcement_back_until_the_batch(
    moderator, prepare, django_capture_on_commit_callbacks
):
    concern, deciding_act, before = prepare(moderator)
    follower = factories.person(username="follower")
    follow(person=follower, concern=concern)
    endpoint(events=[EventType.CONCERN_RESPONSE_DUE])
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        deciding_act()

    concern.refresh_from_db()
    assert concern.status == Status.RESPONSE_DUE and concern.announcement_held
    assert response_due_events() == []
    assert mail.outbox == []
    assert status_entries(concern)[-1]["to"] != "response_due"

    with django_capture_on_commit_callbacks(execute=True):
        batch = services.publication_batch()

    assert batch.announced == 1
    [event] = response_due_events()
    assert event.payload["id"] == str(concern.pk)
    assert event.payload["status"] == "response_due"
    assert event.payload["response_due_on"] == "2031-03-17"
    [message] = mail.outbox
    assert message.to == [follower.email]
    assert message.subject == "Update: Lockers in the warehouse"
    assert "A written response is now due by 17 Mar 2031." in message.body
    assert not Concern.objects.get(pk=concern.pk).announcement_held

    ledger_flush_deferred()

    assert status_entries(concern)[-1] == {
        "concern": str(concern.pk),
        "from": before,
        "to": "response_due",
        "on": DAY_ONE.isoformat(),
        "by": None,
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert services.publication_batch().announced == 0
    assert len(response_due_events()) == 1 and len(mail.outbox) == 1


def test_a_moderator_requiring_a_response_announces_it_at_once(
    moderator, django_capture_on_commit_callbacks
):
    rules(days=14)
    concern = factories.open_concern(moderated_by=moderator, title="Lockers in the warehouse")
    follower = factories.person()
    follow(person=follower, concern=concern)
    endpoint(events=[EventType.CONCERN_RESPONSE_DUE])

    with django_capture_on_commit_callbacks(execute=True):
        services.concern_require_response(
            concern=concern, actor=moderator, note="A moderator asked for a written response."
        )

    assert not Concern.objects.get(pk=concern.pk).announcement_held
    assert len(response_due_events()) == 1
    assert [m.to for m in mail.outbox] == [[follower.email]]
    assert status_entries(concern)[-1]["to"] == "response_due"
    assert services.publication_batch().announced == 0


def test_a_held_announcement_for_a_concern_answered_before_the_batch_sends_nothing(
    moderator, django_capture_on_commit_callbacks
):
    concern, deciding_act, _ = _deciding_vote(moderator)
    leader = factories.leader()
    follower = factories.person()
    follow(person=follower, concern=concern)
    endpoint(events=[EventType.CONCERN_RESPONSE_DUE])
    with django_capture_on_commit_callbacks(execute=True):
        deciding_act()
        services.concern_assign_leader(concern=concern, moderator=moderator, leader=leader)
        publish(concern, leader)
    mails_so_far = len(mail.outbox)
    assert Concern.objects.get(pk=concern.pk).status == Status.ANSWERED

    with django_capture_on_commit_callbacks(execute=True):
        services.publication_batch()

    assert response_due_events() == []
    assert len(mail.outbox) == mails_so_far
    assert not Concern.objects.get(pk=concern.pk).announcement_held


def test_the_batch_does_not_count_an_announcement_it_skipped(moderator):
    concern, deciding_act, _ = _deciding_vote(moderator)
    deciding_act()
    leader = factories.leader()
    services.concern_assign_leader(concern=concern, moderator=moderator, leader=leader)
    publish(concern, leader)

    assert services.publication_batch().announced == 0


def test_a_concern_due_again_the_same_day_is_announced_again_to_its_followers(
    moderator, django_capture_on_commit_callbacks
):
    """Due by votes, announced, answered, then due again through ratings, all on one
    day: each duty is announced once, with its own mail."""
    concern, deciding_act, _ = _deciding_vote(moderator)
    follower = factories.person(username="follower")
    follow(person=follower, concern=concern)
    endpoint(events=[EventType.CONCERN_RESPONSE_DUE])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        deciding_act()
        services.publication_batch()
    leader = factories.leader()
    services.concern_assign_leader(concern=concern, moderator=moderator, leader=leader)
    publish(concern, leader)
    for _ in range(5):
        response_services.rating_cast(
            concern=concern, rater=factories.person(), value=RatingValue.NOT_ANSWERED
        )
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        batch = services.publication_batch()

    assert batch.announced == 1
    assert len(response_due_events()) == 2
    [again] = [m for m in mail.outbox if m.to == [follower.email]]
    assert "A written response is now due" in again.body


# Running it by hand, and when it runs ------------------------------------------------


def test_the_publish_batch_command_says_what_it_did(moderator):
    approved_anonymously(moderator, title="First")
    approved_anonymously(moderator, title="Second")
    concern, deciding_act, _ = _deciding_vote(moderator)
    deciding_act()
    out = io.StringIO()

    call_command("publish_batch", stdout=out)

    assert out.getvalue().strip() == (
        "Published 2 anonymous concern(s) and announced 1 response(s) now due. "
        "The next scheduled batch is at 13:00 on 3 Mar 2031."
    )
    assert Concern.objects.filter(status=Status.OPEN, title__in=["First", "Second"]).count() == 2

    again = io.StringIO()
    call_command("publish_batch", stdout=again)
    assert again.getvalue().startswith(
        "Published 0 anonymous concern(s) and announced 0 response(s) now due."
    )


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


@pytest.mark.parametrize(
    ("hours", "now", "expected"),
    [
        ((9, 13, 17), _at(DAY_ONE, 8, 59), _at(DAY_ONE, 9)),
        ((9, 13, 17), _at(DAY_ONE, 9), _at(DAY_ONE, 13)),
        ((9, 13, 17), _at(DAY_ONE, 12, 30), _at(DAY_ONE, 13)),
        ((9, 13, 17), _at(DAY_ONE, 17, 1), _at(DAY_ONE + datetime.timedelta(days=1), 9)),
        ((17, 9), _at(DAY_ONE, 10), _at(DAY_ONE, 17)),
        ((0,), _at(DAY_ONE, 0), _at(DAY_ONE + datetime.timedelta(days=1), 0)),
        ((23,), _at(datetime.date(2031, 12, 31), 23, 30), _at(datetime.date(2032, 1, 1), 23)),
    ],
    ids=[
        "before the first",
        "on the hour goes to the next one",
        "between two",
        "after the last: tomorrow's first",
        "hours in any order",
        "one batch a day, at midnight",
        "over the new year",
    ],
)
def test_the_next_batch_is_the_next_configured_hour(settings, hours, now, expected):
    settings.PUBLICATION_BATCH_HOURS = hours

    assert services.next_publication_batch(now) == expected


@pytest.mark.parametrize(
    ("value", "hours"),
    [("9,13,17", (9, 13, 17)), (" 17, 9 ,13 ", (9, 13, 17)), ("12,12", (12,)), ("0,23,", (0, 23))],
)
def test_the_batch_hours_are_read_from_a_list_of_hours(value, hours):
    assert _batch_hours(value) == hours


@pytest.mark.parametrize("value", ["", " , ", "nine", "9;13", "24", "-1", "9.5", "9,25"])
def test_a_bad_batch_hours_value_is_refused_with_a_clear_message(value):
    with pytest.raises(ImproperlyConfigured) as refused:
        _batch_hours(value)

    assert str(refused.value) == (
        f"PUBLICATION_BATCH_HOURS must be hours 0-23 separated by commas, got {value!r}"
    )


def test_a_bad_batch_hours_value_stops_start_up():
    environment = {**os.environ, "PUBLICATION_BATCH_HOURS": "9,13,25"}

    started = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert started.returncode != 0
    assert (
        "PUBLICATION_BATCH_HOURS must be hours 0-23 separated by commas, got '9,13,25'"
        in started.stderr
    )
