"""Small groups: a department with fewer than ANONYMITY_MIN_GROUP_SIZE active people
is never named next to a concern, and an anonymous concern cannot name one at all.

Hypothesis generates organisations: departments of 0 to 12 active people (and some
who left), named and anonymous concerns in them, published or waiting for a
moderator, and people leaving afterwards. Every place that shows a concern's
department is read: the concern list, each concern's page (as a moderator, who sees
every status), the moderation queue, the API's list, detail and moderation queue,
and the digest. Departments large enough must be named (so the search is not
vacuous); small ones must appear nowhere.

There are no breakdown figures by department, location or tag yet, so the rule
against computing a small group by subtraction from totals has nothing to act on;
when a breakdown arrives, it belongs in this file.
"""

import datetime
import json
from dataclasses import dataclass

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
from concerns import services
from concerns.errors import InvalidInput
from concerns.models import Concern, Status
from notifications.models import Delivery
from notifications.services import _message
from tests import factories

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
