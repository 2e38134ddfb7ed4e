from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.cache import cache
from django.core.validators import MinValueValidator
from django.db import models, transaction

ORGANISATION_CACHE_KEY = "organisation:settings"
ORGANISATION_CACHE_SECONDS = 300


class Department(models.Model):
    name = models.CharField(max_length=120, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    MODERATOR = "moderator", "Moderator"
    LEADER = "leader", "Leader"
    ADMIN = "admin", "Admin"


class PersonManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        # Someone who can administer the site must also hold the admin role in the app.
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EMPLOYEE)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )

    objects = PersonManager()

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def can_moderate(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def is_leader(self) -> bool:
        return self.role == Role.LEADER

    @property
    def can_message_submitters(self) -> bool:
        return self.role in (Role.MODERATOR, Role.LEADER, Role.ADMIN)


class Organisation(models.Model):
    """The one organisation this installation serves, with the admin's settings."""

    name = models.CharField(max_length=120, default="Our organisation")
    public_form_enabled = models.BooleanField(
        "anonymous form open without signing in",
        default=False,
        help_text="Lets staff who will not trust a signed-in session raise an anonymous "
        "concern with the organisation's access phrase instead.",
    )
    access_phrase_hash = models.CharField(max_length=256, blank=True, editable=False)
    response_vote_threshold = models.PositiveIntegerField(
        "votes needed for a written response",
        default=10,
        validators=[MinValueValidator(1)],
    )
    response_days = models.PositiveIntegerField(
        "days allowed to respond", default=14, validators=[MinValueValidator(1)]
    )
    agenda_vote_threshold = models.PositiveIntegerField(
        "votes needed to propose for the all-hands agenda",
        default=25,
        validators=[MinValueValidator(1)],
    )

    class Meta:
        verbose_name = "organisation settings"
        verbose_name_plural = "organisation settings"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        cache.delete(ORGANISATION_CACHE_KEY)
        transaction.on_commit(lambda: cache.delete(ORGANISATION_CACHE_KEY))

    @classmethod
    def current(cls) -> "Organisation":
        organisation, _ = cls.objects.get_or_create(pk=1)
        return organisation

    @classmethod
    def cached(cls) -> "Organisation":
        """The settings for hot paths (every vote reads the response threshold): a
        cache read instead of a database round trip. Saving the settings forgets the
        copy once the change commits; a stale copy lives at most CACHE_SECONDS."""
        organisation = cache.get(ORGANISATION_CACHE_KEY)
        if organisation is None:
            organisation = cls.current()
            cache.set(ORGANISATION_CACHE_KEY, organisation, timeout=ORGANISATION_CACHE_SECONDS)
        return organisation

    def set_access_phrase(self, phrase: str) -> None:
        self.access_phrase_hash = make_password(phrase) if phrase else ""

    def access_phrase_matches(self, phrase: str) -> bool:
        return bool(self.access_phrase_hash) and check_password(phrase, self.access_phrase_hash)


class ApiToken(models.Model):
    """A personal API token: shown once, stored only as a SHA-256 hash (it has 256
    bits of entropy, so the hash cannot be reversed), revocable."""

    person = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
