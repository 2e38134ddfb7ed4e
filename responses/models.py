"""Written responses of record, their commitments, and staff ratings.

Published versions and commitment updates are append-only: nothing here is edited in
place or deleted (on PostgreSQL a trigger refuses it), and people who signed a record
cannot be deleted (PROTECT), only deactivated.
"""

import datetime
import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from concerns.models import Concern
from ledger.services import canonical_json

SUMMARY_MAX = 280


class Position(models.TextChoices):
    WILL_ACT = "will_act", "We will act"
    PARTLY = "partly", "We will act in part"
    WILL_NOT_ACT = "will_not_act", "We will not act"
    INVESTIGATING = "investigating", "We are investigating"
    NEED_INFORMATION = "need_information", "We need more information"


class Response(models.Model):
    """A concern's written response: a private draft and its published versions."""

    concern = models.OneToOneField(Concern, on_delete=models.PROTECT, related_name="response")
    draft_position = models.CharField(max_length=20, choices=Position.choices, blank=True)
    draft_summary = models.CharField(max_length=SUMMARY_MAX, blank=True)
    draft_details = models.TextField(blank=True)
    draft_updated_at = models.DateTimeField(null=True, blank=True)
    draft_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_published_at = models.DateTimeField(null=True, blank=True)
    # The duty the first version answered, kept because an escalation later sets a
    # new deadline on the concern and must not rewrite how late the first answer was.
    first_due_since = models.DateField(null=True, blank=True)
    first_due_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Response to {self.concern}"

    @property
    def has_draft(self) -> bool:
        return bool(self.draft_summary or self.draft_details)


class ResponseVersion(models.Model):
    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    position = models.CharField(max_length=20, choices=Position.choices)
    summary = models.CharField(max_length=SUMMARY_MAX)
    details = models.TextField()
    details_html = models.TextField()
    change_reason = models.TextField(blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="published_versions"
    )
    # The signature as it was: a later change of name does not rewrite the record.
    signed_as = models.CharField(max_length=200)
    published_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    ledger_sequence = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["response", "number"]
        constraints = [
            models.UniqueConstraint(fields=["response", "number"], name="version_number_unique")
        ]

    def __str__(self) -> str:
        return f"Version {self.number} of {self.response}"

    def content(self) -> dict:
        return version_content(
            concern_id=self.response.concern_id,
            number=self.number,
            position=self.position,
            summary=self.summary,
            details=self.details,
            change_reason=self.change_reason,
            signed_as=self.signed_as,
            published_at=self.published_at,
        )

    @property
    def content_matches(self) -> bool:
        return content_hash(self.content()) == self.content_hash


def version_content(
    *, concern_id, number, position, summary, details, change_reason, signed_as, published_at
) -> dict:
    return {
        "concern": str(concern_id),
        "version": number,
        "position": position,
        "summary": summary,
        "details": details,
        "change_reason": change_reason,
        "signed_as": signed_as,
        "published_at": published_at.astimezone(datetime.UTC).isoformat(),
    }


def content_hash(content: dict) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


class CommitmentStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    MISSED = "missed", "Missed"
    DROPPED = "dropped", "Dropped"


OPEN_COMMITMENT_STATUSES = (CommitmentStatus.PLANNED, CommitmentStatus.IN_PROGRESS)


class Commitment(models.Model):
    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="commitments")
    description = models.CharField(max_length=500)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commitments"
    )
    due_on = models.DateField()
    status = models.CharField(
        max_length=16, choices=CommitmentStatus.choices, default=CommitmentStatus.PLANNED
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["due_on", "pk"]

    def __str__(self) -> str:
        return self.description

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_COMMITMENT_STATUSES

    @property
    def is_late(self) -> bool:
        return self.is_open and self.due_on < timezone.localdate()


class CommitmentUpdate(models.Model):
    """A progress update: appended, never edited."""

    commitment = models.ForeignKey(Commitment, on_delete=models.PROTECT, related_name="updates")
    from_status = models.CharField(max_length=16, choices=CommitmentStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=CommitmentStatus.choices)
    note = models.TextField(blank=True)
    # Empty when the system marked the commitment missed.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    ledger_sequence = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["commitment", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.commitment}: {self.get_to_status_display()}"


class RatingValue(models.TextChoices):
    ANSWERED = "answered", "It answered the concern"
    PARTLY = "partly", "It partly answered it"
    NOT_ANSWERED = "not_answered", "It did not answer it"


class Rating(models.Model):
    """Whether a response version answered the concern: no person, only a keyed hash."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(ResponseVersion, on_delete=models.PROTECT, related_name="ratings")
    rater_hash = models.CharField(max_length=64)
    value = models.CharField(max_length=16, choices=RatingValue.choices)
    rated_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "rater_hash"], name="one_rating_per_person")
        ]

    def __str__(self) -> str:
        return "A rating"  # deliberately says nothing about the rater
