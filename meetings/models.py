"""All-hands meetings, their agendas, notes and live questions.

A meeting's `sequence` numbers every change a live client can see: a client that
notices a gap asks for a snapshot, so nobody misses an update.
"""

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from concerns.models import Concern


class MeetingStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"


class Meeting(models.Model):
    title = models.CharField(max_length=140)
    scheduled_start = models.DateTimeField()
    hosts = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    status = models.CharField(
        max_length=8, choices=MeetingStatus.choices, default=MeetingStatus.PLANNED
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    current_item = models.ForeignKey(
        "AgendaItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sequence = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-scheduled_start"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("meetings:detail", kwargs={"meeting_id": self.pk})


class ItemSource(models.TextChoices):
    SUPPORT = "support", "Past the agenda threshold"
    OVERDUE = "overdue", "Response overdue"
    ESCALATED = "escalated", "Rated “not answered”"
    MODERATOR = "moderator", "Added by a moderator"


class AgendaItem(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    concern = models.ForeignKey(
        Concern, null=True, blank=True, on_delete=models.PROTECT, related_name="agenda_items"
    )
    topic = models.CharField(max_length=140, blank=True)
    source = models.CharField(max_length=12, choices=ItemSource.choices)
    time_box_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    notes_html = models.TextField(blank=True)
    discussed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["meeting", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "concern"],
                condition=models.Q(concern__isnull=False),
                name="concern_once_per_agenda",
            ),
            models.CheckConstraint(
                condition=models.Q(concern__isnull=False) | ~models.Q(topic=""),
                name="item_has_concern_or_topic",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return self.concern.title if self.concern_id else self.topic


class QuestionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a moderator"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Not taken"


class LiveQuestion(models.Model):
    """A question asked during a meeting. An anonymous one keeps no person and only
    the date, like an anonymous concern."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=500)
    is_anonymous = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    asked_on = models.DateField()
    status = models.CharField(
        max_length=10, choices=QuestionStatus.choices, default=QuestionStatus.PENDING
    )
    highlighted = models.BooleanField(default=False)
    vote_count = models.PositiveIntegerField(default=0)
    receipt_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    concern = models.OneToOneField(
        Concern, null=True, blank=True, on_delete=models.SET_NULL, related_name="live_question"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_anonymous=False) | models.Q(author__isnull=True),
                name="anonymous_question_has_no_author",
            )
        ]

    def __str__(self) -> str:
        return self.text[:60]


class LiveQuestionVote(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    question = models.ForeignKey(LiveQuestion, on_delete=models.CASCADE, related_name="votes")
    voter_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "voter_hash"], name="one_question_vote")
        ]

    def __str__(self) -> str:
        return "A vote"
