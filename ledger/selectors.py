"""Reading and verifying the ledger."""

import json
from dataclasses import dataclass

from django.core.paginator import Page, Paginator

from ledger.models import GENESIS_HASH, LedgerEntry, LedgerHead, PublishedHead
from ledger.services import canonical_json, entry_hash


@dataclass(frozen=True)
class Anchor:
    """A head published earlier (in a digest, say): the ledger must still extend it."""

    sequence: int
    entry_hash: str

    @classmethod
    def parse(cls, text: str) -> "Anchor":
        sequence, _, digest = text.strip().partition(":")
        digest = digest.strip().lower()
        if not sequence.strip().isdigit() or len(digest) != 64 or not _is_hex(digest):
            raise ValueError("A head is written SEQUENCE:HASH, e.g. 42:9f86d08…, 64 hex digits.")
        return cls(int(sequence), digest)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_sequence: int
    head_hash: str
    broken_sequence: int | None = None
    problem: str = ""


def published_heads(*, limit: int = 10) -> list[PublishedHead]:
    return list(PublishedHead.objects.order_by("-sequence")[:limit])


def ledger_head() -> LedgerHead:
    return LedgerHead.objects.filter(pk=1).first() or LedgerHead(pk=1)


ENTRIES_PER_PAGE = 50


def ledger_page(*, page: int) -> Page:
    return Paginator(LedgerEntry.objects.order_by("-sequence"), ENTRIES_PER_PAGE).get_page(page)


def ledger_page_of(*, sequence: int) -> int:
    """The page (newest first) that shows the entry with this sequence number."""
    newer = LedgerEntry.objects.filter(sequence__gt=sequence).count()
    return newer // ENTRIES_PER_PAGE + 1


def _broken(checked: int, sequence: int, problem: str, last: tuple[int, str]) -> Verification:
    return Verification(False, checked, last[0], last[1], sequence, problem)


def ledger_verify(*, anchor: Anchor | None = None) -> Verification:
    """Walks the whole chain once and names the first entry that breaks it."""
    if anchor is not None and anchor.sequence == 0:
        # A head noted from the empty ledger: every intact ledger extends it.
        if anchor.entry_hash != GENESIS_HASH:
            return _broken(0, 0, "Head #0 can only be the empty ledger's hash, 000…0.", (0, ""))
        anchor = None
    expected_sequence, previous = 1, GENESIS_HASH
    anchor_seen = anchor is None
    rows = LedgerEntry.objects.order_by("sequence").values_list(
        "sequence", "kind", "payload", "previous_hash", "entry_hash"
    )
    checked = 0
    for sequence, kind, payload, previous_hash, stored_hash in rows.iterator(chunk_size=5000):
        last = (expected_sequence - 1, previous)
        if sequence != expected_sequence:
            return _broken(
                checked,
                expected_sequence,
                f"Entry #{expected_sequence} is missing: the next stored entry is #{sequence}.",
                last,
            )
        if previous_hash != previous:
            return _broken(
                checked,
                sequence,
                f"Entry #{sequence} does not follow entry #{sequence - 1}: its previous hash "
                "does not match (entries were removed, inserted or reordered).",
                last,
            )
        if entry_hash(
            sequence=sequence, kind=kind, payload=payload, previous_hash=previous_hash
        ) != stored_hash or not _is_canonical(payload):
            return _broken(
                checked,
                sequence,
                f"Entry #{sequence} was altered: its contents no longer match its hash.",
                last,
            )
        if anchor is not None and sequence == anchor.sequence:
            if stored_hash != anchor.entry_hash:
                return _broken(
                    checked,
                    sequence,
                    f"Entry #{sequence} differs from the head published earlier: "
                    "history was rewritten.",
                    last,
                )
            anchor_seen = True
        previous = stored_hash
        expected_sequence += 1
        checked += 1
    last = (expected_sequence - 1, previous)
    if not anchor_seen:
        return _broken(
            checked,
            last[0] + 1,
            f"The ledger ends at entry #{last[0]}, but head #{anchor.sequence} was published "
            "earlier: entries were removed from the end.",
            last,
        )
    head = LedgerHead.objects.filter(pk=1).first()
    if head is not None and head.sequence < last[0]:
        return _broken(
            checked,
            head.sequence + 1,
            f"Entry #{head.sequence + 1} comes after the recorded head, entry "
            f"#{head.sequence}: it was not appended through the ledger.",
            last,
        )
    if head is not None and head.sequence == last[0] and head.entry_hash != last[1]:
        return _broken(
            checked,
            last[0],
            f"Entry #{last[0]} differs from the recorded head: it was rewritten.",
            last,
        )
    if head is not None and (head.sequence, head.entry_hash) != last:
        return _broken(
            checked,
            last[0] + 1,
            f"The ledger ends at entry #{last[0]}, but its recorded head is entry "
            f"#{head.sequence}: entries were removed from the end.",
            last,
        )
    return Verification(True, checked, last[0], last[1])


def _is_canonical(payload: str) -> bool:
    try:
        return canonical_json(json.loads(payload)) == payload
    except ValueError:
        return False
