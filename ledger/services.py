"""Appending to the ledger. Callers append inside their own transaction, so an entry
exists exactly when the change it records was committed."""

import hashlib
import json
import random
import uuid

from django.db import transaction
from django.utils import timezone

from ledger.models import DeferredEntry, LedgerEntry, LedgerHead, PublishedHead
from webhooks.models import EventType
from webhooks.services import webhook_emit


def canonical_json(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(*, sequence: int, kind: str, payload: str, previous_hash: str) -> str:
    material = f"{sequence}\n{kind}\n{previous_hash}\n{payload}".encode()
    return hashlib.sha256(material).hexdigest()


def _append(*, kind: str, payload: str, recorded_on) -> LedgerEntry:
    # get_or_create: a test database flush empties the table the migration filled.
    head, _ = LedgerHead.objects.select_for_update().get_or_create(pk=1)
    sequence = head.sequence + 1
    digest = entry_hash(
        sequence=sequence, kind=kind, payload=payload, previous_hash=head.entry_hash
    )
    entry = LedgerEntry.objects.create(
        sequence=sequence,
        kind=kind,
        payload=payload,
        previous_hash=head.entry_hash,
        entry_hash=digest,
        recorded_on=recorded_on,
    )
    head.sequence, head.entry_hash = sequence, digest
    head.save(update_fields=["sequence", "entry_hash"])
    webhook_emit(
        type=EventType.LEDGER_APPENDED,
        payload={"sequence": sequence, "kind": kind, "entry_hash": digest},
    )
    return entry


@transaction.atomic
def ledger_append(*, kind: str, payload: dict) -> LedgerEntry:
    return _append(kind=kind, payload=canonical_json(payload), recorded_on=timezone.localdate())


@transaction.atomic
def ledger_defer(*, kind: str, payload: dict) -> DeferredEntry:
    """Holds back an entry about an anonymous submitter's own action until the next
    batch, so its place in the chain says nothing about when it happened."""
    return DeferredEntry.objects.create(
        id=uuid.uuid4(),
        kind=kind,
        payload=canonical_json(payload),
        recorded_on=timezone.localdate(),
    )


@transaction.atomic
def ledger_flush_deferred() -> int:
    """Appends every held-back entry in a shuffled order. Safe to run twice: an entry
    is removed from the queue in the same transaction that appends it."""
    LedgerHead.objects.select_for_update().get_or_create(pk=1)
    pending = list(DeferredEntry.objects.select_for_update())
    random.SystemRandom().shuffle(pending)
    today = timezone.localdate()
    for deferred in pending:
        _append(kind=deferred.kind, payload=deferred.payload, recorded_on=today)
    DeferredEntry.objects.filter(pk__in=[d.pk for d in pending]).delete()
    return len(pending)


@transaction.atomic
def ledger_head_publish() -> PublishedHead | None:
    """Publishes the current head. Safe to run twice: a head is published once."""
    head, _ = LedgerHead.objects.get_or_create(pk=1)
    if head.sequence == 0:
        return None
    published, _ = PublishedHead.objects.get_or_create(
        sequence=head.sequence,
        defaults={"entry_hash": head.entry_hash, "published_at": timezone.now()},
    )
    return published
