"""Small groups: the one rule for every figure broken down by a group of people.

A breakdown is a list of groups (a department, a tag), each standing for a set of
people and carrying figures about them. Nobody reading a breakdown may learn a figure
about fewer than k people (`ANONYMITY_MIN_GROUP_SIZE`, default 5):

1. Primary suppression: a group that stands for fewer than k people is hidden.
2. Complementary suppression: the reader is assumed to know the breakdown's total,
   the sum over every group, whether or not a page prints it (the concern list and
   the per-leader figures let anyone count organisation-wide totals). Subtracting the
   shown groups from it yields the hidden groups' figures added together. So while
   the hidden groups together stand for fewer than k people (always the case while
   only one group is hidden, since a lone hidden group is a small one), the smallest
   group still shown is hidden too. Two or more hidden groups that together stand
   for at least k people give away only their sum, which is a figure about k people
   or more; no single one of them can be worked out from the total.
   If even hiding every group cannot reach k people, every group is hidden.

A group's people are a set of identifiers, not a count, so that groups which share
people (tags, whose concerns can come from the same authors) are not counted twice
when hidden groups are added up. People nobody can know, such as anonymous
submitters, are in no set: a group is only as large as the people it is known to
stand for.

Hidden groups leave this module as a number only: their names, sizes and figures are
never handed to a template or a serializer.
"""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Group:
    """One row of a breakdown before the rule is applied."""

    key: Hashable
    label: str
    people: frozenset
    figures: Mapping[str, int]


@dataclass(frozen=True)
class ShownGroup:
    """A row that may be shown: at least k people, and not needed to hide another."""

    key: Hashable
    label: str
    people: int
    figures: Mapping[str, int]


@dataclass(frozen=True)
class Breakdown:
    shown: tuple[ShownGroup, ...]
    hidden: int  # how many groups are hidden, and nothing else about them
    min_group_size: int

    def __bool__(self) -> bool:
        return bool(self.shown or self.hidden)


def min_group_size() -> int:
    return settings.ANONYMITY_MIN_GROUP_SIZE


def breakdown(groups: Iterable[Group], *, k: int | None = None) -> Breakdown:
    """Applies primary and complementary suppression; keeps the order of `groups`."""
    k = min_group_size() if k is None else k
    groups = list(groups)
    hidden = {group.key for group in groups if len(group.people) < k}
    if hidden:
        # The smallest groups go first, so the figures that stay are as many as can be.
        candidates = sorted(
            (group for group in groups if group.key not in hidden),
            key=lambda group: (len(group.people), group.label),
        )
        hidden_people = frozenset().union(*(g.people for g in groups if g.key in hidden))
        for group in candidates:
            if len(hidden_people) >= k:
                break
            hidden.add(group.key)
            hidden_people |= group.people
    return Breakdown(
        shown=tuple(
            ShownGroup(group.key, group.label, len(group.people), dict(group.figures))
            for group in groups
            if group.key not in hidden
        ),
        hidden=len(hidden),
        min_group_size=k,
    )
