"""Small groups: no output lets anyone learn something about fewer than
ANONYMITY_MIN_GROUP_SIZE (k) people.

Naming a department next to a concern: a department with fewer than k active people
is never named, and an anonymous concern cannot name one at all. Hypothesis
generates organisations: departments of 0 to 12 active people (and some who left),
named and anonymous concerns in them, published or waiting for a moderator, and
people leaving afterwards. Every place that shows a concern's department is read:
the concern list, each concern's page (as a moderator, who sees every status), the
moderation queue, the API's list, detail and moderation queue, the digest and the
accountability dashboard. Departments large enough must be named (so the search is
not vacuous); small ones must appear nowhere.

Breakdowns: the accountability dashboard shows figures by department and by tag,
through accounts.small_groups. Hypothesis generates organisations with departments,
tags and concerns in every state that counts, reads the rendered dashboard, and
checks against figures this file computes itself: no shown row stands for fewer than
k people; subtracting the shown rows from the breakdown's total (which a reader is
assumed to know) leaves the sum of two or more hidden rows that together stand for
at least k people, never one small row's figures; rows of k people or more are shown
whenever no row is small, and otherwise no more are hidden than needed. There is no
dashboard API, and the digest shows no figure by department or tag.
"""

import datetime
import html
import json
import re
from dataclasses import dataclass, replace

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import Department, Organisation, User
from accounts.services import api_token_create
from accounts.small_groups import Group, breakdown
from concerns import services
from concerns.errors import InvalidInput
from concerns.models import LISTED_STATUSES, Concern, Status, Tag
from notifications.models import Delivery
from notifications.services import _message
from tests import factories
from tests.responses import DAY_ONE, days_after, publish, rules, travel_to

pytestmark = pytest.mark.django_db

K = settings.ANONYMITY_MIN_GROUP_SIZE
ACCESS_PHRASE = "a lantern for every harbour"


@dataclass(frozen=True)
class DepartmentPlan:
    active: int
    left: int  # people who were in it and are no longer active


@dataclass(frozen=True)
class ConcernPlan:
    department: int | None  # an index into the departments
    anonymous: bool
    published: bool


@dataclass(frozen=True)
class OrgPlan:
    departments: tuple[DepartmentPlan, ...]
    concerns: tuple[ConcernPlan, ...]
    # After the concerns were raised: how many active people leave each department.
    leavers: tuple[int, ...]


@st.composite
def organisations(draw) -> OrgPlan:
    departments = tuple(
        draw(
            st.lists(
                st.builds(
                    DepartmentPlan,
                    active=st.integers(0, 12),
                    left=st.integers(0, 2),
                ),
                min_size=1,
                max_size=4,
            )
        )
    )
    index = st.none() | st.integers(0, len(departments) - 1)
    concerns = tuple(
        draw(
            st.lists(
                st.builds(
                    ConcernPlan, department=index, anonymous=st.booleans(), published=st.booleans()
                ),
                min_size=1,
                max_size=5,
            )
        )
    )
    leavers = tuple(draw(st.integers(0, 2)) for _ in departments)
    return OrgPlan(departments, concerns, leavers)


BOUNDARY = OrgPlan(
    departments=(
        DepartmentPlan(active=K - 1, left=2),
        DepartmentPlan(active=K, left=0),
        DepartmentPlan(active=K + 1, left=0),
        DepartmentPlan(active=0, left=0),
    ),
    concerns=(
        ConcernPlan(department=0, anonymous=False, published=True),
        ConcernPlan(department=1, anonymous=True, published=True),
        ConcernPlan(department=2, anonymous=True, published=False),
        ConcernPlan(department=3, anonymous=False, published=False),
        ConcernPlan(department=1, anonymous=False, published=False),
    ),
    # The K-sized department drops below K after its anonymous concern was raised.
    leavers=(0, 1, 0, 0),
)


@dataclass
class Built:
    departments: list[Department]
    concerns: list[Concern]
    refused: list[tuple[ConcernPlan, Department]]


def _build(plan: OrgPlan) -> Built:
    moderator = factories.moderator()
    departments = []
    for number, shape in enumerate(plan.departments):
        department = Department.objects.create(name=f"Kestrelwood Unit {number} Qx")
        User.objects.bulk_create(
            User(
                username=f"d{number}p{n}",
                department=department,
                is_active=n < shape.active,
                password="!",
            )
            for n in range(shape.active + shape.left)
        )
        departments.append(department)
    concerns, refused = [], []
    for number, shape in enumerate(plan.concerns):
        department = departments[shape.department] if shape.department is not None else None
        large = department is None or services.department_is_large_enough(department)
        author = factories.person() if not shape.anonymous else None
        try:
            concern = services.concern_submit(
                author=author,
                anonymous=shape.anonymous,
                title=f"Concern number {number}",
                body="Text.",
                department=department,
            ).concern
        except InvalidInput:
            assert shape.anonymous and not large, "a concern was refused for no reason"
            refused.append((shape, department))
            continue
        assert large or not shape.anonymous, "an anonymous concern named a small department"
        if shape.published:
            services.concern_approve(concern=concern, moderator=moderator)
            services.publication_batch()  # anonymous concerns are published in batches
        concerns.append(concern)
    for department, leaving in zip(departments, plan.leavers, strict=True):
        leavers = department.members.filter(is_active=True).order_by("pk")[:leaving]
        User.objects.filter(pk__in=[p.pk for p in leavers]).update(is_active=False)
    return Built(departments, concerns, refused)


def _everything_shown(built: Built) -> dict[str, str]:
    """Every page and API answer that can name a concern's department."""
    moderator = factories.moderator()
    browser = Client()
    browser.force_login(moderator)
    token = api_token_create(person=moderator, name="groups").secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    shown = {
        "concern list": browser.get(reverse("concerns:list")).content.decode(),
        "moderation queue": browser.get(reverse("concerns:moderation")).content.decode(),
        "API list": api.get("/api/v1/concerns/").content.decode(),
        "API moderation queue": api.get("/api/v1/moderation/queue/").content.decode(),
        "accountability dashboard": browser.get(reverse("responses:dashboard")).content.decode(),
    }
    for concern in built.concerns:
        shown[f"page of {concern.title}"] = browser.get(concern.get_absolute_url()).content.decode()
        shown[f"API detail of {concern.title}"] = api.get(
            f"/api/v1/concerns/{concern.pk}/"
        ).content.decode()
    now = timezone.now()
    digest = Delivery(
        person=moderator,
        key="digest:daily:groups",
        subject="Digest",
        context={
            "kind": "digest",
            "since": (now - datetime.timedelta(days=1)).isoformat(),
            "until": (now + datetime.timedelta(minutes=1)).isoformat(),
        },
    )
    message = _message(digest)
    shown["digest mail"] = message.body + message.alternatives[0][0]
    return shown


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(plan=BOUNDARY)
@given(plan=organisations())
def test_no_output_names_a_department_smaller_than_k(plan):
    with transaction.atomic():
        built = _build(plan)
        shown = _everything_shown(built)
        sizes = {d.name: d.members.filter(is_active=True).count() for d in built.departments}
        transaction.set_rollback(True)

    leaks = [
        f"{place} names {name} ({size} active)"
        for name, size in sizes.items()
        if size < K
        for place, text in shown.items()
        if name in text
    ]
    assert leaks == []
    # Large departments are named where their concerns are shown.
    for concern in built.concerns:
        department = concern.department
        if department is not None and sizes[department.name] >= K:
            assert department.name in shown[f"page of {concern.title}"]
            assert department.name in shown[f"API detail of {concern.title}"]


@pytest.fixture
def departments():
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    return {
        "small": factories.department("Tiny Team Qx", size=K - 1),
        "large": factories.department("Large Team Qx", size=K),
    }


def test_an_anonymous_concern_cannot_name_a_small_department_anywhere(departments):
    person = factories.person()
    browser = Client()
    browser.force_login(person)
    token = api_token_create(person=person, name="groups").secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    small, large = departments["small"], departments["large"]

    def page(department):
        return browser.post(
            reverse("concerns:new"),
            {"title": "T", "body": "B", "identity": "anonymous", "department": department.pk},
        )

    def public(department):
        return Client().post(
            reverse("concerns:new-public"),
            {
                "access_phrase": ACCESS_PHRASE,
                "title": "T",
                "body": "B",
                "department": department.pk,
            },
        )

    def through_api(department):
        data = {"title": "T", "body": "B", "anonymous": True, "department": department.pk}
        return api.post("/api/v1/concerns/", json.dumps(data), content_type="application/json")

    refused = [page(small), public(small), through_api(small)]
    accepted = [page(large), public(large), through_api(large)]

    assert [r.status_code for r in refused] == [400, 400, 400]
    assert "could identify you" in refused[0].content.decode()
    assert "could identify you" in refused[1].content.decode()
    assert "could identify you" in refused[2].json()["detail"]
    assert [r.status_code for r in accepted] == [200, 200, 201]
    assert not Concern.objects.filter(department=small).exists()
    assert Concern.objects.filter(department=large, is_anonymous=True).count() == 3


def test_a_named_concern_in_a_small_department_is_kept_but_not_shown_with_it(departments):
    small = departments["small"]
    author = small.members.first()
    concern = services.concern_submit(
        author=author, anonymous=False, title="Named", body="B", department=small
    ).concern
    services.concern_approve(concern=concern, moderator=factories.moderator())
    viewer = Client()
    viewer.force_login(factories.person())

    page = viewer.get(concern.get_absolute_url()).content.decode()

    assert Concern.objects.get(pk=concern.pk).department == small
    assert small.name not in page
    assert Concern.objects.get(pk=concern.pk).status == Status.OPEN


def test_the_list_the_api_and_a_concerns_page_name_the_same_departments():
    """The list reads the k-th-member rule in its own SQL (concerns/list_sql.py), a
    concern's page through the ORM (selectors._department_large): both must name a
    department exactly when it has k active people, inactive accounts not counted."""
    k = settings.ANONYMITY_MIN_GROUP_SIZE
    short = factories.department("Short", size=k - 1)
    exact = factories.department("Exact", size=k)
    lapsed = factories.department("Lapsed", size=k)
    lapsed.members.filter(pk=lapsed.members.first().pk).update(is_active=False)
    moderator = factories.moderator()
    concerns = {
        department.name: factories.open_concern(
            title=f"Concern number {n}",
            department=department,
            author=factories.person(),
            moderated_by=moderator,
        )
        for n, department in enumerate((short, exact, lapsed))
    }
    titles = {name: concern.title for name, concern in concerns.items()}
    viewer = factories.person()
    pages = Client()
    pages.force_login(viewer)
    token = api_token_create(person=viewer, name="departments").secret

    listed = pages.get(reverse("concerns:list")).content.decode()
    cards = {name: _card(listed, titles[name]) for name in concerns}
    rows = Client().get("/api/v1/concerns/", headers={"Authorization": f"Bearer {token}"})
    by_title = {row["title"]: row["department"] for row in rows.json()["results"]}
    detail = {
        name: pages.get(concern.get_absolute_url()).content.decode()
        for name, concern in concerns.items()
    }

    named = {name for name in concerns if f"<span>{name}</span>" in cards[name]}
    assert named == {"Exact"}
    assert {name for name in concerns if by_title[titles[name]] == name} == named
    assert {name for name in concerns if name in detail[name]} == named


def _card(page: str, title: str) -> str:
    return next(card for card in page.split("</article>") if f">{title}</a>" in card)


# The suppression rule on its own ---------------------------------------------------


def group(label: str, people, **figures) -> Group:
    people = frozenset(range(people)) if isinstance(people, int) else frozenset(people)
    return Group(key=label, label=label, people=people, figures=figures or {"concerns": 1})


def shown_labels(result) -> list[str]:
    return [g.label for g in result.shown]


def test_a_group_of_fewer_than_k_people_is_hidden_together_with_the_next_smallest():
    groups = [
        group("Small", range(0, 3)),
        group("Big", range(10, 40)),
        group("Middle", range(50, 56)),
        group("Also middle", range(60, 66)),
    ]

    result = breakdown(groups, k=5)

    # Alone, "Small" would be the total minus the rest. "Also middle" and "Middle"
    # are equally small; the label settles it.
    assert shown_labels(result) == ["Big", "Middle"]
    assert result.hidden == 2


def test_two_small_groups_that_together_hold_k_people_are_hidden_alone():
    groups = [group("A", range(0, 3)), group("B", range(3, 5)), group("C", range(5, 11))]

    result = breakdown(groups, k=5)

    assert shown_labels(result) == ["C"]
    assert result.hidden == 2


def test_small_groups_that_share_people_count_each_person_once():
    # Two tags raised by the same three people stand for three people, not six.
    groups = [
        group("Pay", {1, 2, 3}),
        group("Safety", {1, 2, 3}),
        group("Ethics", set(range(10, 16))),
        group("Hiring", set(range(20, 30))),
    ]

    result = breakdown(groups, k=5)

    assert shown_labels(result) == ["Hiring"]
    assert result.hidden == 3


def test_when_no_set_of_groups_reaches_k_people_every_group_is_hidden():
    result = breakdown([group("A", 1), group("B", {7, 8})], k=5)

    assert result.shown == ()
    assert result.hidden == 2


def test_groups_of_k_people_or_more_are_all_shown_when_none_is_small():
    result = breakdown([group("A", 5), group("B", range(5, 20))], k=5)

    assert shown_labels(result) == ["A", "B"]
    assert result.hidden == 0


def test_a_shown_group_carries_its_head_count_and_figures_but_no_person():
    [shown] = breakdown([group("A", range(5), concerns=3, overdue=1)], k=5).shown

    assert (shown.label, shown.people, shown.figures) == ("A", 5, {"concerns": 3, "overdue": 1})


people_sets = st.frozensets(st.integers(0, 30), max_size=12)


@hypothesis_settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    sizes=st.lists(people_sets, min_size=0, max_size=8),
    k=st.integers(1, 8),
)
def test_no_breakdown_shows_a_group_under_k_or_leaves_one_to_subtraction(sizes, k):
    groups = [group(f"Group {n}", people) for n, people in enumerate(sizes)]

    result = breakdown(groups, k=k)

    shown = set(shown_labels(result))
    hidden = [g for g in groups if g.label not in shown]
    hidden_people = frozenset().union(*(g.people for g in hidden))
    assert all(len(g.people) >= k for g in groups if g.label in shown)
    assert result.hidden == len(hidden)
    if shown and hidden:
        # The total minus the shown groups is the sum of the hidden ones.
        assert len(hidden) >= 2 and len(hidden_people) >= k
    if all(len(g.people) >= k for g in groups):
        assert shown == {g.label for g in groups}
    # Nothing large is hidden that was not needed: without the last large group it
    # hid, the hidden groups would stand for fewer than k people.
    large_hidden = [g for g in hidden if len(g.people) >= k]
    if large_hidden:
        last = max(large_hidden, key=lambda g: (len(g.people), g.label))
        rest = frozenset().union(*(g.people for g in hidden if g is not last))
        assert len(rest) < k


# Breakdowns on the accountability dashboard -----------------------------------------

STATES = ("waiting", "open", "overdue", "on time", "late")
FIGURES = ("concerns", "answered", "answered_on_time", "overdue")


@dataclass(frozen=True)
class RaisedPlan:
    anonymous: bool
    home: int | None  # the department of a named concern's author; None: in no department
    who: int  # which of that department's people raised it
    names: int | None  # the department the concern names
    tags: frozenset[int]
    state: str
    # How many people raise a concern of this shape: the next ones after `who`, or as
    # many anonymous submitters.
    raisers: int = 1


@dataclass(frozen=True)
class BreakdownPlan:
    departments: tuple[DepartmentPlan, ...]
    tags: int
    concerns: tuple[RaisedPlan, ...]
    leavers: tuple[int, ...]


@st.composite
def organisations_with_figures(draw) -> BreakdownPlan:
    # Sizes around k turn up more often than an even spread would make them.
    sizes = st.integers(0, 12) | st.sampled_from((K - 1, K, K + 1))
    departments = tuple(
        draw(
            st.lists(
                st.builds(DepartmentPlan, active=sizes, left=st.integers(0, 1)),
                min_size=2,
                max_size=5,
            )
        )
    )
    tags = draw(st.integers(1, 3))
    index = st.none() | st.integers(0, len(departments) - 1)
    concerns = tuple(
        draw(
            st.lists(
                st.builds(
                    RaisedPlan,
                    # Named more often than not and always tagged (the boundary has
                    # an untagged one), so that tags of k named authors or more turn
                    # up and the search is not vacuous.
                    anonymous=st.sampled_from((False, False, True)),
                    home=index,
                    who=st.integers(0, 11),
                    names=index,
                    tags=st.frozensets(st.integers(0, tags - 1), min_size=1),
                    state=st.sampled_from(STATES),
                    raisers=st.sampled_from((1, 1, 2, 3, 6)),
                ),
                min_size=1,
                max_size=8,
            )
        )
    )
    leavers = tuple(draw(st.integers(0, 2)) for _ in departments)
    return BreakdownPlan(departments, tags, concerns, leavers)


def _named(home: int, who: int, state: str = "open", tags=(1,)) -> RaisedPlan:
    return RaisedPlan(False, home, who, None, frozenset(tags), state)


FIGURES_BOUNDARY = BreakdownPlan(
    departments=(
        DepartmentPlan(active=K - 1, left=1),
        DepartmentPlan(active=K, left=0),
        DepartmentPlan(active=K + 1, left=0),
        DepartmentPlan(active=0, left=0),
        DepartmentPlan(active=K + 3, left=0),
    ),
    tags=3,
    concerns=(
        RaisedPlan(False, 0, 0, None, frozenset({0}), "open"),
        # Named a department of exactly K, which then loses a person.
        RaisedPlan(True, None, 0, 1, frozenset({0}), "overdue"),
        RaisedPlan(False, 2, 0, None, frozenset({1}), "on time"),
        RaisedPlan(False, 2, 1, 3, frozenset({1, 2}), "late"),
        RaisedPlan(True, None, 0, None, frozenset({1}), "open"),
        RaisedPlan(False, 1, 0, 0, frozenset(), "waiting"),
        *(_named(4, n, tags=(1, 2)) for n in range(K)),
    ),
    leavers=(0, 1, 0, 0, 0),
)


# One small department among large ones: it takes the smallest large one with it.
COMPLEMENT_BOUNDARY = BreakdownPlan(
    departments=(
        DepartmentPlan(active=K + 4, left=0),
        DepartmentPlan(active=K - 2, left=0),
        DepartmentPlan(active=K, left=1),
        DepartmentPlan(active=K + 1, left=0),
    ),
    tags=2,
    concerns=(
        RaisedPlan(False, 1, 0, None, frozenset({0}), "overdue"),
        RaisedPlan(True, None, 0, 0, frozenset({0}), "late", raisers=2),
        RaisedPlan(False, 2, 0, None, frozenset({1}), "on time", raisers=K),
        RaisedPlan(False, 3, 0, None, frozenset({0, 1}), "open", raisers=K + 1),
    ),
    leavers=(0, 0, 0, 0),
)


@dataclass
class Raised:
    plan: RaisedPlan
    author_id: int | None
    concern_id: object
    listed: bool = False  # published in the concern list when the dashboard is read


def _bring_to(concern: Concern, state: str, *, moderator: User, leader: User) -> None:
    if state == "waiting":
        return
    services.concern_approve(concern=concern, moderator=moderator)
    services.publication_batch()  # anonymous concerns are published in batches
    if state in ("overdue", "on time", "late"):
        services.concern_require_response(concern=concern, actor=moderator, note="Answer.")
        services.concern_assign_leader(concern=concern, moderator=moderator, leader=leader)


def _raise_all(plan: BreakdownPlan, monkeypatch) -> tuple[list[Department], list[Raised]]:
    travel_to(monkeypatch, DAY_ONE)
    rules(days=10)
    moderator, leader = factories.moderator(), factories.leader()
    outsiders = [factories.person() for _ in range(6)]  # in no department
    departments, members = [], []
    for number, shape in enumerate(plan.departments):
        department = Department.objects.create(name=f"Breakwater Unit {number} Qx")
        User.objects.bulk_create(
            User(
                username=f"b{number}p{n}",
                department=department,
                is_active=n < shape.active,
                password="!",
            )
            for n in range(shape.active + shape.left)
        )
        departments.append(department)
        members.append(list(department.members.filter(is_active=True).order_by("pk")))
    tags = [
        Tag.objects.create(name=f"Topic {n} Qx", slug=f"topic-{n}-qx") for n in range(plan.tags)
    ]
    raised, answer_on = [], {"on time": [], "late": []}
    for shape in plan.concerns:
        for n in range(shape.raisers):
            author = None
            if not shape.anonymous:
                pool = members[shape.home] if shape.home is not None else []
                pool = pool or outsiders  # a department nobody is active in raises nothing
                author = pool[(shape.who + n) % len(pool)]
            try:
                concern = services.concern_submit(
                    author=author,
                    anonymous=shape.anonymous,
                    title=f"Raised number {len(raised)}",
                    body="Text.",
                    department=departments[shape.names] if shape.names is not None else None,
                    tags=[tags[t] for t in sorted(shape.tags)],
                ).concern
            except InvalidInput:
                break  # an anonymous concern cannot name a small department
            _bring_to(concern, shape.state, moderator=moderator, leader=leader)
            answer_on.get(shape.state, []).append(concern)
            home = author.department if author is not None else None
            home_index = departments.index(home) if home in departments else None
            author_id = author.pk if author is not None else None
            raised.append(Raised(replace(shape, home=home_index), author_id, concern.pk))
    travel_to(monkeypatch, days_after(DAY_ONE, 3))
    for concern in answer_on["on time"]:
        publish(concern, leader)
    travel_to(monkeypatch, days_after(DAY_ONE, 15))  # five days after the deadline
    for concern in answer_on["late"]:
        publish(concern, leader)
    travel_to(monkeypatch, days_after(DAY_ONE, 20))
    for department, leaving in zip(departments, plan.leavers, strict=True):
        leavers = department.members.filter(is_active=True).order_by("pk")[:leaving]
        User.objects.filter(pk__in=[p.pk for p in leavers]).update(is_active=False)
    listed = set(Concern.objects.filter(status__in=LISTED_STATUSES).values_list("pk", flat=True))
    for concern in raised:
        concern.listed = concern.concern_id in listed
    return departments, raised


@dataclass
class Truth:
    people: set
    figures: dict


def _truth(departments: list[Department], raised: list[Raised], tag_count: int):
    """The figures worked out here from what was raised, not by the product."""

    def counted(rows: dict, key, concern: Raised) -> None:
        state = concern.plan.state
        figures = rows[key].figures
        figures["concerns"] += 1
        figures["answered"] += state in ("on time", "late")
        figures["answered_on_time"] += state == "on time"
        figures["overdue"] += state == "overdue"

    def fresh() -> Truth:
        return Truth(set(), dict.fromkeys(FIGURES, 0))

    by_department = {d.name: fresh() for d in departments}
    for department in departments:
        people = department.members.filter(is_active=True).values_list("pk", flat=True)
        by_department[department.name].people.update(people)
    by_tag = {f"Topic {n} Qx": fresh() for n in range(tag_count)}
    for concern in raised:
        if not concern.listed:
            continue
        counts_in = concern.plan.names if concern.plan.names is not None else concern.plan.home
        if counts_in is not None:
            counted(by_department, departments[counts_in].name, concern)
        for tag in concern.plan.tags:
            counted(by_tag, f"Topic {tag} Qx", concern)
            if concern.author_id is not None:
                by_tag[f"Topic {tag} Qx"].people.add(concern.author_id)
    # A group with nobody in it and nothing counted is no row at all.
    return tuple(
        {name: t for name, t in rows.items() if t.people or t.figures["concerns"]}
        for rows in (by_department, by_tag)
    )


ROW = re.compile(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', re.S)
HIDDEN_ROW = re.compile(r'<tr class="suppressed"><th scope="row">(\d+) other')


def _read_breakdown(section: str) -> tuple[dict[str, tuple[int, dict]], int]:
    shown = {}
    for label, cells in ROW.findall(section):
        values = [int(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td.*?</td>", cells, re.S)]
        shown[html.unescape(label)] = (values[0], dict(zip(FIGURES, values[1:], strict=True)))
    hidden = HIDDEN_ROW.search(section)
    return shown, int(hidden.group(1)) if hidden else 0


def _dashboard_sections() -> tuple[str, str]:
    browser = Client()
    browser.force_login(factories.person())
    page = browser.get(reverse("responses:dashboard")).content.decode()
    by_department = page[page.index('id="by-department"') : page.index('id="by-tag"')]
    return by_department, page[page.index('id="by-tag"') :]


def _check_breakdown(what: str, section: str, truth: dict[str, Truth]) -> None:
    shown, hidden_count = _read_breakdown(section)
    hidden = {name: t for name, t in truth.items() if name not in shown}

    assert set(shown) <= set(truth), f"{what}: a row for a group that has nothing"
    assert hidden_count == len(hidden), f"{what}: the hidden line miscounts"
    for name, (people, figures) in shown.items():
        assert len(truth[name].people) >= K, f"{what}: {name} has {people} people"
        assert (people, figures) == (len(truth[name].people), truth[name].figures), name
    for name in hidden:
        assert name not in section, f"{what}: the hidden {name} is named"
    if shown and hidden:
        # What subtraction gives away: the total minus every shown row.
        total = {f: sum(t.figures[f] for t in truth.values()) for f in FIGURES}
        recovered = {f: total[f] - sum(fs[f] for _, fs in shown.values()) for f in FIGURES}
        assert recovered == {f: sum(t.figures[f] for t in hidden.values()) for f in FIGURES}
        behind = set().union(*(t.people for t in hidden.values()))
        assert len(hidden) >= 2 and len(behind) >= K, (
            f"{what}: subtraction gives the figures of {sorted(hidden)}, {len(behind)} people"
        )
    if all(len(t.people) >= K for t in truth.values()):
        assert not hidden, f"{what}: {sorted(hidden)} hidden for no reason"


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(plan=FIGURES_BOUNDARY)
@example(plan=COMPLEMENT_BOUNDARY)
@given(plan=organisations_with_figures())
def test_no_breakdown_on_the_dashboard_shows_or_gives_away_a_group_under_k(plan, monkeypatch):
    with transaction.atomic():
        departments, raised = _raise_all(plan, monkeypatch)
        by_department, by_tag = _truth(departments, raised, plan.tags)
        department_section, tag_section = _dashboard_sections()
        transaction.set_rollback(True)

    _check_breakdown("by department", department_section, by_department)
    _check_breakdown("by tag", tag_section, by_tag)


def test_the_boundary_organisation_shows_its_large_groups_and_hides_the_small_ones(monkeypatch):
    departments, raised = _raise_all(FIGURES_BOUNDARY, monkeypatch)
    department_section, tag_section = _dashboard_sections()

    shown, hidden = _read_breakdown(department_section)
    # Units 0 and 1 (K - 1 people each now) and 3 (nobody) are hidden together.
    assert sorted(shown) == ["Breakwater Unit 2 Qx", "Breakwater Unit 4 Qx"]
    assert shown["Breakwater Unit 2 Qx"] == (
        K + 1,
        {"concerns": 1, "answered": 1, "answered_on_time": 1, "overdue": 0},
    )
    assert hidden == 3
    shown, hidden = _read_breakdown(tag_section)
    # Topic 0 was raised by one known person (and one anonymous one): hidden, and the
    # next smallest with it.
    assert sorted(shown) == ["Topic 1 Qx"]
    assert shown["Topic 1 Qx"][0] == K + 2
    assert hidden == 2


def test_a_small_department_among_large_ones_takes_the_smallest_large_one_with_it(
    monkeypatch,
):
    _raise_all(COMPLEMENT_BOUNDARY, monkeypatch)
    department_section, tag_section = _dashboard_sections()

    shown, hidden = _read_breakdown(department_section)
    assert sorted(shown) == ["Breakwater Unit 0 Qx", "Breakwater Unit 3 Qx"]
    assert shown["Breakwater Unit 0 Qx"] == (
        K + 4,
        {"concerns": 2, "answered": 2, "answered_on_time": 0, "overdue": 0},
    )
    assert hidden == 2
    # Each tag was raised by at least K named people.
    shown, hidden = _read_breakdown(tag_section)
    assert {name: people for name, (people, _) in shown.items()} == {
        "Topic 0 Qx": K + 2,
        "Topic 1 Qx": 2 * K + 1,
    }
    assert hidden == 0


# Example organisations -------------------------------------------------------------


@pytest.fixture
def dashboard_text(client):
    def read() -> str:
        client.force_login(factories.person())
        return client.get(reverse("responses:dashboard")).content.decode()

    return read


def test_a_small_department_is_hidden_with_the_next_smallest_so_neither_can_be_subtracted(
    dashboard_text,
):
    small = factories.department("Tiny Team Qx", size=K - 1)
    middle = factories.department("Middle Team Qx", size=K)
    large = factories.department("Large Team Qx", size=K + 5)
    for department in (small, middle, large):
        factories.open_concern(author=department.members.first())

    text = dashboard_text()

    assert "Large Team Qx" in text
    assert "Tiny Team Qx" not in text and "Middle Team Qx" not in text
    assert "2 other departments" in text


def test_a_tag_with_many_anonymous_concerns_but_few_named_authors_is_hidden(dashboard_text):
    department = factories.department("Large Team Qx", size=K)
    quiet, busy = factories.tag("Quiet Qx"), factories.tag("Busy Qx")
    for _ in range(K + 3):
        factories.open_concern(anonymous=True, department=department, tags=[quiet])
    factories.open_concern(author=department.members.first(), tags=[quiet])
    for person in department.members.all():
        factories.open_concern(author=person, tags=[busy])

    shown, hidden = _read_breakdown(dashboard_text().split('id="by-tag"')[1])

    # Quiet's nine concerns could all come from its one named author.
    assert shown == {}
    assert hidden == 2


def test_a_tag_raised_by_k_named_people_is_shown_with_its_anonymous_concerns(dashboard_text):
    department = factories.department("Large Team Qx", size=K)
    busy = factories.tag("Busy Qx")
    for person in department.members.all():
        factories.open_concern(author=person, tags=[busy])
    factories.open_concern(anonymous=True, tags=[busy])

    shown, hidden = _read_breakdown(dashboard_text().split('id="by-tag"')[1])

    assert shown == {
        "Busy Qx": (K, {"concerns": K + 1, "answered": 0, "answered_on_time": 0, "overdue": 0})
    }
    assert hidden == 0
