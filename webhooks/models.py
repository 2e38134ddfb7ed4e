"""Signed webhooks, delivered from an outbox.

An `OutboxEvent` and one `WebhookDelivery` per subscribed endpoint are written in the
same transaction as the change that caused them, so nothing is lost when Redis or the
receiver is down: a periodic sweep sends whatever is still pending.
"""

import uuid

from django.db import models


class EventType(models.TextChoices):
    CONCERN_PUBLISHED = "concern.published", "A concern was published"
    CONCERN_RESPONSE_DUE = "concern.response_due", "A written response became due"
    CONCERN_OVERDUE = "concern.overdue", "A response deadline was missed"
    RESPONSE_PUBLISHED = "response.published", "A response version was published"
    COMMITMENT_UPDATED = "commitment.updated", "A commitment changed"
    MEETING_STARTED = "meeting.started", "A meeting started"
    MEETING_ENDED = "meeting.ended", "A meeting ended"
    LEDGER_APPENDED = "ledger.appended", "An entry was appended to the ledger"


class Endpoint(models.Model):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(
        max_length=200, help_text="Shared with the receiver; signs every delivery (HMAC-SHA256)."
    )
    events = models.JSONField(default=list, help_text="The event types it receives.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.description or self.url


class OutboxEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self) -> str:
        return f"{self.event.type} to {self.endpoint}: {self.status}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "at"]

    def __str__(self) -> str:
        return f"attempt at {self.at:%Y-%m-%d %H:%M:%S}: {self.response_code or self.error}"
