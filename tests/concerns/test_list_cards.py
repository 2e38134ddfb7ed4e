"""The list's cards are kept in the cache under a hash of what they show
(concerns/templatetags/concern_cards.py): a cached card is never stale, says "you
voted" only to whoever voted, and the page reads the same with the cache cold, warm
or unreachable."""

import datetime
import re

import pytest
from django.core.cache import cache
from django.template import engines
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from concerns import services
from concerns.models import Concern
from concerns.templatetags import concern_cards
from tests import factories
from tests.security.test_cache_outage import closed_port_cache  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

_CARDS = re.compile(r'<div class="cards">(.*?)\n</div>', re.S)


def _cards(client) -> str:
    page = client.get(reverse("concerns:list"))
    assert page.status_code == 200
    return _CARDS.search(page.content.decode()).group(1)


def _card_of(cards: str, title: str) -> str:
    return next(card for card in cards.split("</article>") if f">{title}</a>" in card)


@pytest.fixture
def listed():
    moderator = factories.moderator()
    parking = factories.tag("Parking")
    return {
        title: factories.open_concern(title=title, tags=[parking], moderated_by=moderator)
        for title in ("Car park lights", "Canteen prices", "Night bus")
    }


def _signed_in(person=None) -> Client:
    client = Client()
    client.force_login(person or factories.person())
    return client


def test_a_page_of_cached_cards_is_the_page_rendered_afresh(listed):
    client = _signed_in()
    cache.clear()
    cold = _cards(client)

    warm = _cards(client)

    assert warm == cold
    assert cold.count("<article") == 3
    assert "Car park lights" in cold


def test_a_vote_shows_on_the_next_load_of_a_cached_page(listed):
    reader = _signed_in()
    assert ">0</span>" in _card_of(_cards(reader), "Night bus")

    services.vote_cast(concern=listed["Night bus"], voter=factories.person())

    card = _card_of(_cards(reader), "Night bus")
    assert 'aria-label="1 votes"' in card
    assert "✓ you voted" not in card


def test_only_the_person_who_voted_reads_you_voted_on_a_cached_card(listed):
    voter, other = factories.person(), factories.person()
    services.vote_cast(concern=listed["Canteen prices"], voter=voter)

    seen_by_other = _card_of(_cards(_signed_in(other)), "Canteen prices")
    seen_by_voter = _card_of(_cards(_signed_in(voter)), "Canteen prices")
    seen_by_other_again = _card_of(_cards(_signed_in(other)), "Canteen prices")

    assert "✓ you voted" in seen_by_voter
    assert "✓ you voted" not in seen_by_other
    assert seen_by_other_again == seen_by_other


def test_a_renamed_tag_a_new_title_and_a_new_status_show_at_once(listed):
    reader = _signed_in()
    _cards(reader)
    concern = listed["Car park lights"]

    listed_tag = concern.tags.get()
    listed_tag.name = "Car parks"
    listed_tag.save()
    Concern.objects.filter(pk=concern.pk).update(title="Car park lighting")
    services.concern_require_response(
        concern=Concern.objects.get(pk=concern.pk), actor=factories.moderator(), note="Due."
    )

    card = _card_of(_cards(reader), "Car park lighting")
    assert ">Car parks</a>" in card
    assert "Response due" in card


def test_an_overdue_card_counts_its_days_from_the_day_it_is_read(listed, monkeypatch):
    concern = listed["Night bus"]
    services.concern_require_response(concern=concern, actor=factories.moderator(), note="Due.")
    Concern.objects.filter(pk=concern.pk).update(
        response_due_on=timezone.localdate() - datetime.timedelta(days=2)
    )
    reader = _signed_in()
    assert "Overdue by 2 days" in _card_of(_cards(reader), "Night bus")

    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: tomorrow)

    assert "Overdue by 3 days" in _card_of(_cards(reader), "Night bus")


def test_an_edited_card_template_is_not_served_from_cards_the_old_one_made(listed, monkeypatch):
    reader = _signed_in()
    assert "<article" in _cards(reader)
    edited = engines["django"].from_string("<section>{{ concern.title }}</section>")
    monkeypatch.setattr(concern_cards, "get_template", lambda name: edited)

    cards = _cards(reader)

    assert "<article" not in cards
    assert cards.count("<section>") == 3


def test_the_list_renders_every_card_while_the_cache_is_unreachable(
    listed,
    closed_port_cache,  # noqa: F811 - the fixture
):
    cards = _cards(_signed_in())

    assert cards.count("<article") == 3


def _entries() -> int:
    """How many entries the cache holds (LocMemCache on SQLite, Redis in CI)."""
    backend = cache._cache if hasattr(cache, "_cache") else None
    if isinstance(backend, dict):
        return len(backend)
    return cache._cache.get_client().dbsize()


def test_the_cached_cards_keep_no_trace_of_who_voted_or_when(listed):
    """A "voted" copy of a card, written the moment a voter first opened the list
    after voting, would date an anonymous vote to the second: the cards are the same
    cache entries for voters and everyone else."""
    voter = factories.person()
    services.vote_cast(concern=listed["Night bus"], voter=voter)
    _cards(_signed_in())
    before = _entries()

    seen_by_voter = _card_of(_cards(_signed_in(voter)), "Night bus")

    assert "✓ you voted" in seen_by_voter
    assert _entries() == before
