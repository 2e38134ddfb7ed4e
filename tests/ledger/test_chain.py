"""What the ledger records: every change of a concern's status, every publication,
commitment update and missed deadline, in a chain anyone can verify. Entries about
anonymous work name nobody, and an anonymous submitter's own actions wait for a
shuffled batch."""

import json
import threading

import pytest
from django.db import connection

from concerns import services as concern_services
from ledger.models import GENESIS_HASH, DeferredEntry, LedgerEntry, LedgerHead
from ledger.selectors import ledger_verify
from ledger.services import entry_hash, ledger_append, ledger_defer, ledger_flush_deferred
from ledger.tasks import flush_deferred_entries
from responses import services as response_services
from tests import factories
from tests.ledger import bulk_chain, chain
from tests.responses import DAY_ONE, days_after, due_concern, publish, rules, travel_to, vote

pytestmark = pytest.mark.django_db


def entries() -> list[tuple[str, dict]]:
    return [
        (kind, json.loads(payload))
        for kind, payload in LedgerEntry.objects.order_by("sequence").values_list("kind", "payload")
    ]


def about(concern) -> list[tuple[str, dict]]:
    return [(kind, p) for kind, p in entries() if p.get("concern") == str(concern.pk)]


def steps(concern) -> list[tuple[str, str | None, str | None]]:
    """(kind, new status or version, who) for each entry about the concern."""
    return [
        (kind, p.get("to") or p.get("version"), p.get("by", p.get("signed_as")))
        for kind, p in about(concern)
    ]


# Appending ---------------------------------------------------------------------------


def test_each_entry_hashes_its_sequence_kind_payload_and_predecessor():
    first = ledger_append(kind="test.entry", payload={"b": 2, "a": "é"})
    second = ledger_append(kind="test.entry", payload={"n": 2})

    assert (first.sequence, second.sequence) == (1, 2)
    assert first.payload == '{"a":"é","b":2}'
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.entry_hash
    assert second.entry_hash == entry_hash(
        sequence=2, kind="test.entry", payload='{"n":2}', previous_hash=first.entry_hash
    )
    head = LedgerHead.objects.get(pk=1)
    assert (head.sequence, head.entry_hash) == (2, second.entry_hash)


def test_every_status_change_of_a_named_concern_is_appended_with_who_made_it(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(votes=2)
    author = factories.person(first_name="Sam", last_name="Author")
    moderator = factories.moderator(first_name="Morgan", last_name="Reviewer")
    leader = factories.leader(first_name="Ada", last_name="Lovelace")
    concern = factories.open_concern(author=author, moderated_by=moderator)
    vote(concern, 2)
    # The deciding vote must not be timable by the chain: its entry waits for the batch.
    assert [s[1] for s in steps(concern)][-1] == "open"
    ledger_flush_deferred()
    version = publish(concern, leader)

    assert steps(concern) == [
        ("concern.status", "submitted", "Sam Author"),
        ("concern.status", "in_review", "Morgan Reviewer"),
        ("concern.status", "open", "Morgan Reviewer"),
        ("concern.status", "response_due", None),
        ("response.published", 1, "Ada Lovelace"),
        ("concern.status", "answered", "Ada Lovelace"),
    ]
    assert LedgerEntry.objects.get(sequence=version.ledger_sequence).kind == "response.published"
    assert all(p["on"] == DAY_ONE.isoformat() for k, p in about(concern) if k == "concern.status")


def test_a_rejection_and_a_withdrawal_are_appended():
    moderator = factories.moderator()
    rejected = factories.submission().concern
    concern_services.concern_reject(concern=rejected, moderator=moderator, reason="Off topic.")
    author = factories.person()
    withdrawn = factories.submission(author=author).concern
    concern_services.concern_withdraw(concern=withdrawn, author=author)

    assert [s[1] for s in steps(rejected)] == ["submitted", "in_review", "rejected"]
    assert [s[1] for s in steps(withdrawn)] == ["submitted", "withdrawn"]


def test_commitment_updates_and_a_missed_deadline_are_appended(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(days=14)
    leader = factories.leader(first_name="Ada", last_name="Lovelace")
    late = due_concern(leader=leader)
    answered = due_concern(leader=leader)
    publish(answered, leader)
    commitment = response_services.commitment_add(
        concern=answered,
        leader=leader,
        description="End the contracts",
        owner=leader,
        due_on=days_after(DAY_ONE, 30),
    )
    response_services.commitment_update(
        commitment=commitment, author=leader, to_status="in_progress", note="Started."
    )
    concern_services.deadlines_enforce(today=days_after(DAY_ONE, 15))

    assert [(s[1], s[2]) for s in steps(answered) if s[0] == "commitment.status"] == [
        ("planned", "Ada Lovelace"),
        ("in_progress", "Ada Lovelace"),
    ]
    assert [kind for kind, _ in about(late)][-1] == "concern.deadline_missed"


def test_entries_about_an_anonymous_concern_name_nobody():
    moderator = factories.moderator(first_name="Morgan", last_name="Reviewer")
    leader = factories.leader(first_name="Ada", last_name="Lovelace")
    submission = factories.submission(anonymous=True)
    concern = factories.published(submission.concern, moderator)
    concern_services.concern_require_response(concern=concern, actor=moderator, note="Due.")
    publish(concern, leader)
    ledger_flush_deferred()

    statuses = [p for kind, p in about(concern) if kind == "concern.status"]
    assert [p["to"] for p in statuses] == [
        "in_review",
        "open",
        "response_due",
        "answered",
        "submitted",  # deferred, so it comes last
    ]
    assert all(p["by"] is None for p in statuses)
    assert not any(
        "Morgan" in payload for payload in LedgerEntry.objects.values_list("payload", flat=True)
    )


def test_an_anonymous_submission_reaches_the_ledger_only_with_the_next_batch(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    submission = factories.submission(anonymous=True)
    assert about(submission.concern) == []
    assert DeferredEntry.objects.count() == 1

    travel_to(monkeypatch, days_after(DAY_ONE, 1))
    assert ledger_flush_deferred() == 1

    [(kind, payload)] = about(submission.concern)
    assert (kind, payload["to"], payload["by"]) == ("concern.status", "submitted", None)
    # Appended on the day of the batch, not the day of the action.
    assert LedgerEntry.objects.get(kind=kind).recorded_on == days_after(DAY_ONE, 1)
    assert not DeferredEntry.objects.exists()


def test_a_withdrawal_by_receipt_reaches_the_ledger_only_with_the_next_batch():
    submission = factories.submission(anonymous=True)
    ledger_flush_deferred()

    concern_services.concern_withdraw_by_receipt(receipt=submission.receipt)

    assert [p["to"] for _, p in about(submission.concern)] == ["submitted"]
    assert ledger_flush_deferred() == 1
    assert [(p["to"], p["by"]) for _, p in about(submission.concern)] == [
        ("submitted", None),
        ("withdrawn", None),
    ]


def test_flushing_twice_appends_nothing_more():
    factories.submission(anonymous=True)
    factories.submission(anonymous=True)

    assert ledger_flush_deferred() == 2
    count = LedgerEntry.objects.count()
    assert ledger_flush_deferred() == 0
    assert LedgerEntry.objects.count() == count
    assert ledger_verify().ok


def test_the_daily_task_flushes_the_same_batch():
    factories.submission(anonymous=True)

    assert flush_deferred_entries() == 1
    assert flush_deferred_entries() == 0


def test_the_daily_flush_is_scheduled(settings):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert flush_deferred_entries.name in scheduled


def test_a_deferred_batch_is_appended_in_a_shuffled_order():
    for n in range(20):
        ledger_defer(kind="test.deferred", payload={"n": n})

    ledger_flush_deferred()

    order = [p["n"] for kind, p in entries() if kind == "test.deferred"]
    assert sorted(order) == list(range(20))
    # One chance in 20! that a fair shuffle keeps the order.
    assert order != list(range(20))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_appends_from_many_sessions_at_once_keep_one_gapless_chain():
    LedgerHead.objects.get_or_create(pk=1)
    writers, appends = 8, 5
    barrier = threading.Barrier(writers, timeout=30)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            for m in range(appends):
                ledger_append(kind="test.concurrent", payload={"writer": n, "m": m})
        except BaseException as error:  # the test reports it
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert list(LedgerEntry.objects.values_list("sequence", flat=True)) == list(
        range(1, writers * appends + 1)
    )
    result = ledger_verify()
    assert result.ok and result.checked == writers * appends


# Verifying ---------------------------------------------------------------------------


def test_an_empty_ledger_verifies():
    result = ledger_verify()

    assert result.ok
    assert (result.checked, result.head_sequence, result.head_hash) == (0, 0, GENESIS_HASH)


def test_a_ledger_built_by_real_work_verifies(monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(votes=1)
    leader = factories.leader()
    concern = factories.open_concern()
    vote(concern, 1)
    publish(concern, leader)
    factories.submission(anonymous=True)
    ledger_flush_deferred()
    chain(3)

    result = ledger_verify()

    head = LedgerHead.objects.get(pk=1)
    assert result.ok
    assert result.checked == LedgerEntry.objects.count() == head.sequence
    assert result.head_hash == head.entry_hash


def test_a_ledger_of_2000_entries_bulk_loaded_verifies():
    last_hash = bulk_chain(2000)

    result = ledger_verify()

    assert result.ok
    assert (result.checked, result.head_sequence, result.head_hash) == (2000, 2000, last_hash)
