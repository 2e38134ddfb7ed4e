"""The accountability dashboard: per-leader figures computed from the records, public
inside the company, figures by department and by tag, in a fixed number of queries
however many leaders and concerns. Which department or tag rows are hidden is tested
in tests/security/test_small_groups.py; here the groups are all large enough."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from concerns import services as concern_services
from responses import services
from responses.models import CommitmentStatus, RatingValue
from responses.selectors import BREAKDOWN_FIGURES, accountability_dashboard
from tests import factories
from tests.responses import (
    DAY_ONE,
    days_after,
    due_concern,
    page_text,
    publish,
    rules,
    travel_to,
)

pytestmark = pytest.mark.django_db


def on_day(monkeypatch, n: int):
    return travel_to(monkeypatch, days_after(DAY_ONE, n))


def rate(concern, *values):
    for value in values:
        services.rating_cast(concern=concern, rater=factories.person(), value=value)


def commitment(concern, leader, *, due_in: int):
    return services.commitment_add(
        concern=concern,
        leader=leader,
        description=f"Due on day {due_in}",
        owner=leader,
        due_on=days_after(DAY_ONE, due_in),
    )


@pytest.fixture
def scenario(monkeypatch):
    """Three leaders over five weeks, with ten days to respond.

    Ada: answered on day 3 (on time), answered on day 15 (late), one overdue since day 30;
         commitments kept, missed and open; rated answered, answered, not answered.
    Bo:  answered on day 32 (two days), one due on day 40.
    Cy:  nothing assigned.
    """
    rules(days=10)
    ada = factories.leader(first_name="Ada", last_name="Lovelace")
    bo = factories.leader(first_name="Bo", last_name="Brown")
    cy = factories.leader(first_name="Cy", last_name="Idle")
    moderator = factories.moderator()
    on_day(monkeypatch, 0)
    quick, slow = due_concern(leader=ada, moderator=moderator), due_concern(leader=ada)
    on_day(monkeypatch, 3)
    publish(quick, ada)
    kept = commitment(quick, ada, due_in=5)
    commitment(quick, ada, due_in=6)
    commitment(quick, ada, due_in=60)
    rate(quick, RatingValue.ANSWERED, RatingValue.ANSWERED, RatingValue.NOT_ANSWERED)
    on_day(monkeypatch, 4)
    services.commitment_update(commitment=kept, author=ada, to_status=CommitmentStatus.DONE)
    services.commitments_mark_missed(today=days_after(DAY_ONE, 7))
    concern_services.deadlines_enforce(today=days_after(DAY_ONE, 11))
    on_day(monkeypatch, 15)
    publish(slow, ada)
    on_day(monkeypatch, 20)
    due_concern(leader=ada, title="Still unanswered")
    on_day(monkeypatch, 30)
    due_concern(leader=bo)
    answered_by_bo = due_concern(leader=bo)
    concern_services.deadlines_enforce(today=days_after(DAY_ONE, 31))
    on_day(monkeypatch, 32)
    publish(answered_by_bo, bo)
    on_day(monkeypatch, 35)
    return ada, bo, cy


def figures_of(dashboard, leader):
    [figures] = [f for f in dashboard.leaders if f.leader == leader]
    return figures


def test_each_leaders_figures_are_computed_from_the_records(scenario):
    ada, bo, cy = scenario

    dashboard = accountability_dashboard()

    assert [f.leader for f in dashboard.leaders] == [bo, cy, ada]
    a = figures_of(dashboard, ada)
    assert (a.assigned, a.answered, a.response_rate, a.answered_on_time) == (3, 2, 67, 1)
    assert (a.median_days_to_respond, a.overdue_now) == (9, 1)
    assert (a.commitments_kept, a.commitments_missed, a.commitments_open) == (1, 1, 1)
    assert a.ratings == {"answered": 2, "partly": 0, "not_answered": 1}
    b = figures_of(dashboard, bo)
    assert (b.assigned, b.answered, b.response_rate, b.answered_on_time) == (2, 1, 50, 1)
    assert (b.median_days_to_respond, b.overdue_now) == (2, 0)
    assert (b.commitments_kept, b.commitments_missed, b.commitments_open) == (0, 0, 0)
    assert b.ratings == {}
    c = figures_of(dashboard, cy)
    assert (c.assigned, c.answered, c.response_rate, c.median_days_to_respond) == (
        0,
        0,
        None,
        None,
    )


def test_the_monthly_figures_count_duties_answers_and_missed_deadlines(scenario):
    months = accountability_dashboard().months

    assert [(m.month, m.became_due, m.answered, m.deadlines_missed) for m in months] == [
        ("2031-03", 3, 2, 1),
        ("2031-04", 2, 1, 1),
    ]


def row_cells(text: str, name: str) -> list[str]:
    row = re.search(rf'<th scope="row">{name}</th>(.*?)</tr>', text, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]


def test_the_dashboard_page_shows_every_leaders_figures(client, scenario):
    client.force_login(factories.person())

    text = client.get(reverse("responses:dashboard")).content.decode()

    assert row_cells(text, "Ada Lovelace") == [
        "3", "2 (67%)", "1", "9.0", "1 overdue", "1", "1", "1", "2 / 0 / 1",
    ]  # fmt: skip
    assert row_cells(text, "Bo Brown") == ["2", "1 (50%)", "1", "2", "0", "0", "0", "0", "–"]
    assert row_cells(text, "Cy Idle") == ["0", "0", "0", "–", "0", "0", "0", "0", "–"]


# Figures by department and by tag ---------------------------------------------------


@pytest.fixture
def organisation(monkeypatch, settings):
    """Two departments and two tags, with every group of at least two people, the
    smallest group size this fixture sets. Ten days to respond; read on day 20.

    Harbour: c1 named by one of its people, answered on day 3 (on time); c2 anonymous,
             names Harbour, overdue. Tagged Safety.
    Lantern: c3 named by a Harbour person but names Lantern, open (Safety); c4 named
             by a Lantern person, answered on day 15 (late); c7 by another Lantern
             person, open. c4 and c7 are tagged Pay.
    Nowhere: c5 anonymous and names no department; c6 waits for a moderator.
    """
    settings.ANONYMITY_MIN_GROUP_SIZE = 2
    rules(days=10)
    leader, moderator = factories.leader(), factories.moderator()
    harbour = factories.department("Harbour Ops Qx", size=6)
    lantern = factories.department("Lantern Lab Qx", size=5)
    safety, pay = factories.tag("Safety"), factories.tag("Pay")
    h = list(harbour.members.order_by("pk"))
    lantern_people = list(lantern.members.order_by("pk"))
    on_day(monkeypatch, 0)
    c1 = due_concern(leader=leader, moderator=moderator, author=h[0], tags=[safety])
    due_concern(leader=leader, anonymous=True, department=harbour, tags=[safety])
    factories.open_concern(author=h[1], department=lantern, tags=[safety])
    c4 = due_concern(leader=leader, author=lantern_people[0], tags=[pay])
    factories.open_concern(anonymous=True)
    factories.submission(author=h[2])
    factories.open_concern(author=lantern_people[1], tags=[pay])
    on_day(monkeypatch, 3)
    publish(c1, leader)
    on_day(monkeypatch, 15)
    publish(c4, leader)
    on_day(monkeypatch, 20)


def shown(breakdown) -> dict[str, tuple[int, ...]]:
    return {
        group.label: (group.people, *(group.figures[name] for name in BREAKDOWN_FIGURES))
        for group in breakdown.shown
    }


def test_a_department_counts_the_concerns_naming_it_and_those_its_people_raised_by_name(
    organisation,
):
    departments = accountability_dashboard().departments

    # people, concerns, answered, answered on time, overdue now
    assert shown(departments) == {
        "Harbour Ops Qx": (6, 2, 1, 1, 1),
        "Lantern Lab Qx": (5, 3, 1, 0, 0),
    }
    assert departments.hidden == 0


def test_a_tag_counts_its_concerns_and_only_the_people_who_raised_them_by_name(organisation):
    tags = accountability_dashboard().tags

    # Safety has three concerns, one of them anonymous: two people are known.
    assert shown(tags) == {"Pay": (2, 2, 1, 0, 0), "Safety": (2, 3, 1, 1, 1)}
    assert tags.hidden == 0


def test_the_dashboard_page_shows_the_figures_by_department_and_by_tag(client, organisation):
    client.force_login(factories.person())

    text = page_text(client.get(reverse("responses:dashboard")))

    assert row_cells(text, "Harbour Ops Qx") == ["6", "2", "1", "1", "1"]
    assert row_cells(text, "Lantern Lab Qx") == ["5", "3", "1", "0", "0"]
    assert row_cells(text, "Pay") == ["2", "2", "1", "0", "0"]
    assert row_cells(text, "Safety") == ["2", "3", "1", "1", "1"]
    assert "other department" not in text and "other tag" not in text


def test_concerns_waiting_for_a_moderator_rejected_or_withdrawn_count_nowhere(monkeypatch):
    harbour = factories.department("Harbour Ops Qx", size=6)
    safety = factories.tag("Safety")
    moderator = factories.moderator()
    author = harbour.members.first()
    factories.submission(author=author, tags=[safety])
    rejected = factories.submission(author=author, tags=[safety]).concern
    concern_services.concern_reject(concern=rejected, moderator=moderator, reason="Spam.")
    withdrawn = factories.submission(anonymous=True, department=harbour, tags=[safety])
    concern_services.concern_withdraw_by_receipt(receipt=withdrawn.receipt)

    dashboard = accountability_dashboard()

    assert shown(dashboard.departments) == {"Harbour Ops Qx": (6, 0, 0, 0, 0)}
    assert not dashboard.tags


def late_answer_then_escalated(monkeypatch):
    """Due on day 0 by day 10, answered on day 15, rated not answered on day 20 and so
    due again by day 30, and on day 35 still not answered anew."""
    rules(days=10)
    ada = factories.leader(first_name="Ada", last_name="Lovelace")
    on_day(monkeypatch, 0)
    concern = due_concern(leader=ada)
    concern_services.deadlines_enforce(today=days_after(DAY_ONE, 11))
    on_day(monkeypatch, 15)
    publish(concern, ada)
    on_day(monkeypatch, 20)
    rate(concern, *[RatingValue.NOT_ANSWERED] * 5)
    on_day(monkeypatch, 35)
    concern_services.deadlines_enforce(today=days_after(DAY_ONE, 35))
    return ada, concern


def test_an_escalated_concern_that_goes_overdue_again_counts_as_overdue_now(client, monkeypatch):
    ada, concern = late_answer_then_escalated(monkeypatch)
    client.force_login(factories.person())
    assert concern.title in page_text(client.get(reverse("responses:overdue")))

    assert figures_of(accountability_dashboard(), ada).overdue_now == 1


def test_an_escalation_does_not_rewrite_how_late_the_first_answer_was(monkeypatch):
    ada, _ = late_answer_then_escalated(monkeypatch)

    figures = figures_of(accountability_dashboard(), ada)

    # Answered fifteen days after the duty began, five days after its deadline.
    assert figures.answered_on_time == 0
    assert figures.median_days_to_respond == 15


# Fixed number of queries -------------------------------------------------------------


def build(monkeypatch, *, leaders: int, concerns_each: int) -> None:
    """Per leader: a department of five, a tag, and concerns named and anonymous in
    both, so that every breakdown has rows to show."""
    rules(days=10)
    moderator = factories.moderator()
    on_day(monkeypatch, 0)
    for n in range(leaders):
        leader = factories.leader()
        department, tag = factories.department(size=5), factories.tag()
        people = list(department.members.all())
        for m in range(concerns_each):
            concern = due_concern(
                leader=leader,
                moderator=moderator,
                tags=[tag],
                **(
                    {"anonymous": True, "department": department}
                    if m % 2
                    else {"author": people[m % 5]}
                ),
            )
            if m % 3 == 2:
                continue  # left unanswered
            publish(concern, leader)
            commitment(concern, leader, due_in=5 + m)
            if m % 2:
                rate(concern, RatingValue.ANSWERED, RatingValue.PARTLY)
        if n % 2:
            factories.leader()  # a leader with nothing assigned
    services.commitments_mark_missed(today=days_after(DAY_ONE, 7))
    concern_services.deadlines_enforce(today=days_after(DAY_ONE, 11))
    on_day(monkeypatch, 20)


@pytest.mark.parametrize(
    ("leaders", "concerns_each"), [(2, 1), (10, 4)], ids=["2 leaders", "10 leaders"]
)
def test_the_dashboard_runs_six_queries_however_much_there_is(
    monkeypatch, django_assert_num_queries, leaders, concerns_each
):
    build(monkeypatch, leaders=leaders, concerns_each=concerns_each)

    # Four for the leaders and months, two for the breakdowns by department and tag.
    with django_assert_num_queries(6):
        dashboard = accountability_dashboard()

    assert sum(f.assigned for f in dashboard.leaders) == leaders * concerns_each
    assert sum(g.figures["concerns"] for g in dashboard.departments.shown) == (
        leaders * concerns_each
    )
    assert len(dashboard.departments.shown) == leaders


def test_the_dashboard_page_runs_as_many_queries_for_ten_leaders_as_for_two(client, monkeypatch):
    def page_queries() -> int:
        client.force_login(factories.person())
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("responses:dashboard")).status_code == 200
        return len(queries)

    build(monkeypatch, leaders=2, concerns_each=1)
    small = page_queries()
    build(monkeypatch, leaders=8, concerns_each=4)

    assert page_queries() == small
