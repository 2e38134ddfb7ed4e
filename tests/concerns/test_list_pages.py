"""Pages of the concern list go by position ("after this concern"), on the site and in
the API: following the links forward or back shows every listed concern exactly once,
in the order of the sort, however many share a vote count or a publication time.
Also: the cached tag list follows every change to the tags at once."""

import base64
import datetime
import html
import json
import re

import pytest
from django.db import connection
from django.db.models import BooleanField, Count, FloatField, Q, Value
from django.db.models.expressions import RawSQL
from django.test import Client
from django.urls import reverse, set_script_prefix
from django.utils import timezone

from accounts.services import api_token_create
from concerns import selectors
from concerns.models import LISTED_STATUSES, Concern, Tag
from tests import factories

pytestmark = pytest.mark.django_db

_CARD_TITLE = re.compile(r'<h2><a href="/concerns/[0-9a-f-]+/">(.*?)</a></h2>')
CROWD = 57  # two full pages and a part


@pytest.fixture
def crowded():
    """Listed concerns that tie a lot: four vote counts and five publication times
    between them, so most positions are decided by the last key, the id."""
    moderator = factories.moderator()
    parking = factories.tag("Parking")
    base = timezone.now() - datetime.timedelta(days=3)
    for n in range(CROWD):
        concern = factories.open_concern(
            title=f"Crowded concern {n:02d}",
            body="Parking again.",
            moderated_by=moderator,
            tags=[parking] if n % 2 else [],
        )
        Concern.objects.filter(pk=concern.pk).update(
            vote_count=n % 4, published_at=base + datetime.timedelta(hours=n % 5)
        )
    return moderator


def _orm_list(**filters) -> list[Concern]:
    """The whole list in one ORM query, without pages: what the pages must add up to.
    The product reads its rows with a hand-written statement (concerns/list_sql.py);
    this is the statement the ORM builds for the same filters, as the oracle."""
    wanted = selectors.ConcernFilters(**filters)
    statuses = [wanted.status] if wanted.status in LISTED_STATUSES else list(LISTED_STATUSES)
    concerns = Concern.objects.filter(status__in=statuses, published_at__isnull=False)
    if wanted.tag:
        concerns = concerns.filter(tags__slug=wanted.tag)
    if wanted.q.strip():
        concerns = _orm_search(concerns, wanted.q)
    sort = selectors.list_sort(wanted)
    if sort == "trending":
        since = timezone.localdate() - datetime.timedelta(days=selectors.TRENDING_DAYS)
        recent = Count("votes", filter=Q(votes__cast_on__gte=since))
        concerns = concerns.annotate(recent_votes=recent)
    return list(concerns.order_by(*(f"-{key}" for key in selectors.PAGE_KEYS[sort])))


def _orm_search(concerns, text: str):
    """Every word, ranked: websearch_to_tsquery on PostgreSQL, `icontains` on SQLite."""
    if not selectors._search_terms(text):
        return concerns.annotate(rank=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        matches = "websearch_to_tsquery('english', %s)"
        return concerns.filter(
            RawSQL(  # noqa: S611 - the words are a parameter
                f"concerns_concern.search_vector @@ {matches}", (text,), output_field=BooleanField()
            )
        ).annotate(
            rank=RawSQL(  # noqa: S611 - the words are a parameter
                f"ts_rank(concerns_concern.search_vector, {matches})::double precision",
                (text,),
                output_field=FloatField(),
            )
        )
    every = Q()
    for term in selectors._search_terms(text):
        every &= Q(title__icontains=term) | Q(body__icontains=term)
    return concerns.filter(every).annotate(rank=Value(0.0, output_field=FloatField()))


def _in_order(**filters) -> list[str]:
    return [c.title for c in _orm_list(**filters)]


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def _walk(client, params: dict, rel: str, start: str | None = None) -> tuple[list[str], str]:
    """Follows `rel` links from the first page (or `start`) to the end; the titles seen
    on every page, in the order shown, and the last page."""
    url = reverse("concerns:list")
    page = client.get(url + start if start else url, params if not start else None)
    seen = []
    pages = [page.content.decode()]
    while True:
        seen.append(_CARD_TITLE.findall(pages[-1]))
        following = _link(pages[-1], rel)
        if following is None:
            break
        assert len(pages) < 10, "the links never end"
        pages.append(client.get(url + following).content.decode())
    if rel == "prev":
        seen.reverse()
    return [title for titles in seen for title in titles], pages[-1]


SORTS = [
    {"sort": "top"},
    {"sort": "new"},
    {"sort": "trending"},
    {"sort": "relevant", "q": "parking"},
    {"sort": "top", "tag": "parking"},
    {"sort": "new", "status": "open", "q": "crowded"},
]


@pytest.mark.parametrize("params", SORTS, ids=lambda p: "-".join(p.values()))
def test_following_next_and_previous_shows_every_concern_once_in_order(client, crowded, params):
    client.force_login(factories.person())
    expected = _in_order(**params)

    forward, last_page = _walk(client, params, "next")
    backward, first_page = _walk(client, params, "prev", start=_link(last_page, "prev"))

    assert forward == expected
    assert len(set(forward)) == len(forward) >= CROWD // 2
    # Back from the last page: every page before it, in the same order.
    pages_before_last = len(_CARD_TITLE.findall(last_page))
    assert backward == expected[:-pages_before_last]
    assert _link(first_page, "prev") is None


def test_the_api_pages_through_every_concern_once_in_order(crowded):
    person = factories.person()
    token = api_token_create(person=person, name="pages").secret
    headers = {"Authorization": f"Bearer {token}"}
    api = Client()
    for params in SORTS:
        answer = api.get("/api/v1/concerns/", params, headers=headers).json()
        ids = [row["id"] for row in answer["results"]]
        first_ids = list(ids)
        while answer["next"]:
            assert len(ids) < 200, "the cursor never ends"
            answer = api.get(answer["next"], headers=headers).json()
            ids += [row["id"] for row in answer["results"]]
        expected = [str(c.pk) for c in _orm_list(**params)]
        assert ids == expected, params
        # And back: the previous link of the last page leads to the page before it.
        if answer["previous"]:
            back = api.get(answer["previous"], headers=headers).json()
            back_ids = [row["id"] for row in back["results"]]
            end = len(ids) - len(answer["results"])
            assert back_ids == ids[end - len(back_ids) : end]
        assert first_ids == ids[: len(first_ids)]


def test_a_cursor_of_another_sort_is_a_404_problem_in_the_api(crowded):
    token = api_token_create(person=factories.person(), name="pages").secret
    headers = {"Authorization": f"Bearer {token}"}
    api = Client()
    top = api.get("/api/v1/concerns/", {"sort": "top"}, headers=headers).json()
    cursor = re.search(r"cursor=([^&]+)", top["next"]).group(1)

    answer = api.get("/api/v1/concerns/", {"sort": "new", "cursor": cursor}, headers=headers)

    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/problem+json"


def test_a_page_after_concerns_that_left_the_list_is_empty_and_links_back(client, crowded):
    client.force_login(factories.person())
    last = _walk(client, {"sort": "top"}, "next")[1]
    before_last = client.get(reverse("concerns:list") + _link(last, "prev")).content.decode()
    # Every concern on the last page is withdrawn before the person clicks "Next".
    Concern.objects.filter(title__in=_CARD_TITLE.findall(last)).update(status="withdrawn")

    after = client.get(reverse("concerns:list") + _link(before_last, "next"))

    assert after.status_code == 200
    assert "No concerns match." in after.content.decode()
    assert _link(after.content.decode(), "prev") is not None


# The cached tag list ------------------------------------------------------------------


def test_a_renamed_tag_shows_its_new_name_at_once(client):
    client.force_login(factories.person())
    tag = factories.tag("Parking")
    factories.open_concern(title="Permits", tags=[tag])
    assert ">Parking</a>" in client.get(reverse("concerns:list")).content.decode()

    tag.name = "Car parks"
    tag.save()
    page = client.get(reverse("concerns:list")).content.decode()

    assert ">Car parks</a>" in page and ">Parking</a>" not in page
    assert '<option value="parking">Car parks</option>' in page


def test_a_new_tag_is_offered_and_a_deleted_one_is_gone_at_once(client):
    client.force_login(factories.person())
    old = factories.tag("Canteen")
    client.get(reverse("concerns:list"))

    factories.tag("Parking")
    Tag.objects.filter(pk=old.pk).delete()
    page = client.get(reverse("concerns:list")).content.decode()

    assert '<option value="parking">Parking</option>' in page
    assert "Canteen" not in page


def test_a_tag_the_cached_list_missed_is_still_found_and_named(client):
    """A tag written without signals (a bulk insert) is read when a row names it."""
    client.force_login(factories.person())
    client.get(reverse("concerns:list"))  # caches the (empty) tag list
    (tag,) = Tag.objects.bulk_create([Tag(name="Parking", slug="parking")])
    tag = Tag.objects.get(slug="parking")
    factories.open_concern(title="Permits", tags=[tag])

    assert ">Parking</a>" in client.get(reverse("concerns:list")).content.decode()
    filtered = client.get(reverse("concerns:list"), {"tag": "parking"}).content.decode()
    assert _CARD_TITLE.findall(filtered) == ["Permits"]


def _cursor(*values) -> str:
    text = json.dumps(list(values))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED = [
    _cursor("a", "new", "0001-01-01T00:00:00+05:00", "00000000-0000-0000-0000-000000000000"),
    _cursor("a", "new", "9999-12-31T23:59:59-05:00", "00000000-0000-0000-0000-000000000000"),
    _cursor("a", "new", "2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"),
    _cursor("a", "new", "2026-01-01T00:00:00+00:00", "not-a-uuid"),
    _cursor("a", "top", 2**40, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"),
    _cursor("b", "top", True, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"),
    _cursor("b", "top", -1, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"),
    _cursor("a", "relevant", "NaN", 1, "00000000-0000-0000-0000-000000000000"),
    _cursor("c", "top", 1, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"),
    _cursor({"a": 1}, ["top"], 1, 2, 3),
]


@pytest.mark.parametrize("cursor", FORGED)
def test_a_forged_cursor_never_reaches_the_database(client, cursor):
    factories.open_concern(title="Parking permits")
    client.force_login(factories.person())
    token = api_token_create(person=factories.person(), name="pages").secret
    sort = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[1]
    params = {"sort": sort, "q": "parking"} if isinstance(sort, str) else {}

    page = client.get(reverse("concerns:list"), {**params, "cursor": cursor})
    answer = Client().get(
        "/api/v1/concerns/",
        {**params, "cursor": cursor},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert page.status_code == 200
    assert "That page link was damaged" in page.content.decode()
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/problem+json"


def test_a_concern_link_follows_the_prefix_the_site_is_served_under():
    concern = factories.open_concern(title="Lockers")
    assert concern.get_absolute_url() == f"/concerns/{concern.pk}/"
    set_script_prefix("/staff/")
    try:
        assert concern.get_absolute_url() == f"/staff/concerns/{concern.pk}/"
    finally:
        set_script_prefix("/")
    assert concern.get_absolute_url() == reverse("concerns:detail", args=[concern.pk])
