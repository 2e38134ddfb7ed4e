"""Tampering with the ledger is detected and located: verification names the entry
where the chain breaks. On PostgreSQL each test first plays the table's owner and
switches off the trigger that would otherwise refuse the tampering outright."""

import pytest

from ledger.models import LedgerEntry, LedgerHead
from ledger.selectors import Anchor, ledger_verify
from ledger.services import canonical_json, entry_hash
from tests.ledger import bulk_chain, chain, entry, head, tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    """Six entries appended through the service."""
    chain(6)
    assert ledger_verify().ok
    return head()


def rewrite(sequence: int, **columns) -> None:
    assignments = ", ".join(f"{column} = %s" for column in columns)
    tamper(
        f"UPDATE ledger_ledgerentry SET {assignments} WHERE sequence = %s",
        (*columns.values(), sequence),
    )


def forge(sequence: int, *, kind: str, payload: str, previous_hash: str) -> str:
    """Writes an entry that is consistent in itself, as a careful forger would."""
    digest = entry_hash(sequence=sequence, kind=kind, payload=payload, previous_hash=previous_hash)
    tamper(
        "INSERT INTO ledger_ledgerentry"
        " (sequence, kind, payload, previous_hash, entry_hash, recorded_on)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (sequence, kind, payload, previous_hash, digest, entry(1).recorded_on),
    )
    return digest


def rehash_from(sequence: int) -> str:
    """Recomputes every hash from `sequence` to the end, as a forger who wants the
    chain to hold together would, and returns the new last hash."""
    previous = entry(sequence - 1).entry_hash if sequence > 1 else "0" * 64
    for row in LedgerEntry.objects.filter(sequence__gte=sequence).order_by("sequence"):
        digest = entry_hash(
            sequence=row.sequence, kind=row.kind, payload=row.payload, previous_hash=previous
        )
        rewrite(row.sequence, previous_hash=previous, entry_hash=digest)
        previous = digest
    return previous


def rewrite_head(sequence: int, digest: str) -> None:
    LedgerHead.objects.filter(pk=1).update(sequence=sequence, entry_hash=digest)


def broken(anchor: Anchor | None = None) -> tuple[int | None, str]:
    result = ledger_verify(anchor=anchor)
    assert not result.ok
    return result.broken_sequence, result.problem


ALTERED = "Entry #3 was altered: its contents no longer match its hash."


# Changing an entry -------------------------------------------------------------------


def test_an_edited_payload_is_located(ledger):
    rewrite(3, payload=canonical_json({"n": 33}))

    assert broken() == (3, ALTERED)


def test_an_edited_kind_is_located(ledger):
    rewrite(3, kind="response.published")

    assert broken() == (3, ALTERED)


def test_an_edited_hash_is_located(ledger):
    rewrite(3, entry_hash="f" * 64)

    assert broken() == (3, ALTERED)


def test_an_edited_link_to_the_previous_entry_is_located(ledger):
    rewrite(3, previous_hash="f" * 64)

    sequence, problem = broken()
    assert sequence == 3
    assert problem.startswith("Entry #3 does not follow entry #2")


def test_a_payload_edited_with_its_own_hash_recomputed_breaks_the_next_link(ledger):
    payload = canonical_json({"n": 33})
    previous = entry(3).previous_hash
    rewrite(
        3,
        payload=payload,
        entry_hash=entry_hash(
            sequence=3, kind="test.entry", payload=payload, previous_hash=previous
        ),
    )

    sequence, problem = broken()
    assert sequence == 4
    assert problem.startswith("Entry #4 does not follow entry #3")


def test_a_payload_respelt_with_the_same_meaning_is_located(ledger):
    # Same JSON value, other spelling, hash recomputed: only canonical JSON is accepted,
    # so nobody can hide data in white space.
    payload = '{"n": 3}'
    rewrite(
        3,
        payload=payload,
        entry_hash=entry_hash(
            sequence=3, kind="test.entry", payload=payload, previous_hash=entry(3).previous_hash
        ),
    )

    assert broken() == (3, ALTERED)


def test_rewriting_the_whole_chain_after_an_edit_is_caught_by_a_published_head(ledger):
    published = Anchor(*ledger)
    rewrite(3, payload=canonical_json({"n": 33}))
    rewrite_head(6, rehash_from(3))
    assert ledger_verify().ok  # consistent in itself: only an outside copy can tell

    sequence, problem = broken(published)

    assert sequence == 6
    assert problem == "Entry #6 differs from the head published earlier: history was rewritten."


# Removing, reordering, inserting -----------------------------------------------------


def test_an_entry_deleted_from_the_middle_is_located(ledger):
    tamper("DELETE FROM ledger_ledgerentry WHERE sequence = 3")

    assert broken() == (3, "Entry #3 is missing: the next stored entry is #4.")


def test_two_entries_whose_contents_were_swapped_are_located(ledger):
    second, third = entry(2), entry(3)
    rewrite(2, kind="test.swapped", payload=third.payload)
    rewrite(3, kind=second.kind, payload=second.payload)

    assert broken() == (2, "Entry #2 was altered: its contents no longer match its hash.")


def test_two_entries_whose_sequences_were_swapped_are_located(ledger):
    tamper("UPDATE ledger_ledgerentry SET sequence = 1000 WHERE sequence = 2")
    tamper("UPDATE ledger_ledgerentry SET sequence = 2 WHERE sequence = 3")
    tamper("UPDATE ledger_ledgerentry SET sequence = 3 WHERE sequence = 1000")

    sequence, problem = broken()
    assert sequence == 2
    assert problem.startswith("Entry #2 does not follow entry #1")


def test_an_entry_inserted_in_the_middle_is_located(ledger):
    for sequence in (6, 5, 4):
        tamper(
            "UPDATE ledger_ledgerentry SET sequence = %s WHERE sequence = %s",
            (sequence + 1, sequence),
        )
    forge(4, kind="test.entry", payload='{"n":99}', previous_hash=entry(3).entry_hash)

    sequence, problem = broken()
    assert sequence == 5
    assert problem.startswith("Entry #5 does not follow entry #4")


def test_an_entry_forged_after_the_head_is_located(ledger):
    forge(7, kind="test.entry", payload='{"n":7}', previous_hash=entry(6).entry_hash)

    sequence, problem = broken()

    # Entry #7 was never appended through the ledger: the verdict must name it and
    # must not claim that something was removed.
    assert sequence == 7
    assert "#7" in problem
    assert "removed" not in problem


def test_the_last_entry_rewritten_with_a_fresh_hash_is_located_by_the_head(ledger):
    payload = canonical_json({"n": 66})
    rewrite(
        6,
        payload=payload,
        entry_hash=entry_hash(
            sequence=6, kind="test.entry", payload=payload, previous_hash=entry(6).previous_hash
        ),
    )

    sequence, problem = broken()

    assert sequence == 6
    assert "#6" in problem
    assert "removed" not in problem


# Truncating --------------------------------------------------------------------------


def test_entries_removed_from_the_end_are_detected_by_the_head(ledger):
    tamper("DELETE FROM ledger_ledgerentry WHERE sequence > 4")

    assert broken() == (
        5,
        "The ledger ends at entry #4, but its recorded head is entry #6: "
        "entries were removed from the end.",
    )


def test_a_truncation_that_also_rewrote_the_head_is_caught_by_a_published_head(ledger):
    published = Anchor(*ledger)
    tamper("DELETE FROM ledger_ledgerentry WHERE sequence > 4")
    rewrite_head(4, entry(4).entry_hash)
    assert ledger_verify().ok  # consistent in itself: only an outside copy can tell

    assert broken(published) == (
        5,
        "The ledger ends at entry #4, but head #6 was published earlier: "
        "entries were removed from the end.",
    )


def test_a_published_head_that_the_ledger_still_extends_verifies(ledger):
    sequence, digest = ledger
    chain(2)

    result = ledger_verify(anchor=Anchor(sequence, digest))

    assert result.ok
    assert result.checked == 8


def test_a_published_head_with_another_hash_is_reported(ledger):
    assert broken(Anchor(4, "a" * 64)) == (
        4,
        "Entry #4 differs from the head published earlier: history was rewritten.",
    )


# A long ledger -----------------------------------------------------------------------


def test_a_change_deep_in_a_2000_entry_ledger_is_located():
    bulk_chain(2000)
    rewrite(1500, payload=canonical_json({"n": 15000}))

    assert broken() == (1500, "Entry #1500 was altered: its contents no longer match its hash.")
