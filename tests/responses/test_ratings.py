"""Staff rate whether a response answered the concern. A rating carries no person;
when most of at least five raters say it did not answer, a new response is due."""

import hashlib

import pytest
from django.urls import reverse

from accounts.models import User
from concerns.errors import IllegalTransition, InvalidInput
from concerns.models import Status
from ledger.services import ledger_flush_deferred
from responses import services
from responses.models import Rating, RatingValue
from tests import factories
from tests.responses import (
    DAY_ONE,
    days_after,
    due_concern,
    ledger_payloads,
    publish,
    refreshed,
    rules,
    travel_to,
    visible_text,
)

pytestmark = pytest.mark.django_db

ANSWERED, PARTLY, NOT_ANSWERED = RatingValue.ANSWERED, RatingValue.PARTLY, RatingValue.NOT_ANSWERED


@pytest.fixture
def leader():
    return factories.leader(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def answered(leader, monkeypatch):
    travel_to(monkeypatch, DAY_ONE)
    rules(days=14)
    concern = due_concern(leader=leader)
    publish(concern, leader)
    return refreshed(concern)


def rate(concern, *values: str) -> list[User]:
    raters = [factories.person() for _ in values]
    for rater, value in zip(raters, values, strict=True):
        services.rating_cast(concern=concern, rater=rater, value=value)
    return raters


# One rating per person ---------------------------------------------------------------


def test_a_person_who_rates_again_changes_their_rating_instead_of_adding_one(client, answered):
    rater = factories.person()
    client.force_login(rater)
    url = reverse("responses:rate", args=[answered.pk])

    client.post(url, {"value": ANSWERED})
    response = client.post(url, {"value": NOT_ANSWERED}, follow=True)

    assert list(Rating.objects.values_list("value", flat=True)) == [NOT_ANSWERED]
    text = visible_text(response)
    assert "Thank you. Your rating is counted without your name." in text
    assert "It answered the concern: 0" in text
    assert "It did not answer it: 1" in text
    assert "(1 rating of version 1)" in text
    assert "Your rating (you can change it)" in text
    assert f'value="{NOT_ANSWERED}" checked' in response.content.decode()


def test_a_rating_stores_no_person_only_a_keyed_hash(answered):
    rater = factories.person(username="rater-with-a-name")

    services.rating_cast(concern=answered, rater=rater, value=ANSWERED)

    row = Rating.objects.values().get()
    assert set(row) == {"id", "version_id", "rater_hash", "value", "rated_on"}
    assert not any(
        field.is_relation and field.related_model is User for field in Rating._meta.get_fields()
    )
    assert len(row["rater_hash"]) == 64
    # Keyed: someone holding only the database cannot recompute it for a suspect.
    unkeyed = hashlib.sha256(f"{rater.pk}:{row['version_id']}".encode()).hexdigest()
    assert row["rater_hash"] != unkeyed
    assert rater.username not in str(row.values())
    assert str(Rating.objects.get()) == "A rating"


def test_the_same_person_cannot_be_followed_from_one_version_to_the_next(answered, leader):
    rater = factories.person()
    services.rating_cast(concern=answered, rater=rater, value=NOT_ANSWERED)
    publish(answered, leader, summary="A better answer.", reason="Staff asked for more.")

    services.rating_cast(concern=answered, rater=rater, value=ANSWERED)

    first, second = Rating.objects.order_by("version__number").values_list("rater_hash", flat=True)
    assert first != second


def test_a_rating_needs_a_published_response(client, leader):
    concern = due_concern(leader=leader)
    rater = factories.person()

    with pytest.raises(IllegalTransition, match="There is no published response to rate yet."):
        services.rating_cast(concern=concern, rater=rater, value=ANSWERED)

    client.force_login(rater)
    response = client.post(
        reverse("responses:rate", args=[concern.pk]), {"value": ANSWERED}, follow=True
    )
    assert "There is no published response to rate yet." in visible_text(response)
    assert not Rating.objects.exists()


def test_a_rating_must_be_one_of_the_offered_answers(client, answered):
    with pytest.raises(InvalidInput):
        services.rating_cast(concern=answered, rater=factories.person(), value="meh")

    client.force_login(factories.person())
    response = client.post(
        reverse("responses:rate", args=[answered.pk]), {"value": "meh"}, follow=True
    )
    assert "Choose whether the response answered the concern." in visible_text(response)
    assert not Rating.objects.exists()


def test_ratings_count_for_the_latest_version_only(client, answered, leader):
    rate(answered, NOT_ANSWERED, NOT_ANSWERED)
    publish(answered, leader, summary="A better answer.", reason="Staff asked for more.")
    rate(answered, ANSWERED)
    client.force_login(factories.person())

    text = visible_text(client.get(answered.get_absolute_url()))

    assert "It did not answer it: 0" in text
    assert "(1 rating of version 2)" in text


# Escalation --------------------------------------------------------------------------


def test_five_raters_with_a_majority_not_answered_make_a_new_response_due(answered, monkeypatch):
    rating_day = days_after(DAY_ONE, 20)
    travel_to(monkeypatch, rating_day)

    rate(answered, NOT_ANSWERED, ANSWERED, NOT_ANSWERED, PARTLY, NOT_ANSWERED)

    concern = refreshed(answered)
    assert concern.status == Status.RESPONSE_DUE
    assert concern.escalated_on == rating_day
    assert concern.response_due_since == rating_day
    assert concern.response_due_on == days_after(rating_day, 14)
    assert concern.events.order_by("-sequence").first().note == (
        "3 of 5 staff said version 1 did not answer the concern: a new response is due."
    )
    # The deciding rating must not be timable: the ledger hears of it with the batch.
    assert ledger_payloads("concern.status")[-1]["to"] == "answered"

    ledger_flush_deferred()

    assert ledger_payloads("concern.status")[-1]["to"] == "response_due"


def test_an_escalated_concern_shows_it_is_due_again_and_can_be_answered_anew(
    client, answered, leader, monkeypatch
):
    rate(answered, *[NOT_ANSWERED] * 5)
    client.force_login(factories.person())
    assert "A written response was due by 17 Mar 2031 from Ada Lovelace." in visible_text(
        client.get(answered.get_absolute_url())
    )

    publish(answered, leader, summary="A full answer.", reason="Staff said we missed the point.")

    assert refreshed(answered).status == Status.ANSWERED


@pytest.mark.parametrize(
    "values",
    [
        [NOT_ANSWERED] * 4,
        [NOT_ANSWERED, NOT_ANSWERED, PARTLY, PARTLY, ANSWERED],
        [ANSWERED, ANSWERED, PARTLY, NOT_ANSWERED, NOT_ANSWERED, NOT_ANSWERED],
    ],
    ids=["four raters", "no majority of five", "exactly half of six"],
)
def test_too_few_raters_or_no_majority_leave_the_response_standing(answered, values):
    rate(answered, *values)

    concern = refreshed(answered)
    assert concern.status == Status.ANSWERED
    assert concern.escalated_on is None


def test_a_changed_rating_can_tip_the_majority(answered):
    raters = rate(answered, NOT_ANSWERED, NOT_ANSWERED, ANSWERED, ANSWERED, PARTLY)
    assert refreshed(answered).status == Status.ANSWERED

    services.rating_cast(concern=answered, rater=raters[-1], value=NOT_ANSWERED)

    assert refreshed(answered).status == Status.RESPONSE_DUE
    assert Rating.objects.count() == 5
