"""Read paths for concerns. Each runs a fixed number of queries, whatever the number
of concerns, votes or tags (the tests pin the counts)."""

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from concerns.anonymity import voter_hash
from concerns.errors import ConcernNotFound
from concerns.models import (
    AWAITING_MODERATION,
    LISTED_STATUSES,
    PUBLIC_STATUSES,
    VOTABLE_STATUSES,
    Concern,
    ConcernEvent,
    Message,
    Status,
    Tag,
    Vote,
)

SORTS = {
    "top": "Most supported",
    "new": "Newest",
    "trending": "Trending this week",
    "relevant": "Best match",
}
TRENDING_DAYS = 7
SIMILAR_LIMIT = 5
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ConcernFilters:
    sort: str = "top"
    status: str = ""
    tag: str = ""
    q: str = ""
    page: int = 1


@dataclass
class ConcernDetail:
    concern: Concern
    events: list[ConcernEvent]
    merged_from: list[Concern]
    has_voted: bool
    can_vote: bool
    can_see_conversation: bool
    is_following: bool
    messages: list[Message] = field(default_factory=list)


def _department_size() -> Subquery:
    members = (
        User.objects.filter(department=OuterRef("department"), is_active=True)
        .order_by()
        .values("department")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(members, output_field=IntegerField()), Value(0))


def _show_departments(concerns) -> None:
    """Names a concern's department only where the group is large enough that naming
    it cannot point at a person."""
    for concern in concerns:
        large = getattr(concern, "department_size", 0) >= settings.ANONYMITY_MIN_GROUP_SIZE
        concern.shown_department = concern.department if large else None


def _voted_ids(viewer: User, concern_ids: list) -> set:
    if not viewer.is_authenticated or not concern_ids:
        return set()
    hashes = {voter_hash(person_id=viewer.pk, concern_id=cid): cid for cid in concern_ids}
    found = Vote.objects.filter(concern_id__in=concern_ids, voter_hash__in=list(hashes))
    return {hashes[h] for h in found.values_list("voter_hash", flat=True)}


def _search_terms(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)][:12]


def _search(queryset: QuerySet, text: str, *, any_word: bool = False) -> QuerySet:
    """PostgreSQL full-text search on the indexed `search_vector` column, with a plain
    substring search as the fallback on SQLite."""
    terms = _search_terms(text)
    if any_word:
        terms = [t for t in terms if len(t) >= 3]
        if not terms:
            return queryset.none().annotate(rank=Value(0.0, output_field=FloatField()))
    if not terms:
        return queryset.annotate(rank=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        if any_word:
            query_sql = "to_tsquery('english', %s)"
            query_text = " | ".join(f"{t}:*" for t in terms)
        else:
            query_sql = "websearch_to_tsquery('english', %s)"
            query_text = text
        # query_sql is one of two constants above; the user's text is a parameter.
        return queryset.filter(
            RawSQL(  # noqa: S611
                f"concerns_concern.search_vector @@ {query_sql}",
                (query_text,),
                output_field=BooleanField(),
            )
        ).annotate(
            rank=RawSQL(  # noqa: S611
                f"ts_rank(concerns_concern.search_vector, {query_sql})",
                (query_text,),
                output_field=FloatField(),
            )
        )
    matches = Q() if not any_word else Q(pk__in=[])
    for term in terms:
        word = Q(title__icontains=term) | Q(body__icontains=term)
        matches = (matches | word) if any_word else (matches & word)
    return queryset.filter(matches).annotate(rank=Value(0.0, output_field=FloatField()))


SORT_ORDERING = {
    "top": ("-vote_count", "-published_at", "pk"),
    "new": ("-published_at", "pk"),
    "trending": ("-recent_votes", "-vote_count", "pk"),
    "relevant": ("-rank", "-vote_count", "pk"),
}


def concern_queryset(*, filters: ConcernFilters) -> tuple[QuerySet, tuple[str, ...]]:
    """The listed concerns matching the filters, with the ordering of the chosen sort.
    Shared by the list page and the API, which page it differently."""
    statuses = [filters.status] if filters.status in LISTED_STATUSES else list(LISTED_STATUSES)
    concerns = (
        Concern.objects.filter(status__in=statuses)
        .select_related("department")
        .annotate(department_size=_department_size())
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .defer("body", "body_html")
    )
    if filters.tag:
        concerns = concerns.filter(tags__slug=filters.tag)
    if filters.q.strip():
        concerns = _search(concerns, filters.q)
    sort = filters.sort if filters.sort in SORTS else "top"
    if sort == "relevant" and not filters.q.strip():
        sort = "top"
    if sort == "trending":
        since = timezone.localdate() - timedelta(days=TRENDING_DAYS)
        recent = (
            Vote.objects.filter(concern=OuterRef("pk"), cast_on__gte=since)
            .order_by()
            .values("concern")
            .annotate(n=Count("pk"))
            .values("n")
        )
        concerns = concerns.annotate(
            recent_votes=Coalesce(Subquery(recent, output_field=IntegerField()), Value(0))
        )
    ordering = SORT_ORDERING[sort]
    return concerns.order_by(*ordering), ordering


def concern_rows_for(viewer: User, rows: list[Concern]) -> list[Concern]:
    """Marks what the viewer voted for and which departments may be shown: one query."""
    voted = _voted_ids(viewer, [c.pk for c in rows])
    for concern in rows:
        concern.viewer_has_voted = concern.pk in voted
    _show_departments(rows)
    return rows


def concern_list(*, viewer: User, filters: ConcernFilters) -> Page:
    concerns, _ordering = concern_queryset(filters=filters)
    page = Paginator(concerns, settings.CONCERNS_PER_PAGE).get_page(filters.page)
    page.object_list = concern_rows_for(viewer, list(page.object_list))
    return page


def _can_see_unpublished(viewer: User, concern: Concern) -> bool:
    if viewer.can_moderate:
        return True
    return not concern.is_anonymous and concern.author_id == viewer.pk


def concern_detail(*, viewer: User, concern_id) -> ConcernDetail:
    concern = (
        Concern.objects.select_related("department", "author", "merged_into")
        .annotate(department_size=_department_size())
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .filter(pk=concern_id)
        .first()
    )
    if concern is None or (
        concern.status not in PUBLIC_STATUSES and not _can_see_unpublished(viewer, concern)
    ):
        raise ConcernNotFound("That concern does not exist or is not public.")
    return _detail_for(concern, viewer=viewer)


def _detail_for(concern: Concern, *, viewer: User | None) -> ConcernDetail:
    _show_departments([concern])
    events = list(concern.events.select_related("actor").order_by("sequence"))
    merged_from = list(concern.merged_concerns.order_by("title").only("pk", "title", "status"))
    is_author = viewer is not None and not concern.is_anonymous and concern.author_id == viewer.pk
    can_see_conversation = viewer is None or is_author or viewer.can_message_submitters
    messages = (
        list(concern.messages.select_related("staff_author").order_by("sequence"))
        if can_see_conversation
        else []
    )
    has_voted = viewer is not None and concern.pk in _voted_ids(viewer, [concern.pk])
    is_following = viewer is not None and concern.follows.filter(person=viewer).exists()
    return ConcernDetail(
        concern=concern,
        events=events,
        merged_from=merged_from,
        has_voted=has_voted,
        can_vote=viewer is not None and concern.status in VOTABLE_STATUSES,
        can_see_conversation=can_see_conversation,
        is_following=is_following,
        messages=messages,
    )


def receipt_detail(*, concern: Concern) -> ConcernDetail:
    """What the holder of a receipt sees: status, reason, history and conversation.
    There is no viewer: the receipt is the only credential."""
    concern = (
        Concern.objects.select_related("department", "merged_into")
        .annotate(department_size=_department_size())
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .get(pk=concern.pk)
    )
    return _detail_for(concern, viewer=None)


def moderation_queue() -> list[Concern]:
    concerns = list(
        Concern.objects.filter(status__in=AWAITING_MODERATION)
        .select_related("department")
        .annotate(department_size=_department_size())
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .order_by("submitted_on", "title", "pk")
    )
    today = timezone.localdate()
    for concern in concerns:
        concern.age_days = (today - concern.submitted_on).days
    _show_departments(concerns)
    return concerns


def merge_targets(*, excluding: Concern, text: str = "") -> list[Concern]:
    """Ten open concerns a duplicate could be merged into: those sharing words with it
    first, then the most supported. One query."""
    candidates = Concern.objects.filter(status__in=VOTABLE_STATUSES).exclude(pk=excluding.pk)
    similar = _search(candidates, text or excluding.title, any_word=True).values("pk")
    ranked = candidates.annotate(
        similar=Case(When(pk__in=similar, then=Value(1)), default=Value(0))
    ).order_by("-similar", "-vote_count", "pk")
    return list(ranked.only("pk", "title", "vote_count", "status")[:10])


def concern_similar(*, text: str) -> list[Concern]:
    """Up to five open concerns like the one being typed, so the person can support
    an existing concern instead of raising a duplicate."""
    if len(text.strip()) < 4:
        return []
    candidates = Concern.objects.filter(status__in=VOTABLE_STATUSES)
    ranked = _search(candidates, text, any_word=True).order_by("-rank", "-vote_count", "pk")
    return list(ranked.only("pk", "title", "vote_count", "status")[:SIMILAR_LIMIT])


def concerns_by_author(*, author: User) -> list[Concern]:
    return list(
        Concern.objects.filter(author=author, is_anonymous=False)
        .order_by("-submitted_on", "title")
        .only("pk", "title", "status", "submitted_on", "vote_count", "rejection_reason")
    )


def tags_all() -> list[Tag]:
    return list(Tag.objects.order_by("name"))


def status_choices() -> list[tuple[str, str]]:
    return [(s, Status(s).label) for s in LISTED_STATUSES]
