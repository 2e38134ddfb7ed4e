"""The hash-chained ledger of accountable records.

Each entry's hash covers its sequence number, kind, canonical JSON payload and the
previous entry's hash, so changing, removing, inserting or reordering any entry breaks
every hash after it. On PostgreSQL a trigger refuses UPDATE and DELETE outright.
"""

from django.db import models

GENESIS_HASH = "0" * 64


class LedgerEntry(models.Model):
    sequence = models.PositiveBigIntegerField(primary_key=True)
    kind = models.CharField(max_length=40)
    payload = models.TextField(help_text="Canonical JSON: sorted keys, no spaces, UTF-8.")
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)
    # Only the date: entries about anonymous work must not carry a time of day.
    recorded_on = models.DateField()

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind}"


class LedgerHead(models.Model):
    """One row, locked by every append so that entries get gapless sequence numbers."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head #{self.sequence}"


class DeferredEntry(models.Model):
    """An entry about an anonymous submitter's own action, held back and appended in a
    shuffled daily batch, so the ledger's order cannot date the action."""

    id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=40)
    payload = models.TextField()
    recorded_on = models.DateField()

    def __str__(self) -> str:
        return f"deferred {self.kind}"


class PublishedHead(models.Model):
    """A head of the ledger published on a schedule (and in every digest). Anyone who
    noted one can later prove the ledger still extends it."""

    sequence = models.PositiveBigIntegerField(unique=True)
    entry_hash = models.CharField(max_length=64)
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return f"head #{self.sequence} published {self.published_at:%Y-%m-%d}"
