"""A small organisation with a concern in every state the main pages show, built
through the services the way people build it, on dates the test fixes: the pages and
their screenshots read the same on every run.

Everything happens between DAY_ONE and TODAY, three weeks later; the clock stays at
TODAY while the pages are read."""

import datetime
import io
from dataclasses import dataclass

from django.core.management import call_command

from accounts.models import Department, Organisation, Role, User
from concerns import services as concern_services
from concerns.models import Concern, Tag
from meetings import services as meeting_services
from meetings.models import Meeting
from responses import services as response_services
from responses.models import CommitmentStatus, Position, RatingValue
from tests.e2e.browsing import moment

DAY_ONE = datetime.date(2026, 3, 2)  # a Monday
TODAY = DAY_ONE + datetime.timedelta(days=20)
ACCESS_PHRASE = "northwind open door"
PASSWORD = "correct horse battery staple"

COLLEAGUES = [
    ("Sam", "Lee"),
    ("Ana", "Costa"),
    ("Tom", "Berg"),
    ("Kofi", "Mensah"),
    ("Ines", "Duarte"),
    ("Raj", "Patel"),
]


def days(n: int) -> datetime.date:
    return DAY_ONE + datetime.timedelta(days=n)


def organisation_settings(*, vote_threshold: int) -> Organisation:
    """The admin's settings for the tests: a low response threshold, and the anonymous
    form without sign-in open with the organisation's access phrase."""
    organisation = Organisation.current()
    organisation.name = "Northwind Technologies"
    organisation.response_vote_threshold = vote_threshold
    organisation.response_days = 14
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    return organisation


def person(username: str, first: str, last: str, *, role=Role.EMPLOYEE, department=None):
    return User.objects.create_user(
        username=username,
        password=PASSWORD,
        email=f"{username}@northwind.test",
        first_name=first,
        last_name=last,
        role=role,
        department=department,
    )


@dataclass
class People:
    employee: User
    moderator: User
    leader: User
    colleagues: list[User]


def people() -> People:
    platform = Department.objects.create(name="Platform")
    return People(
        employee=person("erin", "Erin", "Walsh", department=platform),
        moderator=person("mia", "Mia", "Okafor", role=Role.MODERATOR),
        leader=person("daniel", "Daniel", "Reyes", role=Role.LEADER),
        colleagues=[
            person(first.lower(), first, last, department=platform) for first, last in COLLEAGUES
        ],
    )


def tags() -> dict[str, Tag]:
    return {
        name: Tag.objects.create(name=name, slug=name.lower())
        for name in ("Ethics", "Facilities", "Pay")
    }


def publish(concern, leader, *, summary: str, details: str, reason: str = "") -> None:
    """What the response editor does: save the draft, then publish it."""
    response_services.response_draft_save(
        concern=concern,
        leader=leader,
        position=Position.WILL_ACT,
        summary=summary,
        details=details,
    )
    response_services.response_publish(concern=concern, leader=leader, change_reason=reason)


@dataclass
class Site:
    people: People
    answered: Concern
    overdue: Concern
    open: Concern
    awaiting: Concern
    receipt: str
    meeting: Meeting


def build(clock) -> Site:
    """The organisation as it stands on TODAY. `clock(day, hour)` moves the stopped
    clock; it is left at TODAY."""
    clock(DAY_ONE, 9)
    organisation_settings(vote_threshold=5)
    team = people()
    answered, overdue, parking = _published_concerns(team, tags(), clock)
    clock(days(3), 15)
    _answered_in_writing(answered, team, clock)
    clock(days(18), 11)
    awaiting = _awaiting_review(team)
    clock(days(19), 16)
    meeting = _all_hands(team, [overdue, parking, answered])
    clock(TODAY, 9)
    # What beat runs every hour: a deadline and a commitment are missed.
    concern_services.deadlines_enforce()
    response_services.commitments_mark_missed()
    clock(TODAY, 10)
    _all_hands_starts(meeting, team)
    clock(TODAY, 11)
    return Site(
        people=team,
        answered=Concern.objects.get(pk=answered.pk),
        overdue=Concern.objects.get(pk=overdue.pk),
        open=Concern.objects.get(pk=parking.pk),
        awaiting=awaiting.concern,
        receipt=awaiting.receipt,
        meeting=Meeting.objects.get(pk=meeting.pk),
    )


def _published_concerns(team: People, tag: dict[str, Tag], clock) -> list[Concern]:
    """One anonymous concern supported until a response is due, one a moderator made
    due (missed by TODAY), one open; all three public."""
    moderator, leader = team.moderator, team.leader

    def approved(title: str, body: str, *, author, anonymous=False, tagged=()):
        submission = concern_services.concern_submit(
            author=author, anonymous=anonymous, title=title, body=body, tags=tagged
        )
        concern_services.concern_approve(concern=submission.concern, moderator=moderator)
        return submission.concern

    answered = approved(
        "Stop licensing face recognition to police and immigration agencies",
        "An outside test matched 28 members of Congress to mugshots. We should not sell "
        "this to agencies that can detain people.",
        author=team.colleagues[0],
        anonymous=True,
        tagged=[tag["Ethics"]],
    )
    overdue = approved(
        "Night-shift overtime is paid a month late",
        "Overtime worked at night reaches our pay a month after the day shift's does.",
        author=team.colleagues[1],
        tagged=[tag["Pay"]],
    )
    parking = approved(
        "Parking spaces at the new office",
        "There are 40 spaces for 300 people, and none for bicycles.",
        author=team.employee,
        tagged=[tag["Facilities"]],
    )
    # Anonymous concerns go public with the next publication batch, on the hour.
    clock(DAY_ONE, 13)
    call_command("publish_batch", stdout=io.StringIO())
    for concern, voters in (
        (answered, team.colleagues[:5]),
        (overdue, team.colleagues[:2]),
        (parking, team.colleagues[2:4]),
    ):
        for voter in voters:
            concern_services.vote_cast(concern=concern, voter=voter)
    concern_services.concern_require_response(
        concern=overdue,
        actor=moderator,
        note="A moderator asked leadership for a written response.",
    )
    for concern in (answered, overdue):
        concern_services.concern_assign_leader(concern=concern, moderator=moderator, leader=leader)
    return [Concern.objects.get(pk=c.pk) for c in (answered, overdue, parking)]


def _answered_in_writing(answered: Concern, team: People, clock) -> None:
    """Version 1 with three commitments, then version 2 with a reason; by TODAY one
    commitment is done, one in progress and one missed, and colleagues rated it."""
    leader = team.leader
    publish(
        answered,
        leader,
        summary="We will not renew the two police contracts and will sell to no new agency.",
        details="The board decided on Thursday.\n\n- Both contracts end on 30 June.\n"
        "- An outside review of every public-sector sale follows.",
    )

    def commit(description: str, due_in_days: int):
        return response_services.commitment_add(
            concern=answered,
            leader=leader,
            description=description,
            owner=leader,
            due_on=days(due_in_days),
        )

    contracts = commit("End both police contracts", 120)
    commit("Publish the terms of the outside review", 15)  # never kept: missed on TODAY
    briefing = commit("Explain the decision at the next all-hands", 30)

    clock(days(10), 11)
    publish(
        answered,
        leader,
        summary="We will not renew the two police contracts, will sell to no new agency, "
        "and will include immigration agencies in the outside review.",
        details="The board decided on Thursday.\n\n- Both contracts end on 30 June.\n"
        "- An outside review of every public-sector sale follows, immigration included.",
        reason="Staff asked whether immigration agencies are covered: they are.",
    )
    response_services.commitment_update(
        commitment=contracts,
        author=leader,
        to_status=CommitmentStatus.IN_PROGRESS,
        note="Notice given to both agencies.",
    )
    response_services.commitment_update(
        commitment=briefing, author=leader, to_status=CommitmentStatus.DONE
    )
    for voter, value in zip(
        team.colleagues[:3],
        (RatingValue.ANSWERED, RatingValue.ANSWERED, RatingValue.PARTLY),
        strict=True,
    ):
        response_services.rating_cast(concern=answered, rater=voter, value=value)


def _awaiting_review(team: People):
    """An anonymous concern a moderator has asked a question about; its receipt is
    kept for the pages a submitter sees."""
    submission = concern_services.concern_submit(
        author=team.colleagues[4],
        anonymous=True,
        title="Managers ask us to skip safety checks before releases",
        body="Twice this month we were told to ship without the checklist.",
    )
    concern_services.message_ask(
        concern=submission.concern,
        author=team.moderator,
        body="Which team's releases were these? Answer only if it cannot identify you.",
    )
    return submission


def _all_hands(team: People, concerns: list[Concern]) -> Meeting:
    meeting = meeting_services.meeting_create(
        organiser=team.moderator,
        title="Spring all-hands",
        scheduled_start=moment(TODAY, 10),
        hosts=[],
    )
    for concern in concerns:
        meeting_services.agenda_item_add(meeting=meeting, moderator=team.moderator, concern=concern)
    return meeting


def _all_hands_starts(meeting: Meeting, team: People) -> None:
    meeting_services.meeting_start(meeting=meeting, actor=team.moderator)
    question, _ = meeting_services.question_ask(
        meeting=meeting,
        asker=team.colleagues[5],
        text="When will the night shift be paid on time?",
        anonymous=False,
    )
    meeting_services.question_approve(question=question, actor=team.moderator)
