"""The cards of the concern list, each rendered once per distinct content.

Rendering 25 cards with the template engine cost about 4.4 ms a page, a third of the
list page (bench/README.md, problem 18). A card shows nothing but its concern, so it
is kept in the cache under a hash of everything it shows: the values read from the
row, the day (a card says how many days a response is overdue), the time zone and
language it is written in, the URL configuration and prefix its link is under, and
the card template's own text. A change to any of
them is a new key, so a card is never stale and nothing has to be invalidated; an old
card simply ages out. All the cards of a page are fetched in one round trip and the
missing ones written back in one.

What is cached is what every signed-in person sees on the list and nothing about
the viewer: "you voted" is written into each card's slot per request, after the
cache. (A "voted" variant of a card in the cache, written the moment a voter opened
the list after their vote, would date an anonymous vote to the second.) A card's
entry does say roughly when someone first read the list after its count changed; the
count and its changes are public on the list and live in meetings, and the entry
names no one.
"""

from __future__ import annotations

import hashlib

from django import template
from django.conf import settings
from django.core.cache import cache
from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

CARD_TEMPLATE = "concerns/_card.html"
VOTED_SLOT = "<!--voted-->"
VOTED = '<span class="voted">✓ you voted</span>'
# Long enough that a page read again within the hour needs no rendering; every key
# names its content, so the time bounds the cache's memory, not staleness.
CARD_SECONDS = 60 * 60


@register.simple_tag
def concern_cards(concerns) -> SafeString:
    card = get_template(CARD_TEMPLATE)
    setting = _setting(card)
    keys = [_key(concern, setting) for concern in concerns]
    found = cache.get_many(keys)
    missing = {}
    cards = []
    for concern, key in zip(concerns, keys, strict=True):
        html = found.get(key)
        if html is None:
            html = missing[key] = card.render({"concern": concern})
        cards.append(html.replace(VOTED_SLOT, VOTED if concern.viewer_has_voted else "", 1))
    if missing:
        cache.set_many(missing, CARD_SECONDS)
    return mark_safe("\n".join(cards))  # noqa: S308 - each card is the template's escaped output


def _setting(card) -> tuple:
    """What every card of a page is rendered under."""
    return (
        _template_version(card.template.source),
        timezone.get_current_timezone_name(),
        translation.get_language(),
        timezone.localdate().isoformat(),
        # The card links to its concern's page, by the URL configuration in use, under
        # the prefix the site is served at.
        get_script_prefix(),
        settings.ROOT_URLCONF,
        get_urlconf(),
    )


_versions: dict[str, str] = {}


def _template_version(source: str) -> str:
    """A short digest of the card template's text, so an edited template never serves
    cards rendered by the old one."""
    version = _versions.get(source)
    if version is None:
        version = _versions[source] = hashlib.blake2b(source.encode(), digest_size=8).hexdigest()
    return version


def _key(concern, setting: tuple) -> str:
    department = concern.shown_department
    shown = (
        str(concern.pk),
        concern.title,
        concern.status,
        concern.vote_count,
        concern.response_due_on,
        concern.published_at,
        department.name if department is not None else None,
        tuple((tag.slug, tag.name) for tag in concern.tag_list),
    )
    digest = hashlib.blake2b(repr((setting, shown)).encode(), digest_size=16).hexdigest()
    return f"concern-card:{digest}"
