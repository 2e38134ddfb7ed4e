import re
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import Department, Organisation, Role, User
from concerns import selectors, services
from concerns.models import Concern, Message, Status
from meetings.models import (
    AgendaItem,
    ItemSource,
    LiveQuestion,
    LiveQuestionVote,
    Meeting,
    MeetingStatus,
    QuestionStatus,
)
from meetings.selectors import meeting_page
from responses.models import Commitment, CommitmentStatus, ResponseVersion
from tests import factories

pytestmark = pytest.mark.django_db

# "  <receipt, 34 characters>  <status, padded to 12>  <title>"
RECEIPT_ROW = re.compile(r"^  ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){6})  (.{12})  (.+)$")
# "  /meetings/<id>/  <status>  <scheduled start>  <title>: <state>"
MEETING_ROW = re.compile(r"^  (/meetings/\d+/)\s+(\w+)\s+.+?  (.+ all-hands): (.+)$")


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _receipt_rows(output: str) -> list[tuple[str, str]]:
    rows = [RECEIPT_ROW.match(line) for line in output.splitlines()]
    return [(row[1], row[3]) for row in rows if row]


def _meeting_rows(output: str) -> list[tuple[str, str, str, str]]:
    rows = [MEETING_ROW.match(line) for line in output.splitlines()]
    return [row.groups() for row in rows if row]


def _counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def _ended_meeting() -> Meeting:
    return Meeting.objects.get(status=MeetingStatus.ENDED)


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker):
    """Seeds once for the whole class (it takes seconds) and rolls it all back after."""
    with (
        django_db_blocker.unblock(),
        override_settings(
            DEBUG=True,  # the demo refuses to seed what looks like a real installation
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
        transaction.atomic(),
    ):
        yield _seed()
        transaction.set_rollback(True)


class TestTheSeededDemo:
    def test_it_has_people_in_every_role_who_sign_in_with_the_demo_password(self, seeded):
        for role in Role:
            assert User.objects.filter(role=role).exists(), role
        for username in ("admin", "moderator", "leader", "employee"):
            assert User.objects.get(username=username).role == username
        assert User.objects.count() >= 45
        assert len(set(User.objects.values_list("password", flat=True))) == 1
        assert User.objects.get(username="admin").check_password("answerable-demo")
        for person in User.objects.all():
            is_admin = person.role == Role.ADMIN
            assert person.is_staff == is_admin and person.is_superuser == is_admin

    def test_it_names_the_organisation_and_opens_the_anonymous_form(self, seeded):
        organisation = Organisation.current()
        assert organisation.name == "Northwind Technologies"
        assert organisation.public_form_enabled
        assert organisation.access_phrase_matches("northwind open door")
        assert "northwind open door" in seeded

    def test_it_has_named_and_anonymous_concerns_in_every_reachable_state(self, seeded):
        reachable = {
            Status.SUBMITTED,
            Status.IN_REVIEW,
            Status.OPEN,
            Status.RESPONSE_DUE,
            Status.ANSWERED,
            Status.REJECTED,
            Status.MERGED,
            Status.WITHDRAWN,
        }
        assert reachable <= set(Concern.objects.values_list("status", flat=True))
        assert Concern.objects.filter(is_anonymous=True, author=None).count() >= 10
        assert Concern.objects.filter(is_anonymous=False, author__isnull=False).count() >= 10
        assert not Concern.objects.filter(status=Status.REJECTED, rejection_reason="").exists()
        for duplicate in Concern.objects.filter(status=Status.MERGED):
            assert duplicate.merged_into.accepts_votes
        for concern in Concern.objects.all():
            assert concern.vote_count == concern.votes.count()

    def test_anonymous_submitters_answered_staff_through_their_receipts(self, seeded):
        replies = Message.objects.filter(concern__is_anonymous=True, from_submitter=True)
        assert replies.exists()
        assert not replies.filter(sent_at__isnull=False).exists()

    def test_leaders_answered_in_writing_with_versions_commitments_and_ratings(self, seeded):
        revised = ResponseVersion.objects.filter(number=2).exclude(change_reason="")
        assert revised.exists()
        assert {
            CommitmentStatus.IN_PROGRESS,
            CommitmentStatus.DONE,
            CommitmentStatus.MISSED,
        } <= set(Commitment.objects.values_list("status", flat=True))
        assert Concern.objects.filter(deadline_missed_on__isnull=False).exists()
        # Staff said one response did not answer the concern, so it is due again.
        assert Concern.objects.filter(
            status=Status.RESPONSE_DUE, escalated_on__isnull=False
        ).exists()

    def test_its_ledger_verifies(self, seeded):
        out = StringIO()
        call_command("verify_ledger", stdout=out)
        assert "Ledger intact" in out.getvalue()

    def test_it_has_a_department_too_small_to_be_named_next_to_its_concern(self, seeded):
        small = [
            d
            for d in Department.objects.all()
            if d.members.count() < django_settings.ANONYMITY_MIN_GROUP_SIZE
        ]
        assert Concern.objects.filter(department__in=small, status__in=["open", "response_due"])

    def test_it_ranks_different_concerns_first_by_support_and_by_this_weeks_votes(self, seeded):
        viewer = User.objects.get(username="employee")

        def first(sort: str) -> Concern:
            filters = selectors.ConcernFilters(sort=sort)
            return selectors.concern_list(viewer=viewer, filters=filters).object_list[0]

        assert first("top") != first("trending")

    def test_seeding_it_again_changes_nothing(self, seeded):
        before = _counts()
        for model in (Meeting, AgendaItem, LiveQuestion, LiveQuestionVote):
            assert before[model._meta.label], model
        statuses = dict(Concern.objects.values_list("pk", "status"))
        meetings = list(Meeting.objects.values_list("pk", "status", "sequence"))
        output = _seed()
        assert "already seeded" in output
        assert _counts() == before
        assert dict(Concern.objects.values_list("pk", "status")) == statuses
        assert list(Meeting.objects.values_list("pk", "status", "sequence")) == meetings

    def test_its_printed_receipts_open_their_concerns(self, seeded):
        rows = _receipt_rows(seeded)
        assert len(rows) == Concern.objects.filter(is_anonymous=True).count()
        for receipt, title in rows:
            assert services.receipt_concern(receipt=receipt).title == title

    def test_its_receipts_are_printed_again_on_every_run(self, seeded):
        assert _receipt_rows(_seed()) == _receipt_rows(seeded)

    def test_it_has_a_past_meeting_with_notes_and_its_written_answer_debt(self, seeded):
        meeting = _ended_meeting()
        assert meeting.scheduled_start < timezone.now() - timedelta(days=14)
        assert {Role.LEADER, Role.MODERATOR} <= {h.role for h in meeting.hosts.all()}
        items = list(meeting.items.order_by("position"))
        assert {ItemSource.SUPPORT, ItemSource.MODERATOR} <= {it.source for it in items}
        assert any(not it.concern_id and it.time_box_minutes for it in items)
        discussed = [it for it in items if it.discussed_at]
        assert discussed
        for item in discussed:
            assert meeting.started_at <= item.discussed_at <= meeting.ended_at
            assert item.notes and "<p>" in item.notes_html, item  # Markdown, rendered
        assert any("<li>" in item.notes_html for item in discussed)
        page = meeting_page(meeting_id=meeting.pk, for_drivers=False)
        assert 1 <= page.discussed_answered < page.discussed_total
        for item in discussed:
            if not item.concern_id:
                continue
            concern = item.concern
            assert concern.published_at < meeting.started_at
            if ResponseVersion.objects.filter(response__concern=concern).exists():
                assert concern.status == Status.ANSWERED
            else:
                # The written-answer debt: still owed, and by now overdue.
                assert concern.status == Status.RESPONSE_DUE
                assert concern.response_due_since <= meeting.ended_at.date()
                assert concern.deadline_missed_on is not None

    def test_its_past_meeting_took_questions_from_the_floor(self, seeded):
        questions = LiveQuestion.objects.filter(meeting=_ended_meeting())
        assert questions.filter(is_anonymous=False, author__isnull=False).exists()
        assert questions.filter(is_anonymous=True).exists()
        assert questions.filter(status=QuestionStatus.REJECTED, concern=None).exists()
        assert questions.filter(status=QuestionStatus.APPROVED, highlighted=True).count() == 1
        assert not questions.filter(status=QuestionStatus.PENDING).exists()
        for question in questions.filter(status=QuestionStatus.APPROVED):
            assert question.vote_count == question.votes.count() > 0

    def test_approved_live_questions_became_open_concerns(self, seeded):
        approved = LiveQuestion.objects.filter(status=QuestionStatus.APPROVED)
        assert approved.count() >= 2
        for question in approved.select_related("concern"):
            concern = question.concern
            assert concern.status == Status.OPEN
            assert concern.title == question.text
            assert concern.is_anonymous == question.is_anonymous
            assert concern.author_id == question.author_id
            assert question.receipt_hash is None  # it follows the concern now
        anonymous = approved.get(is_anonymous=True).concern
        assert anonymous.author is None
        receipts = [r for r, title in _receipt_rows(seeded) if title == anonymous.title]
        assert len(receipts) == 1
        assert services.receipt_concern(receipt=receipts[0]) == anonymous

    def test_it_has_an_upcoming_planned_meeting_with_a_proposed_agenda(self, seeded):
        meeting = Meeting.objects.get(status=MeetingStatus.PLANNED)
        assert meeting.scheduled_start > timezone.now()
        assert meeting.hosts.exists()
        sources = list(meeting.items.order_by("position").values_list("source", flat=True))
        proposed = [s for s in sources if s != ItemSource.MODERATOR]
        assert len(proposed) >= 3
        assert sources[: len(proposed)] == proposed  # the proposal first, then additions
        assert sources.count(ItemSource.MODERATOR) == 1
        threshold = Organisation.current().agenda_vote_threshold
        for item in meeting.items.filter(source=ItemSource.SUPPORT):
            assert item.concern.vote_count >= threshold
            assert item.concern.status in (Status.OPEN, Status.RESPONSE_DUE)
        assert not meeting.items.filter(discussed_at__isnull=False).exists()

    def test_its_summary_lists_the_meetings_with_their_pages(self, seeded):
        rows = _meeting_rows(seeded)
        assert {url for url, *_ in rows} == {m.get_absolute_url() for m in Meeting.objects.all()}
        page = meeting_page(meeting_id=_ended_meeting().pk, for_drivers=False)
        assert any(
            f"{page.discussed_answered} of {page.discussed_total}" in state for *_, state in rows
        )
        assert _meeting_rows(_seed()) == rows


def test_seeding_refuses_a_database_that_already_has_people(settings):
    settings.DEBUG = True
    factories.person()
    with pytest.raises(CommandError, match="only fills an empty database"):
        _seed()
    assert not Concern.objects.exists()


def test_seeding_refuses_with_debug_off_because_the_demo_passwords_are_public(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        _seed()
    assert not User.objects.exists()
