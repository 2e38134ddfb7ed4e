"""Concerns, their status history, votes and the receipt conversation.

Primary keys of anything anonymous work touches are random UUIDs, not sequences: a
sequence would record the order in which people acted, which a copy of the database
could match against who was online when.
"""

import functools
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from accounts.models import Department

_ANY_ID = str(uuid.UUID(int=0))


@functools.lru_cache(maxsize=32)
def _detail_path(script_prefix: str, root_urlconf: str, urlconf) -> str:
    """A concern page's path with _ANY_ID for the id, under the URL configuration and
    script prefix in use (the arguments are the cache's key)."""
    return reverse("concerns:detail", kwargs={"concern_id": _ANY_ID}, urlconf=urlconf)


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    OPEN = "open", "Open"
    RESPONSE_DUE = "response_due", "Response due"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    MERGED = "merged", "Merged"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Statuses anyone signed in can see in lists and on detail pages.
PUBLIC_STATUSES = (
    Status.OPEN,
    Status.RESPONSE_DUE,
    Status.ANSWERED,
    Status.CLOSED,
    Status.MERGED,
)
LISTED_STATUSES = (Status.OPEN, Status.RESPONSE_DUE, Status.ANSWERED, Status.CLOSED)
VOTABLE_STATUSES = (Status.OPEN, Status.RESPONSE_DUE, Status.ANSWERED)
AWAITING_MODERATION = (Status.SUBMITTED, Status.IN_REVIEW)
WITHDRAWABLE_STATUSES = (Status.SUBMITTED, Status.IN_REVIEW, Status.OPEN)


class Concern(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=140)
    body = models.TextField(help_text="Markdown, as the submitter wrote it.")
    body_html = models.TextField(editable=False, help_text="The body rendered and sanitised.")
    tags = models.ManyToManyField(Tag, through="ConcernTag", blank=True, related_name="concerns")
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="concerns"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    is_anonymous = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="concerns",
    )
    # Only the date: a time of day could be matched against who was at their desk.
    submitted_on = models.DateField()
    published_at = models.DateTimeField(null=True, blank=True)
    receipt_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    rejection_reason = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_concerns",
    )
    vote_count = models.PositiveIntegerField(default=0)
    # The duty to answer in writing, once support (or a meeting) created it.
    accountable_leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accountable_concerns",
    )
    response_due_since = models.DateField(null=True, blank=True)
    response_due_on = models.DateField(null=True, blank=True)
    deadline_missed_on = models.DateField(null=True, blank=True)
    escalated_on = models.DateField(null=True, blank=True)
    # An approved anonymous concern waits, still in review, for the next publication
    # batch (services.publication_batch): the moderator who approved it, until then.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # A response became due through support (a vote or ratings): its webhook and the
    # followers' mails wait for the next batch, so they cannot time the deciding act.
    announcement_held = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(is_anonymous=False) | Q(author__isnull=True),
                name="anonymous_concern_has_no_author",
            ),
            models.CheckConstraint(
                condition=Q(is_anonymous=True) | Q(receipt_hash__isnull=True),
                name="only_anonymous_concerns_have_receipts",
            ),
            models.CheckConstraint(
                condition=~Q(status="merged") | Q(merged_into__isnull=False),
                name="merged_concern_names_its_target",
            ),
        ]
        indexes = [
            # The list's sorts, over the listed statuses only: the first page, and any
            # page after a keyset cursor, is a walk down one of these (selectors.py).
            models.Index(
                fields=["-vote_count", "-published_at", "-id"],
                name="concern_listed_top",
                condition=Q(status__in=LISTED_STATUSES),
            ),
            models.Index(
                fields=["-published_at", "-id"],
                name="concern_listed_new",
                condition=Q(status__in=LISTED_STATUSES),
            ),
            models.Index(fields=["status", "submitted_on"], name="concern_status_submitted"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        if self.pk is None:  # not saved: no page to link to (NoReverseMatch)
            return reverse("concerns:detail", kwargs={"concern_id": self.pk})
        # A list shows 25 of these a page; reverse() costs more than the rest of a row.
        return _detail_path(get_script_prefix(), settings.ROOT_URLCONF, get_urlconf()).replace(
            _ANY_ID, str(self.pk)
        )

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_STATUSES

    @property
    def accepts_votes(self) -> bool:
        return self.status in VOTABLE_STATUSES

    @property
    def is_overdue(self) -> bool:
        return (
            self.status == Status.RESPONSE_DUE
            and self.response_due_on is not None
            and self.response_due_on < timezone.localdate()
        )

    @property
    def days_overdue(self) -> int:
        if not self.is_overdue:
            return 0
        return (timezone.localdate() - self.response_due_on).days

    @property
    def can_be_withdrawn(self) -> bool:
        return self.status in WITHDRAWABLE_STATUSES

    @property
    def awaiting_moderation(self) -> bool:
        return self.status in AWAITING_MODERATION


class ConcernTag(models.Model):
    """The join between concerns and tags, keyed by a random UUID: Django's automatic
    join table would number its rows and so record the order of submissions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["concern", "tag"], name="concern_tag_once")]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.concern_id}"


class ConcernEvent(models.Model):
    """One change of a concern's status, kept for its public history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="events")
    sequence = models.PositiveIntegerField()
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    occurred_on = models.DateField()
    # Empty for an anonymous submitter's own actions: they keep the date only.
    occurred_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["concern", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["concern", "sequence"], name="event_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_to_status_display()} on {self.occurred_on:%Y-%m-%d}"


class Vote(models.Model):
    """A vote carries no person: only a keyed hash of (person, concern)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (concern, voter_hash) index serves every look-up
    # by concern, and one index fewer is one write fewer per vote.
    concern = models.ForeignKey(
        Concern, on_delete=models.CASCADE, related_name="votes", db_index=False
    )
    voter_hash = models.CharField(max_length=64)
    cast_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["concern", "voter_hash"], name="one_vote_per_person")
        ]
        indexes = [models.Index(fields=["cast_on", "concern"], name="vote_cast_on")]

    def __str__(self) -> str:
        return "A vote"  # deliberately says nothing about the voter


class Message(models.Model):
    """The conversation between staff and a concern's submitter."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="messages")
    sequence = models.PositiveIntegerField()
    from_submitter = models.BooleanField()
    staff_author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = models.TextField()
    body_html = models.TextField()
    sent_on = models.DateField()
    # Empty for messages from an anonymous submitter.
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["concern", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["concern", "sequence"], name="message_sequence_unique"),
            models.CheckConstraint(
                condition=Q(from_submitter=False) | Q(staff_author__isnull=True),
                name="submitter_message_has_no_staff_author",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.sequence} on {self.concern_id}"


class LeaderRoute(models.Model):
    """Routes concerns that become due to an accountable leader by tag or department."""

    tag = models.ForeignKey(Tag, null=True, blank=True, on_delete=models.CASCADE)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE)
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        limit_choices_to={"role": "leader"},
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(tag__isnull=False) | Q(department__isnull=False),
                name="route_names_tag_or_department",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tag or self.department} → {self.leader}"
