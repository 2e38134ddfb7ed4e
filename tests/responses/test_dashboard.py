"""The accountability dashboard: per-leader figures computed from the records, public
inside the company, in a fixed number of queries however many leaders and concerns."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from concerns import services as concern_services
from responses import services
from responses.models import CommitmentStatus, RatingValue
from responses.selectors import accountability_dashboard
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
    rules(days=10)
    moderator = factories.moderator()
    on_day(monkeypatch, 0)
    for n in range(leaders):
        leader = factories.leader()
        for m in range(concerns_each):
            concern = due_concern(leader=leader, moderator=moderator)
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
def test_the_dashboard_runs_four_queries_however_much_there_is(
    monkeypatch, django_assert_num_queries, leaders, concerns_each
):
    build(monkeypatch, leaders=leaders, concerns_each=concerns_each)

    with django_assert_num_queries(4):
        dashboard = accountability_dashboard()

    assert sum(f.assigned for f in dashboard.leaders) == leaders * concerns_each


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
