"""Builders for the ledger tests: a chain appended through the service, and a way to
play someone who can write to the database directly."""

import datetime
import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from ledger.models import GENESIS_HASH, LedgerEntry, LedgerHead
from ledger.services import canonical_json, entry_hash, ledger_append

LEDGER_TRIGGER = ("ledger_ledgerentry", "ledger_entry_append_only")


@contextmanager
def guard_off(table: str, trigger: str) -> Iterator[None]:
    """On PostgreSQL a trigger refuses every rewrite. A tamper test plays the table's
    owner, who can switch it off first; on SQLite there is nothing to switch off."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # Foreign keys are checked at commit; ALTER TABLE refuses to run while such
        # checks are pending, so run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def tamper(sql: str, params: tuple = ()) -> None:
    with guard_off(*LEDGER_TRIGGER), connection.cursor() as cursor:
        cursor.execute(sql, params)


def chain(length: int) -> list[LedgerEntry]:
    """Appends `length` entries through the service, the way the product appends."""
    return [ledger_append(kind="test.entry", payload={"n": n}) for n in range(1, length + 1)]


def bulk_chain(length: int) -> str:
    """Loads a long chain in one go, hashed as the service hashes, and returns the
    hash of its last entry."""
    previous, rows = GENESIS_HASH, []
    for sequence in range(1, length + 1):
        payload = canonical_json({"n": sequence})
        digest = entry_hash(
            sequence=sequence, kind="test.bulk", payload=payload, previous_hash=previous
        )
        rows.append(
            LedgerEntry(
                sequence=sequence,
                kind="test.bulk",
                payload=payload,
                previous_hash=previous,
                entry_hash=digest,
                recorded_on=datetime.date(2031, 1, 1),
            )
        )
        previous = digest
    LedgerEntry.objects.bulk_create(rows, batch_size=500)
    LedgerHead.objects.update_or_create(pk=1, defaults={"sequence": length, "entry_hash": previous})
    return previous


def entry(sequence: int) -> LedgerEntry:
    return LedgerEntry.objects.get(sequence=sequence)


def payload(sequence: int) -> dict:
    return json.loads(entry(sequence).payload)


def head() -> tuple[int, str]:
    row = LedgerHead.objects.get(pk=1)
    return row.sequence, row.entry_hash
