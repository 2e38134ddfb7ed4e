"""The read paths run a fixed number of queries, whatever the number of concerns, votes,
tags and departments. Each page is measured against a small and a large data set and
must run exactly the same number of queries on both."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import api_token_create
from concerns import services
from tests import factories

pytestmark = pytest.mark.django_db


def _populate(n: int, *, voter_pool: int = 6, waiting: bool = False, merged: bool = False) -> dict:
    """`n` open concerns with tags, departments (large and small), votes by the viewer
    and others; with `merged`, three duplicates merged into the first; with `waiting`,
    also `n` concerns waiting for a moderator. Returns the viewer, a moderator and the
    first concern, which has a conversation."""
    moderator = factories.moderator()
    viewer = factories.person()
    large = factories.department("Operations", size=5)
    small = factories.department("Legal", size=1)
    tags = [factories.tag(f"Topic {i}") for i in range(4)]
    voters = [factories.person() for _ in range(voter_pool)]
    opened = []
    for i in range(n):
        anonymous = i % 2 == 0
        concern = factories.open_concern(
            title=f"Parking concern {i}",
            body=f"Parking is hard, case {i}.",
            moderated_by=moderator,
            tags=tags[: 1 + i % len(tags)],
            # An anonymous concern may not name a small department.
            department=[large, None if anonymous else small, None][i % 3],
            anonymous=anonymous,
        )
        for voter in voters[: i % voter_pool]:
            services.vote_cast(concern=concern, voter=voter)
        if i % 2 == 0:
            services.vote_cast(concern=concern, voter=viewer)
        opened.append(concern)
    for i in range(n if waiting else 0):
        factories.submission(
            title=f"Waiting concern {i}",
            tags=tags[: 1 + i % len(tags)],
            department=large if i % 2 else None,
            anonymous=i % 2 == 0,
        )
    busiest = opened[0]
    for i in range(3 if merged else 0):
        duplicate = factories.open_concern(title=f"Duplicate {i}", moderated_by=moderator)
        services.vote_cast(concern=duplicate, voter=voters[i])
        services.concern_merge(concern=duplicate, into=busiest, moderator=moderator)
    services.message_ask(concern=busiest, author=moderator, body="Can you say more?")
    return {"viewer": viewer, "moderator": moderator, "concern": busiest}


SIZES = pytest.mark.parametrize("n", [3, 60], ids=["3-concerns", "60-concerns"])

# Session, user, the page of concerns (with their tags' ids and whether each one's
# department may be named), the viewer's votes on them. No count: pages go by
# position. The tag list (the filter's choices, the names on the cards) is cached.
LIST_QUERIES = 4
# ... and the tag list, the first time after it changed.
LIST_QUERIES_COLD = LIST_QUERIES + 1
# Session, user, the concern, its tags, history, merged duplicates, the viewer's vote,
# whether the viewer follows it, the written response.
DETAIL_QUERIES = 9
# The same, plus the conversation moderators can read and the leaders they can assign.
DETAIL_FOR_MODERATOR_QUERIES = 11
# Session, user, the waiting concerns, their tags.
QUEUE_QUERIES = 4


def _next_link(response) -> str:
    return re.search(r'rel="next" href="([^"]+)"', response.content.decode()).group(1)


@SIZES
def test_the_list_page_runs_a_fixed_number_of_queries(client, django_assert_num_queries, n):
    data = _populate(n)
    client.force_login(data["viewer"])

    with django_assert_num_queries(LIST_QUERIES_COLD):
        client.get(reverse("concerns:list"))
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(reverse("concerns:list"))

    assert response.status_code == 200
    assert "✓ you voted" in response.content.decode()
    assert 'class="tag" href="?tag=topic-0">Topic 0</a>' in response.content.decode()


@SIZES
def test_every_sort_and_filter_of_the_list_runs_the_same_number_of_queries(
    client, django_assert_num_queries, n
):
    data = _populate(n)
    client.force_login(data["viewer"])
    client.get(reverse("concerns:list"))

    for params in [
        {"sort": "top"},
        {"sort": "new"},
        {"sort": "trending"},
        {"status": "open", "tag": "topic-0"},
    ]:
        with django_assert_num_queries(LIST_QUERIES):
            client.get(reverse("concerns:list"), params)


def test_a_page_further_on_runs_the_same_number_of_queries_as_the_first(
    client, django_assert_num_queries
):
    data = _populate(60)
    client.force_login(data["viewer"])
    first = client.get(reverse("concerns:list"), {"sort": "new"})

    with django_assert_num_queries(LIST_QUERIES):
        second = client.get(reverse("concerns:list") + html.unescape(_next_link(first)))
    with django_assert_num_queries(LIST_QUERIES):
        third = client.get(reverse("concerns:list") + html.unescape(_next_link(second)))

    assert "Parking concern 0<" in third.content.decode()  # the oldest of 60, on page 3


@SIZES
def test_search_runs_a_fixed_number_of_queries(client, django_assert_num_queries, n):
    data = _populate(n)
    client.force_login(data["viewer"])
    client.get(reverse("concerns:list"))

    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(reverse("concerns:list"), {"q": "parking"})
    with django_assert_num_queries(LIST_QUERIES):
        client.get(reverse("concerns:list"), {"q": "parking case", "sort": "trending"})

    assert "matching “parking”" in response.content.decode()


@SIZES
def test_a_search_that_finds_nothing_skips_the_row_queries(client, django_assert_num_queries, n):
    data = _populate(n)
    client.force_login(data["viewer"])
    client.get(reverse("concerns:list"))

    # Session, user, the empty page: no rows, so no votes to look up.
    with django_assert_num_queries(LIST_QUERIES - 1):
        response = client.get(reverse("concerns:list"), {"q": "helicopter"})

    assert "No concerns match." in response.content.decode()


# The API's list: the token, the page of concerns, the viewer's votes on them.
API_LIST_QUERIES = 3


@SIZES
def test_the_api_list_and_search_run_a_fixed_number_of_queries(django_assert_num_queries, n):
    data = _populate(n)
    token = api_token_create(person=data["viewer"], name="counts").secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    api.get("/api/v1/concerns/")  # the token's first use of the day is recorded once

    with django_assert_num_queries(API_LIST_QUERIES):
        first = api.get("/api/v1/concerns/").json()
    with django_assert_num_queries(API_LIST_QUERIES):
        api.get("/api/v1/concerns/", {"q": "parking", "sort": "new", "tag": "topic-1"})
    if first["next"]:
        with django_assert_num_queries(API_LIST_QUERIES):
            api.get(first["next"])

    assert any(row["viewer_has_voted"] for row in first["results"])
    assert any(row["department"] == "Operations" for row in first["results"])
    assert all(row["department"] != "Legal" for row in first["results"])


@SIZES
def test_the_detail_page_runs_a_fixed_number_of_queries(client, django_assert_num_queries, n):
    data = _populate(n)
    client.force_login(data["viewer"])

    with django_assert_num_queries(DETAIL_QUERIES):
        response = client.get(reverse("concerns:detail", args=[data["concern"].pk]))

    assert "✓ You support this" in response.content.decode()


@SIZES
def test_the_detail_page_with_merged_duplicates_runs_the_same_number_of_queries(
    client, django_assert_num_queries, n
):
    data = _populate(n, merged=True)
    client.force_login(data["viewer"])

    with django_assert_num_queries(DETAIL_QUERIES):
        response = client.get(reverse("concerns:detail", args=[data["concern"].pk]))

    page = response.content.decode()
    assert "Merged into this concern" in page
    assert all(f"Duplicate {i}" in page for i in range(3))


@SIZES
def test_the_detail_page_for_a_moderator_runs_a_fixed_number_of_queries(
    client, django_assert_num_queries, n
):
    data = _populate(n)
    client.force_login(data["moderator"])

    with django_assert_num_queries(DETAIL_FOR_MODERATOR_QUERIES):
        response = client.get(reverse("concerns:detail", args=[data["concern"].pk]))

    assert "Can you say more?" in response.content.decode()


@SIZES
def test_the_moderation_queue_runs_a_fixed_number_of_queries(client, django_assert_num_queries, n):
    data = _populate(n, waiting=True)
    client.force_login(data["moderator"])

    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(reverse("concerns:moderation"))

    assert response.content.decode().count("Waiting concern") == n


# Session, user, the concern, its tags, history, merged duplicates, the conversation,
# the viewer's vote, the written response, and the open concerns it could be merged
# into (one query, however many of them match its title).
REVIEW_QUERIES = 11


@SIZES
def test_a_moderator_reviewing_a_waiting_concern_runs_a_fixed_number_of_queries(
    client, django_assert_num_queries, n
):
    data = _populate(n, waiting=True)
    waiting = factories.submission(title="Another parking concern", anonymous=True).concern
    client.force_login(data["moderator"])

    with django_assert_num_queries(REVIEW_QUERIES):
        response = client.get(reverse("concerns:detail", args=[waiting.pk]))

    assert "Merge as a duplicate" in response.content.decode()
