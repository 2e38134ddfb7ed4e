"""Read paths for concerns. Each runs a fixed number of queries, whatever the number
of concerns, votes or tags (the tests pin the counts)."""

import base64
import binascii
import json
import math
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    FloatField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Department, User
from concerns import list_sql
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
    # Where the page starts: a cursor from a previous page's links (see ConcernPage).
    cursor: str = ""


@dataclass
class ConcernPage:
    """One page of the list, found by position ("after this concern") rather than by
    number: no page costs a count of every match or a walk past the skipped rows, so
    the hundredth page is as quick as the first. The cursors are opaque strings."""

    object_list: list[Concern]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    # Every tag (the filter's choices), read once with the names of the rows' tags.
    all_tags: list[Tag] = field(default_factory=list)

    @property
    def is_only_page(self) -> bool:
        return self.next_cursor is None and self.previous_cursor is None


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


def _department_large(department=None):
    """Whether a department (the concern's, by default) has at least
    ANONYMITY_MIN_GROUP_SIZE active people: an EXISTS that looks for the k-th active
    member, so it reads at most k of them however large the department is."""
    k = settings.ANONYMITY_MIN_GROUP_SIZE
    if k <= 0:
        return Value(True)
    department = OuterRef("department") if department is None else department
    members = User.objects.filter(department=department, is_active=True)
    return Exists(members.order_by()[k - 1 : k])


def _show_departments(concerns) -> None:
    """Names a concern's department only where the group is large enough that naming
    it cannot point at a person: from the `shown_department_name` annotation (the
    list) or the `department_large` one (a concern's page, the moderation queue)."""
    for concern in concerns:
        if hasattr(concern, "shown_department_name"):
            name = concern.shown_department_name
            shown = Department(pk=concern.department_id, name=name) if name is not None else None
        else:
            large = concern.department_id is not None and getattr(
                concern, "department_large", False
            )
            shown = concern.department if large else None
        concern.shown_department = shown


def _voted_ids(viewer: User, concern_ids: list) -> set:
    if not viewer.is_authenticated or not concern_ids:
        return set()
    hashes = {voter_hash(person_id=viewer.pk, concern_id=cid): cid for cid in concern_ids}
    found = list_sql.voted_hashes([(concern_id, hashed) for hashed, concern_id in hashes.items()])
    return {hashes[h] for h in found}


def _search_terms(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)][:12]


def _search_any_word(queryset: QuerySet, text: str) -> QuerySet:
    """Concerns matching any word of three letters or more (or a word it starts),
    ranked: PostgreSQL full-text search on the indexed `search_vector` column, with a
    substring search as the fallback on SQLite. The list's own search, every word,
    is in concerns/list_sql.py."""
    terms = [t for t in _search_terms(text) if len(t) >= 3]
    if not terms:
        return queryset.none().annotate(rank=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        query_text = " | ".join(f"{t}:*" for t in terms)
        # The user's words are a parameter.
        return queryset.filter(
            RawSQL(  # noqa: S611
                "concerns_concern.search_vector @@ to_tsquery('english', %s)",
                (query_text,),
                output_field=BooleanField(),
            )
        ).annotate(
            rank=RawSQL(  # noqa: S611
                "ts_rank(concerns_concern.search_vector, to_tsquery('english', %s))"
                "::double precision",
                (query_text,),
                output_field=FloatField(),
            )
        )
    matches = Q(pk__in=[])
    for term in terms:
        matches |= Q(title__icontains=term) | Q(body__icontains=term)
    return queryset.filter(matches).annotate(rank=Value(0.0, output_field=FloatField()))


# The columns that order each sort, all descending, ending with the primary key so
# that every position is unique. A page starts after (or before) one position.
PAGE_KEYS = {
    "top": ("vote_count", "published_at", "pk"),
    "new": ("published_at", "pk"),
    "trending": ("recent_votes", "vote_count", "pk"),
    "relevant": ("rank", "vote_count", "pk"),
}
_CURSOR_MAX = 400
_COUNT_MAX = 2**31 - 1


def concern_list(*, viewer: User, filters: ConcernFilters) -> ConcernPage:
    """A page of the list in two queries: the rows (with their tag ids and whether
    their department may be named; concerns/list_sql.py) and the viewer's votes on
    them. Every listed concern has a publication time (concern_approve sets it with
    the status). Raises ConcernNotFound for a cursor that is not one of ours."""
    sort = list_sort(filters)
    query = _row_query(filters, sort)
    if query is None:
        return _page(viewer, sort, [], has_previous=False, has_next=False)
    size = settings.CONCERNS_PER_PAGE
    if not filters.cursor:
        rows = list_sql.concern_rows(replace(query, limit=size + 1))
        return _page(viewer, sort, rows[:size], has_previous=False, has_next=len(rows) > size)
    forward, position = _cursor_decode(filters.cursor, sort=sort)
    query = replace(query, limit=size + 1, position=position, forward=forward)
    rows = list_sql.concern_rows(query)
    if forward:
        return _page(
            viewer, sort, rows[:size], has_previous=True, has_next=len(rows) > size, at=position
        )
    if not rows:
        # Nothing is left before it (those concerns moved or went): the first page.
        return concern_list(viewer=viewer, filters=replace(filters, cursor=""))
    return _page(viewer, sort, rows[:size][::-1], has_previous=len(rows) > size, has_next=True)


def list_sort(filters: ConcernFilters) -> str:
    """The sort a list shows: the one asked for, "top" for anything else, and never
    "relevant" without words to be relevant to."""
    sort = filters.sort if filters.sort in SORTS else "top"
    if sort == "relevant" and not filters.q.strip():
        sort = "top"
    return sort


def _row_query(filters: ConcernFilters, sort: str) -> list_sql.RowQuery | None:
    """What the list's statement reads for these filters; None when a filter already
    rules every concern out (a tag that does not exist)."""
    statuses = [filters.status] if filters.status in LISTED_STATUSES else list(LISTED_STATUSES)
    tag_id = None
    if filters.tag:
        tag = _tag_by_slug(filters.tag)
        if tag is None:
            return None
        tag_id = tag.pk
    query = list_sql.RowQuery(statuses=statuses, keys=PAGE_KEYS[sort], limit=0, tag_id=tag_id)
    if filters.q.strip():
        query = replace(query, search=filters.q, search_terms=_search_terms(filters.q))
    if sort == "trending":
        # Counted per concern at read time: no index can hold a count over a moving
        # window, so this sort costs a look at every listed concern's recent votes.
        query = replace(query, trending_since=timezone.localdate() - timedelta(days=TRENDING_DAYS))
    return query


def _page(viewer, sort, rows, *, has_previous: bool, has_next: bool, at=None) -> ConcernPage:
    """The page's links point after its last row and before its first (or, on a page
    with no rows, at the position it was asked for)."""
    tags = _rows_for(viewer, rows)
    keys = PAGE_KEYS[sort]
    first = _position(rows[0], keys) if rows else at
    last = _position(rows[-1], keys) if rows else at
    return ConcernPage(
        rows,
        next_cursor=_cursor_encode(True, sort, last) if has_next else None,
        previous_cursor=_cursor_encode(False, sort, first) if has_previous else None,
        all_tags=tags,
    )


def _rows_for(viewer: User, rows: list[Concern]) -> list[Tag]:
    """Marks what the viewer voted for (one query, none for an empty page), attaches
    each row's tags from the cached list and decides which departments may be shown.
    Returns the tag list it used."""
    voted = _voted_ids(viewer, [c.pk for c in rows])
    tags = tags_all()
    by_id = {tag.pk: tag for tag in tags}
    wanted = {int(i) for c in rows if c.tag_ids for i in c.tag_ids.split(",")}
    if not wanted <= by_id.keys():
        tags = tags_all(refresh=True)
        by_id = {tag.pk: tag for tag in tags}
    for concern in rows:
        concern.viewer_has_voted = concern.pk in voted
        ids = [int(i) for i in concern.tag_ids.split(",")] if concern.tag_ids else []
        concern.tag_list = sorted((by_id[i] for i in ids if i in by_id), key=lambda t: t.name)
    _show_departments(rows)
    return tags


def _position(concern: Concern, keys: tuple[str, ...]) -> list:
    return [getattr(concern, key) for key in keys]


def _cursor_encode(forward: bool, sort: str, values: list) -> str:
    plain = []
    for value in values:
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        plain.append(value)
    text = json.dumps(["a" if forward else "b", sort, *plain], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str, *, sort: str) -> tuple[bool, list]:
    """(forward, position) from a cursor of this sort; anything else, however it was
    damaged, is ConcernNotFound and never reaches the database."""
    damaged = ConcernNotFound("That page of concerns does not exist: the link is damaged.")
    if len(cursor) > _CURSOR_MAX:
        raise damaged
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        decoded = json.loads(text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise damaged from error
    keys = PAGE_KEYS[sort]
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2 + len(keys)
        or decoded[0] not in ("a", "b")
        or decoded[1] != sort
    ):
        raise damaged
    try:
        values = [_cursor_value(key, raw) for key, raw in zip(keys, decoded[2:], strict=True)]
    except (ValueError, TypeError, OverflowError) as error:
        raise damaged from error
    return decoded[0] == "a", values


def _cursor_value(key: str, raw):
    if key == "pk":
        if not isinstance(raw, str):
            raise TypeError(key)
        return uuid.UUID(raw)
    if key == "published_at":
        if not isinstance(raw, str):
            raise TypeError(key)
        when = datetime.fromisoformat(raw)
        if when.tzinfo is None:
            raise ValueError(key)
        # In UTC now: a far-fetched offset fails here (OverflowError), not in the
        # database adapter.
        return when.astimezone(UTC)
    if key == "rank":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError(key)
        return float(raw)
    # vote_count, recent_votes
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= _COUNT_MAX:
        raise ValueError(key)
    return raw


def _can_see_unpublished(viewer: User, concern: Concern) -> bool:
    if viewer.can_moderate:
        return True
    return not concern.is_anonymous and concern.author_id == viewer.pk


def concern_detail(*, viewer: User, concern_id) -> ConcernDetail:
    concern = (
        Concern.objects.select_related("department", "author", "merged_into")
        .annotate(department_large=_department_large())
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
        .annotate(department_large=_department_large())
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .get(pk=concern.pk)
    )
    return _detail_for(concern, viewer=None)


def moderation_queue() -> list[Concern]:
    concerns = list(
        Concern.objects.filter(status__in=AWAITING_MODERATION)
        .select_related("department")
        .annotate(department_large=_department_large())
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
    similar = _search_any_word(candidates, text or excluding.title).values("pk")
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
    ranked = _search_any_word(candidates, text).order_by("-rank", "-vote_count", "pk")
    return list(ranked.only("pk", "title", "vote_count", "status")[:SIMILAR_LIMIT])


def concerns_by_author(*, author: User) -> list[Concern]:
    return list(
        Concern.objects.filter(author=author, is_anonymous=False)
        .order_by("-submitted_on", "title")
        .only("pk", "title", "status", "submitted_on", "vote_count", "rejection_reason")
    )


TAGS_CACHE_KEY = "concerns:tags"
TAGS_CACHE_SECONDS = 300


def tags_all(*, refresh: bool = False) -> list[Tag]:
    """Every tag, by name. Tags change only in the admin, so the list is cached; saving
    or deleting a tag forgets it (`tags_forget`, connected in apps.py), and a copy
    that somehow missed that lives at most TAGS_CACHE_SECONDS. `refresh` reads the
    tags again, for a row or a filter naming a tag the cached copy does not know."""
    tags = None if refresh else cache.get(TAGS_CACHE_KEY)
    if tags is None:
        tags = list(Tag.objects.order_by("name"))
        cache.set(TAGS_CACHE_KEY, tags, timeout=TAGS_CACHE_SECONDS)
    return tags


def _tag_by_slug(slug: str) -> Tag | None:
    for refresh in (False, True):
        for tag in tags_all(refresh=refresh):
            if tag.slug == slug:
                return tag
    return None


def tags_forget(**_signal) -> None:
    """Receiver for Tag saves and deletes: the cached list goes now, and again once
    the change commits, so a reader in between cannot keep the old list."""
    cache.delete(TAGS_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(TAGS_CACHE_KEY))


def status_choices() -> list[tuple[str, str]]:
    return [(s, Status(s).label) for s in LISTED_STATUSES]
