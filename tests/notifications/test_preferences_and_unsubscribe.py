"""Each person chooses a daily, weekly (the default) or no digest, and only gets the
digests they chose; an unsubscribe link changes that one person's choice and nothing
else."""

import re

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse

from concerns.errors import InvalidInput
from notifications import services
from notifications.models import Follow, Frequency
from tests import factories
from tests.notifications import outbox_recipients, visible
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import days_after, travel_to

pytestmark = pytest.mark.django_db

PREFERENCES = reverse("notifications:preferences")


def checked_choice(page) -> str:
    [value] = re.findall(
        r'<input type="radio" name="digest" value="(\w+)"[^>]*\bchecked\b', page.content.decode()
    )
    return value


def digests(capture, period: str) -> list[str]:
    """Who got this period's digest."""
    before = len(mail.outbox)
    with capture(execute=True):
        services.digests_schedule(period=period)
    return sorted(address for m in mail.outbox[before:] for address in m.to)


# The page ----------------------------------------------------------------------------


def test_a_new_person_gets_the_weekly_digest_by_default(client):
    person = factories.person()
    client.force_login(person)

    page = client.get(PREFERENCES)

    assert page.status_code == 200
    assert checked_choice(page) == Frequency.WEEKLY
    assert services.preference_for(person).digest == Frequency.WEEKLY


@pytest.mark.parametrize("choice", [Frequency.DAILY, Frequency.NONE, Frequency.WEEKLY])
def test_a_person_can_choose_how_often_they_get_the_digest(client, choice):
    person = factories.person()
    client.force_login(person)

    page = client.post(PREFERENCES, {"digest": choice}, follow=True)

    assert page.redirect_chain == [(PREFERENCES, 302)]
    assert "Your digest preference was saved." in visible(page.content.decode())
    assert checked_choice(page) == choice
    assert services.preference_for(person).digest == choice


def test_an_unknown_frequency_is_refused_with_400_and_changes_nothing(client):
    person = factories.person()
    services.preference_set(person=person, digest=Frequency.DAILY)
    client.force_login(person)

    page = client.post(PREFERENCES, {"digest": "hourly"})

    assert page.status_code == 400
    assert "Select a valid choice." in visible(page.content.decode())
    assert services.preference_for(person).digest == Frequency.DAILY


def test_the_preferences_page_needs_signing_in(client):
    page = client.post(PREFERENCES, {"digest": Frequency.NONE})

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("accounts:sign-in"))


# Who gets which digest ---------------------------------------------------------------


@pytest.fixture
def choosers(monkeypatch):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    default = factories.person(username="default")
    weekly = factories.person(username="weekly")
    daily = factories.person(username="daily")
    nothing = factories.person(username="nothing")
    services.preference_set(person=weekly, digest=Frequency.WEEKLY)
    services.preference_set(person=daily, digest=Frequency.DAILY)
    services.preference_set(person=nothing, digest=Frequency.NONE)
    factories.person(username="gone", is_active=False)
    factories.person(username="no-address", email="")
    return default, weekly, daily, nothing


def test_the_weekly_digest_goes_to_weekly_people_and_those_who_never_chose(
    choosers, django_capture_on_commit_callbacks
):
    assert digests(django_capture_on_commit_callbacks, Frequency.WEEKLY) == [
        "default@example.test",
        "weekly@example.test",
    ]


def test_the_daily_digest_goes_to_daily_people_only(choosers, django_capture_on_commit_callbacks):
    assert digests(django_capture_on_commit_callbacks, Frequency.DAILY) == ["daily@example.test"]


def test_people_who_chose_no_digest_get_none_on_any_day(
    choosers, monkeypatch, django_capture_on_commit_callbacks
):
    for day in range(8):
        travel_to(monkeypatch, days_after(DIGEST_DAY, day), hour=7)
        for period in (Frequency.DAILY, Frequency.WEEKLY):
            digests(django_capture_on_commit_callbacks, period)

    got = outbox_recipients()
    assert "nothing@example.test" not in got
    assert got.count("daily@example.test") == 8
    assert got.count("weekly@example.test") == got.count("default@example.test") == 2


def test_the_daily_digest_goes_out_once_a_day(
    choosers, monkeypatch, django_capture_on_commit_callbacks
):
    first = digests(django_capture_on_commit_callbacks, Frequency.DAILY)
    again = digests(django_capture_on_commit_callbacks, Frequency.DAILY)
    travel_to(monkeypatch, days_after(DIGEST_DAY, 1), hour=7)
    tomorrow = digests(django_capture_on_commit_callbacks, Frequency.DAILY)

    assert (first, again, tomorrow) == (["daily@example.test"], [], ["daily@example.test"])


def test_an_unknown_period_is_refused():
    with pytest.raises(InvalidInput, match="daily or weekly"):
        services.digests_schedule(period=Frequency.NONE)


# Unsubscribing -----------------------------------------------------------------------


def test_an_unsubscribe_link_changes_only_its_persons_digest_and_keeps_their_follows():
    person, colleague = factories.person(), factories.person()
    services.preference_set(person=colleague, digest=Frequency.DAILY)
    concern = factories.open_concern()
    services.follow(person=person, concern=concern)
    link = reverse("notifications:unsubscribe", args=[services.unsubscribe_token(person)])

    page = Client(enforce_csrf_checks=True).post(link)

    assert page.status_code == 200
    assert services.preference_for(person).digest == Frequency.NONE
    assert services.preference_for(colleague).digest == Frequency.DAILY
    assert Follow.objects.filter(person=person, concern=concern).exists()


def test_an_unsubscribe_link_for_someone_who_left_is_refused():
    person = factories.person()
    link = reverse("notifications:unsubscribe", args=[services.unsubscribe_token(person)])
    person.delete()

    page = Client().post(link)

    assert page.status_code == 400
    assert "This unsubscribe link is not valid." in page.content.decode()


def test_a_link_signed_for_another_purpose_does_not_unsubscribe():
    person = factories.person()
    forged = signing.dumps({"person": person.pk}, compress=True)  # no unsubscribe salt

    page = Client().post(reverse("notifications:unsubscribe", args=[forged]))

    assert page.status_code == 400
    assert services.preference_for(person).digest == Frequency.WEEKLY
