"""Votes and merges from many people at once, on PostgreSQL, where the row locks live.

Each thread has its own database connection and closes it when done. Threads start
together at a barrier; where a test needs a fixed order (a vote arriving during a
merge), it holds a transaction open and waits until PostgreSQL reports the others
blocked on its lock, so the interleaving is forced rather than hoped for.
"""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from concerns import services
from concerns.anonymity import voter_hash
from concerns.errors import IllegalTransition
from concerns.models import Concern, Status, Vote
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30


class Crowd:
    """Threads, each with its own connection, released together at a barrier."""

    def __init__(self, actions: list[Callable[[], object]]):
        self.actions = actions
        self.outcomes: list[object] = [None] * len(actions)
        self._barrier = threading.Barrier(len(actions), timeout=TIMEOUT)
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(actions))
        ]

    def _run(self, i: int) -> None:
        try:
            connection.ensure_connection()  # connect before the barrier, not after it
            self._barrier.wait()
            self.outcomes[i] = self.actions[i]()
        except BaseException as error:  # the test reports it
            self.outcomes[i] = error
        finally:
            connection.close()

    def start(self) -> "Crowd":
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> list[object]:
        for thread in self._threads:
            thread.join(TIMEOUT)
        assert not any(t.is_alive() for t in self._threads), "a thread never finished"
        return self.outcomes


def _together(actions: list[Callable[[], object]]) -> list[object]:
    return Crowd(actions).start().join()


def _wait_until_blocked(n: int) -> None:
    """Waits until `n` other sessions on this database wait for a lock."""
    deadline = time.monotonic() + TIMEOUT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Statistics views are frozen for the rest of a transaction otherwise.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] >= n:
                return
            time.sleep(0.02)
    pytest.fail(f"{n} sessions never queued behind the lock")


def _errors(outcomes: list[object]) -> list[BaseException]:
    return [o for o in outcomes if isinstance(o, BaseException)]


def _cast(concern, person) -> Callable[[], bool]:
    return lambda: services.vote_cast(concern=concern, voter=person)


def _state(concern) -> tuple[int, int]:
    """(the count people see, the vote rows behind it)."""
    concern.refresh_from_db()
    return concern.vote_count, Vote.objects.filter(concern=concern).count()


def _supporters(concern, people) -> set:
    """Which of these people the stored votes say support the concern."""
    stored = set(Vote.objects.filter(concern=concern).values_list("voter_hash", flat=True))
    return {p.pk for p in people if voter_hash(person_id=p.pk, concern_id=concern.pk) in stored}


def _vote(concern, *people):
    for person in people:
        services.vote_cast(concern=concern, voter=person)


def test_fifty_people_voting_at_once_are_each_counted_exactly_as_they_intended():
    concern = factories.open_concern()
    once = [factories.person() for _ in range(30)]
    twice = [factories.person() for _ in range(10)]
    change_their_mind = [factories.person() for _ in range(10)]
    leaving = [factories.person() for _ in range(5)]
    _vote(concern, *leaving)

    def cast_then_retract(person):
        def act():
            services.vote_cast(concern=concern, voter=person)
            return services.vote_retract(concern=concern, voter=person)

        return act

    actions = (
        [_cast(concern, p) for p in once]
        # Two tabs, one click each, at the same moment.
        + [_cast(concern, p) for p in twice]
        + [_cast(concern, p) for p in twice]
        + [cast_then_retract(p) for p in change_their_mind]
        + [(lambda p=p: services.vote_retract(concern=concern, voter=p)) for p in leaving]
    )
    outcomes = _together(actions)

    assert _errors(outcomes) == []
    intend_to_vote = once + twice
    assert _state(concern) == (len(intend_to_vote), len(intend_to_vote))
    everyone = once + twice + change_their_mind + leaving
    assert _supporters(concern, everyone) == {p.pk for p in intend_to_vote}
    # Of each person's two simultaneous clicks, exactly one was counted.
    first_clicks, second_clicks = outcomes[30:40], outcomes[40:50]
    assert [{a, b} for a, b in zip(first_clicks, second_clicks, strict=True)] == [
        {True, False}
    ] * 10
    assert outcomes[:30] == [True] * 30
    assert outcomes[50:] == [True] * 15


def test_the_same_person_clicking_support_from_many_tabs_at_once_counts_once():
    concern = factories.open_concern()
    person = factories.person()

    outcomes = _together([_cast(concern, person) for _ in range(20)])

    assert _errors(outcomes) == []
    assert sorted(outcomes) == [False] * 19 + [True]
    assert _state(concern) == (1, 1)


def test_votes_on_different_concerns_at_once_do_not_disturb_each_other():
    concerns = [factories.open_concern() for _ in range(5)]
    people = [factories.person() for _ in range(10)]

    outcomes = _together([_cast(c, p) for c in concerns for p in people])

    assert _errors(outcomes) == []
    for concern in concerns:
        assert _state(concern) == (10, 10)


# Merging while people vote -------------------------------------------------------------


def test_votes_arriving_on_a_duplicate_during_its_merge_are_refused_and_nobody_counts_twice():
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    moderator = factories.moderator()
    on_duplicate, on_both, on_target = factories.person(), factories.person(), factories.person()
    _vote(duplicate, on_duplicate, on_both)
    _vote(target, on_both, on_target)
    latecomers = [factories.person() for _ in range(10)]
    newcomer = factories.person()

    with transaction.atomic():
        services.concern_merge(concern=duplicate, into=target, moderator=moderator)
        crowd = Crowd(
            [_cast(duplicate, p) for p in latecomers]
            # People whose vote is being carried over try the target meanwhile.
            + [_cast(target, on_duplicate), _cast(target, on_both), _cast(target, newcomer)]
        ).start()
        _wait_until_blocked(len(latecomers) + 3)
    outcomes = crowd.join()

    refused = outcomes[: len(latecomers)]
    assert all(isinstance(o, IllegalTransition) for o in refused), refused
    assert {str(o) for o in refused} == {"Votes are closed: this concern is merged."}
    assert outcomes[len(latecomers) :] == [False, False, True]
    supporters = [on_duplicate, on_both, on_target, newcomer]
    assert _state(target) == (4, 4)
    assert _supporters(target, supporters + latecomers) == {p.pk for p in supporters}


@pytest.mark.parametrize("already_supports_target", [False, True], ids=["new", "on-both"])
def test_a_vote_in_flight_when_a_merge_starts_is_carried_over_exactly_once(
    already_supports_target,
):
    target = factories.open_concern(title="Canteen prices")
    duplicate = factories.open_concern(title="Food is too expensive")
    moderator = factories.moderator()
    earlier, voter = factories.person(), factories.person()
    _vote(duplicate, earlier)
    _vote(target, earlier)
    if already_supports_target:
        _vote(target, voter)
    in_flight, release = threading.Event(), threading.Event()

    def vote_slowly():
        with transaction.atomic():
            counted = services.vote_cast(concern=duplicate, voter=voter)
            in_flight.set()
            release.wait(TIMEOUT)
        return counted

    voting = Crowd([vote_slowly]).start()
    assert in_flight.wait(TIMEOUT)
    merging = Crowd(
        [lambda: services.concern_merge(concern=duplicate, into=target, moderator=moderator)]
    ).start()
    _wait_until_blocked(1)
    release.set()
    vote_outcome, merge_outcome = voting.join()[0], merging.join()[0]

    assert vote_outcome is True
    assert not isinstance(merge_outcome, BaseException), merge_outcome
    assert _state(target) == (2, 2)
    assert _supporters(target, [earlier, voter]) == {earlier.pk, voter.pk}


def test_two_duplicates_merged_at_once_into_one_concern_count_each_person_once():
    target = factories.open_concern()
    first, second = factories.open_concern(), factories.open_concern()
    moderators = [factories.moderator(), factories.moderator()]
    # Each duplicate stays below the organisation's threshold for a written response
    # (10 by default): a concern with a response due can no longer be merged away.
    on_everything = factories.person()
    on_duplicates = [factories.person() for _ in range(4)]
    only_first = [factories.person() for _ in range(2)]
    only_second = [factories.person() for _ in range(3)]
    voting_meanwhile = [factories.person() for _ in range(20)]
    _vote(target, on_everything)
    _vote(first, on_everything, *on_duplicates, *only_first)
    _vote(second, on_everything, *on_duplicates, *only_second)

    outcomes = _together(
        [
            lambda: services.concern_merge(concern=first, into=target, moderator=moderators[0]),
            lambda: services.concern_merge(concern=second, into=target, moderator=moderators[1]),
        ]
        + [_cast(target, p) for p in voting_meanwhile]
    )

    assert _errors(outcomes) == []
    expected = 1 + len(on_duplicates) + len(only_first) + len(only_second) + len(voting_meanwhile)
    assert _state(target) == (expected, expected)


def test_merging_two_concerns_into_each_other_at_once_merges_one_and_refuses_the_other():
    a = factories.open_concern(title="Parking permits")
    b = factories.open_concern(title="Car park spaces")
    moderators = [factories.moderator(), factories.moderator()]
    voter = factories.person()
    _vote(a, voter)
    _vote(b, voter)

    outcomes = _together(
        [
            lambda: services.concern_merge(concern=a, into=b, moderator=moderators[0]),
            lambda: services.concern_merge(concern=b, into=a, moderator=moderators[1]),
        ]
    )

    errors = _errors(outcomes)
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], IllegalTransition)
    assert "Concerns can only be merged into an open one" in str(errors[0])
    statuses = sorted(Concern.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True))
    assert statuses == sorted([Status.MERGED, Status.OPEN])
    survivor = Concern.objects.get(pk__in=[a.pk, b.pk], status=Status.OPEN)
    assert _state(survivor) == (1, 1)
