"""Finding concerns: full-text search on PostgreSQL, the substring fallback elsewhere,
filters, sorting, pages and the suggestions shown while someone types a new concern."""

import datetime
import html
import re
import types

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from concerns import list_sql, selectors, services
from concerns.models import Concern, Status, Vote
from tests import factories

pytestmark = pytest.mark.django_db

_CARD_TITLE = re.compile(r'<h2><a href="/concerns/[0-9a-f-]+/">(.*?)</a></h2>')
_SIMILAR_TITLE = re.compile(r'<li><a href="/concerns/[0-9a-f-]+/"[^>]*>(.*?)</a>')


def _listed(client, **params) -> list[str]:
    response = client.get(reverse("concerns:list"), params)
    assert response.status_code == 200
    return _CARD_TITLE.findall(response.content.decode())


def _suggested(client, text: str) -> list[str]:
    response = client.post(reverse("concerns:similar"), {"text": text})
    assert response.status_code == 200
    return _SIMILAR_TITLE.findall(response.content.decode())


def _move(concern, *statuses):
    # No public service answers or closes a concern yet; _transition is the one path
    # that checks each move is allowed and records it in the history.
    with transaction.atomic():
        locked = services._locked(concern.pk)
        for status in statuses:
            services._transition(locked, status, actor=None)
    concern.refresh_from_db()
    return concern


def _votes(concern, n: int, *, days_ago: int = 0) -> None:
    voters = [factories.person() for _ in range(n)]
    for voter in voters:
        services.vote_cast(concern=concern, voter=voter)
    if days_ago:
        cast_on = timezone.localdate() - datetime.timedelta(days=days_ago)
        Vote.objects.filter(concern=concern).update(cast_on=cast_on)


def _published(concern, days_ago: int) -> None:
    when = timezone.now() - datetime.timedelta(days=days_ago)
    Concern.objects.filter(pk=concern.pk).update(published_at=when)


@pytest.fixture
def signed_in(client):
    client.force_login(factories.person())
    return client


@pytest.fixture
def substring_fallback(monkeypatch):
    """The search SQLite gets. On PostgreSQL the selectors are shown a SQLite
    connection, so this fallback is checked on every database the suite runs on."""
    if connection.vendor != "sqlite":
        monkeypatch.setattr(selectors, "connection", types.SimpleNamespace(vendor="sqlite"))
        monkeypatch.setattr(list_sql, "full_text_search", lambda: False)


# Full-text search on PostgreSQL --------------------------------------------------------


@pytest.mark.postgres
def test_searching_voting_finds_a_concern_titled_votes(signed_in):
    factories.open_concern(title="Votes on the new rota are ignored")
    factories.open_concern(title="Parking permits", body="Nothing about that here.")

    assert _listed(signed_in, q="voting") == ["Votes on the new rota are ignored"]


@pytest.mark.postgres
def test_search_matches_other_forms_of_a_word_in_the_description(signed_in):
    factories.open_concern(title="Rota", body="Managers keep *rejecting* holiday requests.")

    assert _listed(signed_in, q="rejected holidays") == ["Rota"]


@pytest.mark.postgres
def test_a_title_match_ranks_above_a_description_match_with_more_votes(signed_in):
    in_body = factories.open_concern(
        title="Evening shifts", body="Parking is impossible after six."
    )
    factories.open_concern(title="Parking after six", body="There is never a space.")
    factories.open_concern(title="Unrelated", body="Nothing to see.")
    _votes(in_body, 3)

    assert _listed(signed_in, q="parking") == ["Parking after six", "Evening shifts"]
    # Asked for explicitly, "most supported" still puts votes first.
    assert _listed(signed_in, q="parking", sort="top") == ["Evening shifts", "Parking after six"]


@pytest.mark.postgres
def test_search_on_a_quoted_phrase_needs_the_words_together(signed_in):
    factories.open_concern(title="Night shift parking", body="Cars get clamped.")
    factories.open_concern(title="Shift patterns", body="No night off in weeks.")

    assert _listed(signed_in, q='"night shift"') == ["Night shift parking"]


@pytest.mark.postgres
def test_the_search_index_serves_the_list_search():
    """EXPLAIN the very query the list page runs: with sequential scans priced out,
    PostgreSQL must reach for the GIN index rather than some other index."""
    for n in range(3):
        factories.open_concern(title=f"Parking permit {n}")
    # Thousands of other open concerns, written in bulk: on a table of a few rows the
    # planner rightly prefers any index to the GIN one, which proves nothing.
    today, now = timezone.localdate(), timezone.now()
    Concern.objects.bulk_create(
        Concern(
            title=f"Canteen prices {n}",
            body="The canteen got dearer again.",
            body_html="<p>The canteen got dearer again.</p>",
            status=Status.OPEN,
            submitted_on=today,
            published_at=now,
        )
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE concerns_concern")  # what autovacuum does on a live table
    viewer = factories.person()
    filters = selectors.ConcernFilters(q="parking permits", sort="relevant")

    with CaptureQueriesContext(connection) as captured:
        selectors.concern_list(viewer=viewer, filters=filters)
    searches = [q["sql"] for q in captured if '"search_vector" @@' in q["sql"]]
    assert searches, "the list ran no full-text search"

    # The list's search predicate, as the selector writes it, can be served by the GIN
    # index. (Whether the planner combines it with the status index depends on its
    # statistics for the table, which differ from run to run on a table this small.)
    predicate = re.search(r'c\."search_vector" @@ [^)]+\)', searches[0])
    assert predicate, searches[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT id FROM concerns_concern c WHERE {predicate.group(0)}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "concern_search_vector" in plan, plan


@pytest.mark.postgres
def test_the_search_index_exists_on_the_generated_column():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'concerns_concern' "
            "AND indexname = 'concern_search_vector'"
        )
        (definition,) = cursor.fetchone()
    assert "USING gin (search_vector)" in definition


@pytest.mark.postgres
def test_an_edited_title_is_searchable_at_once(signed_in):
    concern = factories.open_concern(title="Parking permits")
    Concern.objects.filter(pk=concern.pk).update(title="Bicycle storage")

    assert _listed(signed_in, q="bicycle") == ["Bicycle storage"]
    assert _listed(signed_in, q="parking") == []


# Search on every database ------------------------------------------------------------


def test_the_substring_fallback_finds_part_of_a_word(signed_in, substring_fallback):
    factories.open_concern(title="Votes on the new rota are ignored")
    factories.open_concern(title="Parking", body="Overnight VOTING booths block the car park.")
    factories.open_concern(title="Canteen prices")

    assert sorted(_listed(signed_in, q="vot")) == ["Parking", "Votes on the new rota are ignored"]


def test_the_substring_fallback_needs_every_word(signed_in, substring_fallback):
    factories.open_concern(title="Parking permits", body="Nobody can get one.")
    factories.open_concern(title="Parking spaces", body="Too few.")

    assert _listed(signed_in, q="park permit") == ["Parking permits"]


def test_search_needs_every_word_somewhere_in_the_concern(signed_in):
    factories.open_concern(title="Parking permits", body="Night shift cannot get one.")
    factories.open_concern(title="Parking spaces", body="Too few.")

    assert _listed(signed_in, q="parking night") == ["Parking permits"]


def test_search_finds_words_with_accents(signed_in):
    factories.open_concern(title="Café prices went up", body="Twice this year.")
    factories.open_concern(title="Cafeteria opening hours")

    assert _listed(signed_in, q="café") == ["Café prices went up"]


def test_search_never_shows_concerns_that_are_not_public(signed_in):
    factories.open_concern(title="Parking permits for everyone")
    factories.submission(title="Parking permits are unfair")
    rejected = factories.submission(title="Parking permits are a scam").concern
    services.concern_reject(concern=rejected, moderator=factories.moderator(), reason="No.")
    author = factories.person()
    withdrawn = factories.open_concern(author=author, title="Parking permits again")
    services.concern_withdraw(concern=withdrawn, author=author)

    assert _listed(signed_in, q="parking permits") == ["Parking permits for everyone"]


def test_the_page_says_how_many_concerns_match(signed_in):
    factories.open_concern(title="Parking permits")
    factories.open_concern(title="Parking spaces")
    factories.open_concern(title="Canteen prices")

    page = signed_in.get(reverse("concerns:list"), {"q": "parking"}).content.decode()

    assert "2 concerns matching “parking”" in page


def test_a_search_that_matches_nothing_says_so(signed_in):
    factories.open_concern(title="Parking permits")

    page = signed_in.get(reverse("concerns:list"), {"q": "helicopter"}).content.decode()

    assert "0 concerns matching “helicopter”" in page
    assert "No concerns match." in page


ODD_INPUT = [
    '"',
    "'",
    '"unclosed quote',
    "it's",
    "a & b",
    "a | b",
    "!",
    "!!parking",
    "parking:*",
    ":*",
    "(",
    "((parking)",
    "<->",
    "a <-> b",
    "-",
    "- -parking",
    "or",
    "OR and NOT",
    "\\",
    "%",
    "_",
    "%_%",
    "' OR 1=1 --",
    "日本語 😀",
    "Ωμέγα ünïcode ǅ ﬁle ①",
    "\u200b",
    "a\tb\nc",
    "x" * 200,
    "parking " * 25,
]


@pytest.mark.parametrize("text", ODD_INPUT)
def test_odd_search_input_never_breaks_the_list(signed_in, text):
    factories.open_concern(title="Parking permits")

    response = signed_in.get(reverse("concerns:list"), {"q": text})

    assert response.status_code == 200


@pytest.mark.parametrize("text", ODD_INPUT)
def test_odd_text_never_breaks_the_suggestions(signed_in, text):
    factories.open_concern(title="Parking permits")

    response = signed_in.post(reverse("concerns:similar"), {"text": text})

    assert response.status_code == 200


@pytest.mark.parametrize("text", ["\x00", "parking\x00permits", "x" * 500, "x " * 300])
def test_text_the_search_box_refuses_still_shows_a_page(signed_in, text):
    factories.open_concern(title="Parking permits")

    listed = signed_in.get(reverse("concerns:list"), {"q": text})
    suggested = signed_in.post(reverse("concerns:similar"), {"text": text})

    assert listed.status_code == 200
    assert suggested.status_code == 200


@pytest.mark.parametrize("text", ["x" * 500, "parking " * 70, '"& | ! :* ' * 50])
def test_a_500_character_search_runs_without_error(text):
    factories.open_concern(title="Parking permits")
    viewer = factories.person()

    page = selectors.concern_list(viewer=viewer, filters=selectors.ConcernFilters(q=text))
    similar = selectors.concern_similar(text=text)

    assert len(page.object_list) <= 1
    assert len(similar) <= 1


@pytest.mark.parametrize(
    "text", ['"parking permits"', "parking & permits", "(parking) permits!", "parking:* permits"]
)
def test_punctuation_around_real_words_still_finds_the_concern(signed_in, text):
    factories.open_concern(title="Parking permits", body="Night shift cannot get one.")
    factories.open_concern(title="Canteen prices", body="Up again.")

    assert _listed(signed_in, q=text) == ["Parking permits"]


# Filters --------------------------------------------------------------------------------


@pytest.fixture
def one_of_each_status():
    made = {
        "open": factories.open_concern(title="An open one"),
        "response_due": _move(factories.open_concern(title="A due one"), Status.RESPONSE_DUE),
        "answered": _move(
            factories.open_concern(title="An answered one"), Status.RESPONSE_DUE, Status.ANSWERED
        ),
        "closed": _move(factories.open_concern(title="A closed one"), Status.CLOSED),
    }
    factories.submission(title="A submitted one")
    rejected = factories.submission(title="A rejected one").concern
    services.concern_reject(concern=rejected, moderator=factories.moderator(), reason="No.")
    # Merged concerns are left out of the list too: see test_merge.py.
    return made


@pytest.mark.parametrize("status", ["open", "response_due", "answered", "closed"])
def test_filtering_by_status_shows_only_that_status(signed_in, one_of_each_status, status):
    assert _listed(signed_in, status=status) == [one_of_each_status[status].title]


def test_without_a_status_filter_every_listed_status_shows_but_not_unpublished_ones(
    signed_in, one_of_each_status
):
    assert sorted(_listed(signed_in)) == sorted(c.title for c in one_of_each_status.values())


@pytest.mark.parametrize("status", ["merged", "submitted", "rejected", "nonsense"])
def test_a_status_that_is_not_listed_is_ignored_rather_than_revealing_anything(
    signed_in, one_of_each_status, status
):
    assert sorted(_listed(signed_in, status=status)) == sorted(
        c.title for c in one_of_each_status.values()
    )


def test_filtering_by_tag_shows_only_concerns_with_that_tag(signed_in):
    parking, canteen = factories.tag("Parking"), factories.tag("Canteen")
    factories.open_concern(title="Permits", tags=[parking])
    factories.open_concern(title="Prices", tags=[canteen])
    factories.open_concern(title="Both", tags=[parking, canteen])
    factories.open_concern(title="Neither")

    assert sorted(_listed(signed_in, tag="parking")) == ["Both", "Permits"]
    assert _listed(signed_in, tag="no-such-tag") == []


def test_filters_and_search_combine(signed_in):
    parking = factories.tag("Parking")
    factories.open_concern(title="Night permits", tags=[parking])
    factories.open_concern(title="Night buses")
    _move(factories.open_concern(title="Night spaces", tags=[parking]), Status.CLOSED)

    assert _listed(signed_in, q="night", tag="parking", status="open") == ["Night permits"]


def test_a_concern_with_two_matching_tags_is_listed_once(signed_in):
    parking = factories.tag("Parking")
    factories.open_concern(title="Permits", tags=[parking, factories.tag("Cars")])

    assert _listed(signed_in, tag="parking") == ["Permits"]


# Sorting -------------------------------------------------------------------------------


@pytest.fixture
def three_concerns():
    """Old but popular long ago, new and quiet, and middling with votes this week."""
    old = factories.open_concern(title="Old and popular")
    new = factories.open_concern(title="New and quiet")
    busy = factories.open_concern(title="Busy this week")
    _published(old, days_ago=60)
    _published(new, days_ago=1)
    _published(busy, days_ago=20)
    _votes(old, 5, days_ago=30)
    _votes(busy, 2)
    _votes(new, 1, days_ago=8)
    return old, new, busy


def test_most_supported_comes_first_by_default(signed_in, three_concerns):
    assert _listed(signed_in) == ["Old and popular", "Busy this week", "New and quiet"]
    assert _listed(signed_in, sort="top") == _listed(signed_in)


def test_newest_sorts_by_publication(signed_in, three_concerns):
    assert _listed(signed_in, sort="new") == ["New and quiet", "Busy this week", "Old and popular"]


def test_trending_counts_only_votes_of_the_last_seven_days(signed_in, three_concerns):
    assert _listed(signed_in, sort="trending") == [
        "Busy this week",
        "Old and popular",
        "New and quiet",
    ]


def test_a_vote_from_six_days_ago_still_counts_as_trending(signed_in, three_concerns):
    old, new, busy = three_concerns
    _votes(new, 3, days_ago=6)

    assert _listed(signed_in, sort="trending")[0] == "New and quiet"


def test_an_unknown_sort_falls_back_to_most_supported(signed_in, three_concerns):
    assert _listed(signed_in, sort="; DROP TABLE") == _listed(signed_in, sort="top")
    assert _listed(signed_in, sort="relevant") == _listed(signed_in, sort="top")


# Pages ---------------------------------------------------------------------------------


@pytest.fixture
def thirty_concerns():
    moderator = factories.moderator()
    author = factories.person()
    concerns = [
        factories.open_concern(
            title=f"Concern number {n:02d}", author=author, moderated_by=moderator
        )
        for n in range(30)
    ]
    for n, concern in enumerate(concerns):
        Concern.objects.filter(pk=concern.pk).update(vote_count=100 - n)
    return concerns


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def test_the_list_shows_twenty_five_concerns_a_page(signed_in, thirty_concerns):
    first = signed_in.get(reverse("concerns:list")).content.decode()
    second = signed_in.get(reverse("concerns:list") + _link(first, "next")).content.decode()
    back = signed_in.get(reverse("concerns:list") + _link(second, "prev")).content.decode()

    assert _CARD_TITLE.findall(first) == [f"Concern number {n:02d}" for n in range(25)]
    assert _CARD_TITLE.findall(second) == [f"Concern number {n:02d}" for n in range(25, 30)]
    assert _CARD_TITLE.findall(back) == _CARD_TITLE.findall(first)
    assert "25 concerns on this page" in first and "5 concerns on this page" in second
    assert _link(first, "prev") is None and _link(second, "next") is None
    assert _link(back, "prev") is None and _link(back, "next") == _link(first, "next")
    assert 'href="?q=&amp;sort=top&amp;status=&amp;tag=">First page</a>' in second


def test_an_old_page_number_link_shows_the_first_page(signed_in, thirty_concerns):
    assert _listed(signed_in, page=99) == _listed(signed_in)
    assert len(_listed(signed_in, page="abc")) == 25


@pytest.mark.parametrize("cursor", ["abc", "x" * 5000, "W10", "WyJhIiwidG9wIl0", "%00", "[]"])
def test_a_damaged_page_link_shows_the_first_page_and_says_so(signed_in, thirty_concerns, cursor):
    response = signed_in.get(reverse("concerns:list"), {"cursor": cursor})

    assert response.status_code == 200
    assert _CARD_TITLE.findall(response.content.decode()) == _listed(signed_in)
    assert "That page link was damaged" in response.content.decode()


def test_the_next_page_link_keeps_the_search_and_filters(signed_in, thirty_concerns):
    page = signed_in.get(reverse("concerns:list"), {"q": "concern", "sort": "new"}).content
    link = _link(page.decode(), "next")

    assert link.startswith("?q=concern&sort=new&status=&tag=&cursor=")
    following = signed_in.get(reverse("concerns:list") + link).content.decode()
    assert "matching “concern”" in following
    assert '<option value="new" selected>' in following


def test_a_page_of_search_results_with_fewer_than_twenty_five_shows_no_pager(signed_in):
    factories.open_concern(title="Parking permits")

    page = signed_in.get(reverse("concerns:list"), {"q": "parking"}).content.decode()

    assert 'class="pager"' not in page
    assert "1 concern matching “parking”" in page


# Suggestions while typing -------------------------------------------------------------


def test_suggestions_show_at_most_five_open_concerns(signed_in):
    for n in range(8):
        factories.open_concern(title=f"Parking permits, take {n}")
    _move(factories.open_concern(title="Parking permits, closed"), Status.CLOSED)
    factories.submission(title="Parking permits, not yet public")

    suggested = _suggested(signed_in, "parking permits")

    assert len(suggested) == 5
    assert all(t.startswith("Parking permits, take") for t in suggested)


def test_suggestions_include_concerns_still_awaiting_an_answer(signed_in):
    _move(factories.open_concern(title="Parking permits"), Status.RESPONSE_DUE)

    assert _suggested(signed_in, "parking") == ["Parking permits"]


def test_suggestions_prefer_the_most_supported_among_equals(signed_in):
    quiet = factories.open_concern(title="Parking permits")
    popular = factories.open_concern(title="Parking permits")
    _votes(popular, 2)
    _votes(quiet, 1)

    page = signed_in.post(reverse("concerns:similar"), {"text": "parking"}).content.decode()

    assert page.index(popular.get_absolute_url()) < page.index(quiet.get_absolute_url())
    assert "(2 votes)" in page and "(1 vote)" in page


def test_suggestions_match_any_of_the_words_typed(signed_in):
    factories.open_concern(title="Parking permits")
    factories.open_concern(title="Canteen prices")
    factories.open_concern(title="Holiday rota")

    assert sorted(_suggested(signed_in, "canteen parking")) == ["Canteen prices", "Parking permits"]


@pytest.mark.parametrize("text", ["", "   ", "ab", "abc", "  ab  "])
def test_very_short_text_gets_no_suggestions(signed_in, text):
    factories.open_concern(title="Abc parking")

    response = signed_in.post(reverse("concerns:similar"), {"text": text})

    assert response.status_code == 200
    assert _SIMILAR_TITLE.findall(response.content.decode()) == []
    assert "Similar open concerns" not in response.content.decode()


@pytest.mark.parametrize("text", ["to do it", "a b c d e", "!!!!", "?? ??"])
def test_text_without_a_real_word_gets_no_suggestions(signed_in, text):
    factories.open_concern(title="Parking permits")
    factories.open_concern(title="Canteen prices")

    assert _suggested(signed_in, text) == []


def test_suggestions_need_a_signed_in_person_unless_the_public_form_is_open(client):
    factories.open_concern(title="Parking permits")

    response = client.post(reverse("concerns:similar"), {"text": "parking"})

    assert response.status_code == 403


def test_suggestions_cannot_be_fetched_with_get(signed_in):
    response = signed_in.get(reverse("concerns:similar"), {"text": "parking"})

    assert response.status_code == 405
