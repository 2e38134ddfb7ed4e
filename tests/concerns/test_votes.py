import hashlib

import pytest
from django.db import transaction
from django.urls import reverse

from concerns import services
from concerns.errors import IllegalTransition
from concerns.models import Status, Vote
from tests import factories

pytestmark = pytest.mark.django_db

SUPPORTING = "✓ You support this"
SUPPORT_BUTTON = "Support this concern"


def _votes_on(concern) -> int:
    return Vote.objects.filter(concern=concern).count()


def _count_shown(concern) -> int:
    concern.refresh_from_db()
    return concern.vote_count


def _page(client, concern) -> str:
    response = client.get(reverse("concerns:detail", args=[concern.pk]))
    assert response.status_code == 200
    return response.content.decode()


# Casting and retracting ----------------------------------------------------------------


def test_a_first_vote_is_counted():
    concern = factories.open_concern()

    assert services.vote_cast(concern=concern, voter=factories.person()) is True

    assert _count_shown(concern) == 1
    assert _votes_on(concern) == 1


def test_voting_twice_is_counted_once_and_says_so():
    concern = factories.open_concern()
    voter = factories.person()
    services.vote_cast(concern=concern, voter=voter)

    assert services.vote_cast(concern=concern, voter=voter) is False

    assert _count_shown(concern) == 1
    assert _votes_on(concern) == 1


def test_retracting_removes_the_vote_and_a_second_retract_changes_nothing():
    concern = factories.open_concern()
    voter = factories.person()
    services.vote_cast(concern=concern, voter=voter)

    assert services.vote_retract(concern=concern, voter=voter) is True
    assert services.vote_retract(concern=concern, voter=voter) is False

    assert _count_shown(concern) == 0
    assert _votes_on(concern) == 0


def test_retracting_without_having_voted_changes_nothing():
    concern = factories.open_concern()
    services.vote_cast(concern=concern, voter=factories.person())

    assert services.vote_retract(concern=concern, voter=factories.person()) is False

    assert _count_shown(concern) == 1


def test_a_person_can_vote_again_after_retracting():
    concern = factories.open_concern()
    voter = factories.person()
    services.vote_cast(concern=concern, voter=voter)
    services.vote_retract(concern=concern, voter=voter)

    assert services.vote_cast(concern=concern, voter=voter) is True

    assert _count_shown(concern) == 1


def test_the_shown_count_always_equals_the_stored_votes():
    concern = factories.open_concern()
    people = [factories.person() for _ in range(6)]
    for voter in people:
        services.vote_cast(concern=concern, voter=voter)
    services.vote_cast(concern=concern, voter=people[0])
    services.vote_retract(concern=concern, voter=people[1])
    services.vote_retract(concern=concern, voter=people[1])
    services.vote_retract(concern=concern, voter=factories.person())

    assert _count_shown(concern) == _votes_on(concern) == 5


def test_one_persons_votes_on_two_concerns_are_counted_separately():
    first, second = factories.open_concern(), factories.open_concern()
    voter = factories.person()

    services.vote_cast(concern=first, voter=voter)
    services.vote_cast(concern=second, voter=voter)
    services.vote_retract(concern=first, voter=voter)

    assert (_count_shown(first), _count_shown(second)) == (0, 1)


@pytest.mark.parametrize("status", [Status.RESPONSE_DUE, Status.ANSWERED])
def test_concerns_awaiting_or_holding_an_answer_still_take_votes(status):
    concern = factories.open_concern()
    _move(concern, Status.RESPONSE_DUE)
    if status == Status.ANSWERED:
        _move(concern, Status.ANSWERED)

    assert services.vote_cast(concern=concern, voter=factories.person()) is True


# Refused votes -------------------------------------------------------------------------


def _move(concern, to_status):
    # No public service answers or closes a concern yet; _transition is the one path
    # that checks the move is allowed and records it in the history.
    with transaction.atomic():
        locked = services._locked(concern.pk)
        services._transition(locked, to_status, actor=factories.moderator())


def _submitted():
    return factories.submission().concern


def _rejected():
    concern = factories.submission().concern
    return services.concern_reject(
        concern=concern, moderator=factories.moderator(), reason="Not a concern."
    )


def _merged():
    duplicate = factories.open_concern()
    return services.concern_merge(
        concern=duplicate, into=factories.open_concern(), moderator=factories.moderator()
    )


def _withdrawn():
    author = factories.person()
    concern = factories.open_concern(author=author)
    return services.concern_withdraw(concern=concern, author=author)


def _closed():
    concern = factories.open_concern()
    _move(concern, Status.CLOSED)
    return concern


CLOSED_TO_VOTES = {
    "submitted": _submitted,
    "rejected": _rejected,
    "merged": _merged,
    "withdrawn": _withdrawn,
    "closed": _closed,
}


@pytest.mark.parametrize("label", CLOSED_TO_VOTES)
def test_votes_are_refused_with_a_clear_message_when_a_concern_is_not_open(label):
    concern = CLOSED_TO_VOTES[label]()
    before = _count_shown(concern)

    with pytest.raises(IllegalTransition) as refused:
        services.vote_cast(concern=concern, voter=factories.person())

    assert str(refused.value) == f"Votes are closed: this concern is {label}."
    assert _count_shown(concern) == before
    assert _votes_on(concern) == before


def test_a_vote_cast_while_open_cannot_be_retracted_after_the_concern_is_withdrawn():
    author = factories.person()
    concern = factories.open_concern(author=author)
    voter = factories.person()
    services.vote_cast(concern=concern, voter=voter)
    services.concern_withdraw(concern=concern, author=author)

    with pytest.raises(IllegalTransition, match="Votes are closed: this concern is withdrawn"):
        services.vote_retract(concern=concern, voter=voter)

    assert _count_shown(concern) == _votes_on(concern) == 1


def test_a_stale_copy_of_a_concern_cannot_sneak_a_vote_past_its_new_status():
    author = factories.person()
    concern = factories.open_concern(author=author)
    stale = type(concern).objects.get(pk=concern.pk)
    services.concern_withdraw(concern=concern, author=author)

    with pytest.raises(IllegalTransition):
        services.vote_cast(concern=stale, voter=factories.person())

    assert _votes_on(concern) == 0


# What a vote stores ------------------------------------------------------------------


def test_the_vote_row_stores_no_user_id_or_anything_else_about_the_voter():
    concern = factories.open_concern()
    voter = factories.person(username="dana", email="dana@example.test")
    services.vote_cast(concern=concern, voter=voter)

    fields = {f.name for f in Vote._meta.get_fields()}
    assert fields == {"id", "concern", "voter_hash", "cast_on"}
    row = Vote.objects.filter(concern=concern).values().get()
    stored = " ".join(str(v) for v in row.values())
    for identifying in (voter.username, voter.email, voter.last_name):
        assert identifying not in stored
    assert row["voter_hash"] not in {str(voter.pk), f"{voter.pk}:{concern.pk}"}
    # Not a plain hash anyone could recompute from a copy of the database.
    plain = hashlib.sha256(f"{voter.pk}:{concern.pk}".encode()).hexdigest()
    assert row["voter_hash"] != plain


def test_the_vote_hash_depends_on_the_secret_key(settings):
    concern = factories.open_concern()
    voter = factories.person()
    services.vote_cast(concern=concern, voter=voter)
    settings.ANONYMITY_KEY = "another-key-entirely-another-key-entirely"

    # With a different key the same person is a stranger to their own vote.
    assert services.vote_cast(concern=concern, voter=voter) is True
    assert _votes_on(concern) == 2


def test_a_vote_stores_only_the_date():
    concern = factories.open_concern()
    services.vote_cast(concern=concern, voter=factories.person())

    cast_on = Vote.objects.get(concern=concern).cast_on

    assert not hasattr(cast_on, "hour")


# Pages ---------------------------------------------------------------------------------


def test_the_detail_page_tells_only_the_voter_that_they_support_the_concern(client):
    concern = factories.open_concern()
    voter, colleague = factories.person(), factories.person()
    services.vote_cast(concern=concern, voter=voter)

    client.force_login(voter)
    voter_sees = _page(client, concern)
    client.force_login(colleague)
    colleague_sees = _page(client, concern)

    assert SUPPORTING in voter_sees
    assert SUPPORT_BUTTON not in voter_sees
    assert SUPPORTING not in colleague_sees
    assert SUPPORT_BUTTON in colleague_sees
    assert '<span class="count">1</span> vote' in colleague_sees


def test_the_list_marks_only_the_concerns_the_viewer_voted_for(client):
    supported = factories.open_concern(title="Supported one")
    factories.open_concern(title="Other one")
    voter = factories.person()
    services.vote_cast(concern=supported, voter=voter)

    client.force_login(voter)
    page = client.get(reverse("concerns:list")).content.decode()
    client.force_login(factories.person())
    other_page = client.get(reverse("concerns:list")).content.decode()

    assert page.count("✓ you voted") == 1
    assert page.index("Supported one") < page.index("✓ you voted") < page.index("Other one")
    assert "✓ you voted" not in other_page


def test_voting_on_the_page_counts_the_vote_and_shows_it(client):
    concern = factories.open_concern()
    voter = factories.person()
    client.force_login(voter)

    response = client.post(
        reverse("concerns:vote", args=[concern.pk]), {"action": "cast"}, follow=True
    )

    page = response.content.decode()
    assert response.redirect_chain == [(reverse("concerns:detail", args=[concern.pk]), 302)]
    assert "Your vote was counted. Nobody can see who voted." in page
    assert SUPPORTING in page
    assert '<span class="count">1</span> vote' in page


def test_pressing_support_twice_on_the_page_still_counts_one_vote(client):
    concern = factories.open_concern()
    client.force_login(factories.person())
    url = reverse("concerns:vote", args=[concern.pk])

    client.post(url, {"action": "cast"})
    page = client.post(url, {"action": "cast"}, follow=True).content.decode()

    assert '<span class="count">1</span> vote' in page
    assert _count_shown(concern) == _votes_on(concern) == 1


def test_withdrawing_a_vote_on_the_page_removes_it(client):
    concern = factories.open_concern()
    voter = factories.person()
    services.vote_cast(concern=concern, voter=voter)
    client.force_login(voter)

    response = client.post(
        reverse("concerns:vote", args=[concern.pk]), {"action": "retract"}, follow=True
    )

    page = response.content.decode()
    assert "Your vote was withdrawn." in page
    assert SUPPORTING not in page
    assert SUPPORT_BUTTON in page
    assert '<span class="count">0</span> votes' in page
    assert _votes_on(concern) == 0


def test_voting_on_a_merged_concern_on_the_page_shows_why_it_was_refused(client):
    concern = _merged()
    client.force_login(factories.person())

    response = client.post(
        reverse("concerns:vote", args=[concern.pk]), {"action": "cast"}, follow=True
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Votes are closed: this concern is merged." in page
    assert "Your vote was counted" not in page
    assert SUPPORT_BUTTON not in page
    assert _votes_on(concern) == 0


def test_a_closed_concern_shows_its_count_but_no_vote_button(client):
    concern = factories.open_concern()
    services.vote_cast(concern=concern, voter=factories.person())
    _move(concern, Status.CLOSED)
    client.force_login(factories.person())

    page = _page(client, concern)

    assert '<span class="count">1</span> vote' in page
    assert SUPPORT_BUTTON not in page


def test_someone_signed_out_cannot_vote(client):
    concern = factories.open_concern()

    response = client.post(reverse("concerns:vote", args=[concern.pk]), {"action": "cast"})

    assert response.status_code == 302
    assert reverse("accounts:sign-in") in response["Location"]
    assert _votes_on(concern) == 0


def test_a_vote_link_opened_with_get_changes_nothing(client):
    concern = factories.open_concern()
    client.force_login(factories.person())

    response = client.get(reverse("concerns:vote", args=[concern.pk]))

    assert response.status_code == 405
    assert _votes_on(concern) == 0


def test_voting_on_a_concern_that_does_not_exist_is_not_found(client):
    client.force_login(factories.person())

    response = client.post(
        reverse("concerns:vote", args=["00000000-0000-4000-8000-000000000000"]),
        {"action": "cast"},
    )

    assert response.status_code == 404


# Cost of a vote ----------------------------------------------------------------------


def test_a_vote_through_the_api_is_four_statements_in_one_transaction(
    django_assert_num_queries,
):
    """Token, lock, insert, count update, and nothing else: the threshold and the map
    of concerns shown in live meetings come from the cache. Inside the test's own
    transaction, the vote's transaction shows as a savepoint and its release."""
    from django.test import Client

    from accounts.services import api_token_create

    concern = factories.open_concern()
    voters = [factories.person() for _ in range(2)]
    secrets_ = [api_token_create(person=p, name="bot").secret for p in voters]
    url = reverse("api:vote", args=[concern.pk])
    client = Client()
    # The first use of a token each day records the date; a first vote warms the cache.
    for secret in secrets_:
        client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.post(url, HTTP_AUTHORIZATION=f"Bearer {secrets_[0]}")

    with django_assert_num_queries(6):
        answer = client.post(url, HTTP_AUTHORIZATION=f"Bearer {secrets_[1]}")
    assert answer.json() == {"changed": True, "vote_count": 2, "viewer_has_voted": True}

    with django_assert_num_queries(5):  # the insert finds the vote and stops there
        again = client.post(url, HTTP_AUTHORIZATION=f"Bearer {secrets_[1]}")
    assert again.json() == {"changed": False, "vote_count": 2, "viewer_has_voted": True}

    with django_assert_num_queries(6):
        retracted = client.delete(url, HTTP_AUTHORIZATION=f"Bearer {secrets_[1]}")
    assert retracted.json() == {"changed": True, "vote_count": 1, "viewer_has_voted": False}
