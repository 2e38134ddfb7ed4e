import re
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

from accounts.models import Department, Organisation, Role, User
from concerns import selectors, services
from concerns.models import Concern, Message, Status
from responses.models import Commitment, CommitmentStatus, ResponseVersion
from tests import factories

pytestmark = pytest.mark.django_db

# "  <receipt, 34 characters>  <status, padded to 12>  <title>"
RECEIPT_ROW = re.compile(r"^  ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){6})  (.{12})  (.+)$")


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _receipt_rows(output: str) -> list[tuple[str, str]]:
    rows = [RECEIPT_ROW.match(line) for line in output.splitlines()]
    return [(row[1], row[3]) for row in rows if row]


def _counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


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
        statuses = dict(Concern.objects.values_list("pk", "status"))
        output = _seed()
        assert "already seeded" in output
        assert _counts() == before
        assert dict(Concern.objects.values_list("pk", "status")) == statuses

    def test_its_printed_receipts_open_their_concerns(self, seeded):
        rows = _receipt_rows(seeded)
        assert len(rows) == Concern.objects.filter(is_anonymous=True).count()
        for receipt, title in rows:
            assert services.receipt_concern(receipt=receipt).title == title

    def test_its_receipts_are_printed_again_on_every_run(self, seeded):
        assert _receipt_rows(_seed()) == _receipt_rows(seeded)


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
