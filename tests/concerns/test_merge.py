import datetime

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.models import Organisation
from concerns import services
from concerns.errors import IllegalTransition, InvalidInput, NotAllowed
from concerns.models import Status, Vote
from tests import factories

pytestmark = pytest.mark.django_db


def _vote(concern, *people):
    for voter in people:
        services.vote_cast(concern=concern, voter=voter)


def _count_shown(concern) -> int:
    concern.refresh_from_db()
    return concern.vote_count


def _votes_on(concern) -> int:
    return Vote.objects.filter(concern=concern).count()


def _page(client, concern) -> str:
    response = client.get(reverse("concerns:detail", args=[concern.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _close(concern):
    # No public service closes a concern yet; _transition is the one path that checks
    # the move is allowed and records it.
    with transaction.atomic():
        services._transition(services._locked(concern.pk), Status.CLOSED, actor=None)


@pytest.fixture
def mod():
    return factories.moderator(first_name="Morgan", last_name="Reviewer")


# Votes carry over ----------------------------------------------------------------------


def test_people_who_voted_on_both_concerns_are_counted_once_after_a_merge(mod):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    both = [factories.person() for _ in range(2)]
    only_duplicate = [factories.person() for _ in range(3)]
    only_target = [factories.person() for _ in range(4)]
    _vote(target, *both, *only_target)
    _vote(duplicate, *both, *only_duplicate)

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert _count_shown(target) == _votes_on(target) == 2 + 3 + 4


def test_every_person_who_voted_on_the_duplicate_now_supports_the_target(mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    carried = [factories.person() for _ in range(3)]
    _vote(duplicate, *carried)

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    for voter in carried:
        # Voting again on the target is a no-op: their vote is already there.
        assert services.vote_cast(concern=target, voter=voter) is False
    assert _count_shown(target) == 3


def test_the_duplicate_keeps_its_own_count_for_the_record(mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    _vote(duplicate, factories.person(), factories.person())

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert _count_shown(duplicate) == 2
    duplicate.refresh_from_db()
    assert duplicate.status == Status.MERGED
    assert duplicate.merged_into_id == target.pk


def test_a_carried_vote_keeps_the_day_it_was_cast(mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    _vote(duplicate, factories.person())
    long_ago = datetime.date(2020, 1, 31)
    Vote.objects.filter(concern=duplicate).update(cast_on=long_ago)

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert Vote.objects.get(concern=target).cast_on == long_ago


def test_a_deleted_persons_vote_still_carries_over(mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    leaving, staying = factories.person(), factories.person()
    _vote(duplicate, leaving, staying)
    leaving.delete()

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert _count_shown(target) == _votes_on(target) == 2


def test_a_merge_that_brings_no_new_supporters_leaves_the_count_alone(mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    people = [factories.person() for _ in range(2)]
    _vote(target, *people)
    _vote(duplicate, *people)

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert _count_shown(target) == _votes_on(target) == 2


def test_a_submitted_duplicate_can_be_merged_straight_from_the_queue(mod):
    target = factories.open_concern()
    duplicate = factories.submission().concern

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    duplicate.refresh_from_db()
    assert duplicate.status == Status.MERGED
    assert [e.to_status for e in duplicate.events.order_by("sequence")] == [
        Status.SUBMITTED,
        Status.IN_REVIEW,
        Status.MERGED,
    ]


def test_votes_can_be_merged_along_a_chain_without_counting_anyone_twice(mod):
    first, second, third = (factories.open_concern() for _ in range(3))
    a, b, c = factories.person(), factories.person(), factories.person()
    _vote(first, a, b)
    _vote(second, b, c)
    _vote(third, c)

    services.concern_merge(concern=first, into=second, moderator=mod)
    services.concern_merge(concern=second, into=third, moderator=mod)

    assert _count_shown(third) == _votes_on(third) == 3


# What people see -----------------------------------------------------------------------


def test_a_person_whose_vote_was_carried_over_sees_it_on_the_target(client, mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    voter = factories.person()
    _vote(duplicate, voter)
    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    client.force_login(voter)
    page = _page(client, target)
    listing = client.get(reverse("concerns:list")).content.decode()

    assert "✓ You support this" in page
    assert "✓ you voted" in listing


def test_a_person_whose_vote_was_carried_over_can_withdraw_it_on_the_target(client, mod):
    target, duplicate = factories.open_concern(), factories.open_concern()
    voter, other = factories.person(), factories.person()
    _vote(duplicate, voter, other)
    services.concern_merge(concern=duplicate, into=target, moderator=mod)
    client.force_login(voter)

    response = client.post(
        reverse("concerns:vote", args=[target.pk]), {"action": "retract"}, follow=True
    )

    page = response.content.decode()
    assert "Your vote was withdrawn." in page
    assert "Support this concern" in page
    assert '<span class="count">1</span> vote' in page
    assert _count_shown(target) == _votes_on(target) == 1


def test_the_duplicate_page_says_where_it_was_merged_with_a_link(client, mod):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    services.concern_merge(concern=duplicate, into=target, moderator=mod)
    client.force_login(factories.person())

    page = _page(client, duplicate)

    assert (
        f'This concern was merged into <a href="{target.get_absolute_url()}">Canteen prices</a>'
        in page
    )
    assert "Merged</strong>" in page
    assert "by Morgan Reviewer" in page
    assert "Support this concern" not in page


def test_the_target_page_lists_what_was_merged_into_it(client, mod):
    target = factories.open_concern(title="Canteen prices")
    first = factories.open_concern(title="Food is too expensive")
    second = factories.open_concern(title="Coffee went up again")
    services.concern_merge(concern=first, into=target, moderator=mod)
    services.concern_merge(concern=second, into=target, moderator=mod)
    client.force_login(factories.person())

    page = _page(client, target)

    section = page[page.index("Merged into this concern") :]
    assert f'<a href="{first.get_absolute_url()}">Food is too expensive</a>' in section
    assert f'<a href="{second.get_absolute_url()}">Coffee went up again</a>' in section
    # Alphabetical, so the list reads the same for everyone.
    assert section.index("Coffee went up again") < section.index("Food is too expensive")


def test_a_merged_concern_is_no_longer_listed_but_its_target_is(client, mod):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    services.concern_merge(concern=duplicate, into=target, moderator=mod)
    client.force_login(factories.person())

    listing = client.get(reverse("concerns:list")).content.decode()

    assert "Canteen prices" in listing
    assert "Food is too expensive" not in listing


def test_a_moderator_merges_from_the_page_and_is_sent_back_to_the_queue(client, mod):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.submission(title="Food is too expensive").concern
    _vote(target, factories.person())
    client.force_login(mod)

    response = client.post(
        reverse("concerns:moderate", args=[duplicate.pk, "merge"]),
        {"into": str(target.pk)},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("concerns:moderation")
    assert "Merged. Its votes were carried over." in response.content.decode()
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == target.pk


def test_someone_who_is_not_a_moderator_cannot_merge(client):
    target, duplicate = factories.open_concern(), factories.open_concern()
    person = factories.person()

    with pytest.raises(NotAllowed, match="Only moderators"):
        services.concern_merge(concern=duplicate, into=target, moderator=person)

    client.force_login(person)
    response = client.post(
        reverse("concerns:moderate", args=[duplicate.pk, "merge"]), {"into": str(target.pk)}
    )
    assert response.status_code == 403
    duplicate.refresh_from_db()
    assert duplicate.status == Status.OPEN


# Refused merges ------------------------------------------------------------------------


def test_a_concern_cannot_be_merged_into_itself(mod):
    concern = factories.open_concern()
    _vote(concern, factories.person())

    with pytest.raises(InvalidInput) as refused:
        services.concern_merge(concern=concern, into=concern, moderator=mod)

    assert str(refused.value) == "A concern cannot be merged into itself."
    concern.refresh_from_db()
    assert concern.status == Status.OPEN
    assert _count_shown(concern) == 1


def test_merging_a_concern_into_itself_on_the_page_shows_why_not(client, mod):
    concern = factories.open_concern()
    client.force_login(mod)

    response = client.post(
        reverse("concerns:moderate", args=[concern.pk, "merge"]),
        {"into": str(concern.pk)},
        follow=True,
    )

    assert "A concern cannot be merged into itself." in response.content.decode()
    concern.refresh_from_db()
    assert concern.status == Status.OPEN


def _closed_target():
    target = factories.open_concern(title="Old canteen concern")
    _close(target)
    return target


def _submitted_target():
    return factories.submission(title="Old canteen concern").concern


def _merged_target():
    target = factories.open_concern(title="Old canteen concern")
    services.concern_merge(
        concern=target, into=factories.open_concern(), moderator=factories.moderator()
    )
    return target


@pytest.mark.parametrize(
    ("make_target", "label"),
    [(_closed_target, "closed"), (_submitted_target, "submitted"), (_merged_target, "merged")],
    ids=["closed", "submitted", "merged"],
)
def test_merging_into_a_concern_that_is_not_open_is_refused_and_changes_nothing(
    mod, make_target, label
):
    target = make_target()
    duplicate = factories.open_concern()
    _vote(duplicate, factories.person())
    target_votes = _count_shown(target)

    with pytest.raises(IllegalTransition) as refused:
        services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert str(refused.value) == (
        f"Concerns can only be merged into an open one; “Old canteen concern” is {label}."
    )
    duplicate.refresh_from_db()
    assert duplicate.status == Status.OPEN
    assert duplicate.merged_into_id is None
    assert _count_shown(target) == target_votes


def test_a_closed_concern_cannot_be_merged_away(mod):
    duplicate = factories.open_concern()
    _close(duplicate)

    with pytest.raises(IllegalTransition, match="A concern that is closed cannot become merged"):
        services.concern_merge(concern=duplicate, into=factories.open_concern(), moderator=mod)


# History -------------------------------------------------------------------------------


def test_both_histories_record_the_merge_with_the_moderator(mod):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    both, newcomer, other = factories.person(), factories.person(), factories.person()
    _vote(target, both)
    _vote(duplicate, both, newcomer, other)

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    on_duplicate = duplicate.events.order_by("sequence").last()
    assert (on_duplicate.from_status, on_duplicate.to_status) == (Status.OPEN, Status.MERGED)
    assert on_duplicate.actor == mod
    assert on_duplicate.note == "Merged into “Canteen prices”."
    assert on_duplicate.occurred_at is not None
    on_target = target.events.order_by("sequence").last()
    assert on_target.actor == mod
    assert on_target.from_status == on_target.to_status == Status.OPEN
    assert on_target.note == (
        "“Food is too expensive” was merged into this concern; 2 new supporters carried over."
    )


def test_the_target_history_says_one_supporter_in_the_singular(mod):
    target, duplicate = factories.open_concern(), factories.open_concern(title="Dup")
    _vote(duplicate, factories.person())

    services.concern_merge(concern=duplicate, into=target, moderator=mod)

    assert target.events.order_by("sequence").last().note == (
        "“Dup” was merged into this concern; 1 new supporter carried over."
    )


def test_the_target_page_history_shows_the_merge(client, mod):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    _vote(duplicate, factories.person())
    services.concern_merge(concern=duplicate, into=target, moderator=mod)
    client.force_login(factories.person())

    page = _page(client, target)

    history = page[page.index('id="history-h"') :]
    assert (
        "“Food is too expensive” was merged into this concern; 1 new supporter carried over."
        in history
    )


# Merges and the duty to respond --------------------------------------------------------


@pytest.fixture
def threshold_reached_by_merge(mod):
    """A target one merge short of the organisation's response threshold."""
    threshold = Organisation.current().response_vote_threshold
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    _vote(target, *(factories.person() for _ in range(threshold - 2)))
    _vote(duplicate, factories.person(), factories.person())
    services.concern_merge(concern=duplicate, into=target, moderator=mod)
    target.refresh_from_db()
    return target


def test_a_merge_that_brings_the_target_to_the_threshold_makes_a_response_due(
    threshold_reached_by_merge,
):
    assert threshold_reached_by_merge.status == Status.RESPONSE_DUE


def test_the_target_history_tells_the_merge_before_the_response_it_made_due(
    threshold_reached_by_merge,
):
    events = list(threshold_reached_by_merge.events.order_by("sequence"))

    merge_note = next(e for e in events if "was merged into this concern" in e.note)
    became_due = next(e for e in events if e.to_status == Status.RESPONSE_DUE)
    assert merge_note.sequence < became_due.sequence
    assert merge_note.to_status == Status.OPEN
