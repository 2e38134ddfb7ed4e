"""Follows, digest preferences and the record of every mail Answerable sends.

A `Delivery` row is written before its mail is sent, unique per (person, key): the key
names a digest period or an event, so a retry, a second beat tick or a restarted
worker finds the row and never mails anyone twice. A `DigestEdition` is what one
period window's digest says, built once when the digests are scheduled and shared
by every mail of that window.
"""

from django.conf import settings
from django.db import models

from concerns.models import Concern


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    NONE = "none", "No digest"


class Preference(models.Model):
    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    digest = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.person}: {self.get_digest_display()}"


class Follow(models.Model):
    """An explicit follow. Voting never follows a concern, and an anonymous submission
    never follows it on anyone's behalf."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows"
    )
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "concern"], name="follow_once")]

    def __str__(self) -> str:
        return f"{self.person} follows {self.concern_id}"


class DigestEdition(models.Model):
    """The shared part of the digests of one window (since, until): the same for
    everyone, so it is built once, stored, and every mail of the window and the "view
    in a browser" page show exactly it. Plain values only: titles, counts, display
    names of leaders and owners, dates; never an author or a submission time."""

    since = models.DateTimeField()
    until = models.DateTimeField()
    content = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Digest {self.since:%Y-%m-%d} to {self.until:%Y-%m-%d}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    # Claimed by a worker and handed to the SMTP server; see notifications.services.
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries"
    )
    key = models.CharField(max_length=120, help_text="The digest period or event it is for.")
    subject = models.CharField(max_length=200)
    context = models.JSONField(default=dict, help_text="Plain values the mail is built from.")
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was queued or claimed, or when its retry is due; the sweep "
        "queues again what is still unsent well after this.",
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["person", "key"], name="one_delivery_per_key")
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="delivery_status"),
            models.Index(fields=["status", "due_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.key} to {self.person_id}: {self.status}"
