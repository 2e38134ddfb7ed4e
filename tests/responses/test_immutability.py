"""Published records are never edited in place and never deleted. On PostgreSQL the
database itself refuses, whatever SQL the application (or anyone else) sends."""

import datetime
from dataclasses import dataclass

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from ledger.models import LedgerEntry
from responses import services
from responses.models import CommitmentUpdate, ResponseVersion
from tests import factories
from tests.responses import due_concern, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def leader():
    return factories.leader(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def version(leader) -> ResponseVersion:
    concern = due_concern(leader=leader)
    version = publish(concern, leader, summary="We will end the police contracts.")
    services.commitment_add(
        concern=concern,
        leader=leader,
        description="End the contracts",
        owner=leader,
        due_on=timezone.localdate() + datetime.timedelta(days=30),
    )
    return version


def refused(sql: str, params: list) -> DatabaseError:
    """Runs `sql` in a savepoint, so the refusal leaves the test's transaction usable,
    and returns the database's error."""
    with (
        pytest.raises(DatabaseError) as refusal,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    assert isinstance(refusal.value.__cause__, psycopg.errors.InsufficientPrivilege)
    return refusal.value


@dataclass(frozen=True)
class Guarded:
    """An append-only table, the column that identifies a row and one it could edit."""

    table: str
    key: str
    column: str
    model: type


GUARDED = [
    Guarded("responses_responseversion", "id", "summary", ResponseVersion),
    Guarded("responses_commitmentupdate", "id", "note", CommitmentUpdate),
    Guarded("ledger_ledgerentry", "sequence", "payload", LedgerEntry),
]


def first_row(guarded: Guarded) -> tuple[object, str]:
    row = guarded.model.objects.order_by("pk").values_list("pk", guarded.column).first()
    return row[0], row[1]


@pytest.mark.postgres
@pytest.mark.parametrize("guarded", GUARDED, ids=lambda g: g.table)
def test_the_database_refuses_to_edit_a_record_in_place(version, guarded):
    key, before = first_row(guarded)

    error = refused(
        f"UPDATE {guarded.table} SET {guarded.column} = %s WHERE {guarded.key} = %s",
        ["{}", key],
    )

    assert f"Answerable keeps this record forever: UPDATE on {guarded.table} is refused" in str(
        error
    )
    assert first_row(guarded) == (key, before)


@pytest.mark.postgres
@pytest.mark.parametrize("guarded", GUARDED, ids=lambda g: g.table)
def test_the_database_refuses_to_delete_a_record(version, guarded):
    key, before = first_row(guarded)

    error = refused(f"DELETE FROM {guarded.table} WHERE {guarded.key} = %s", [key])

    assert f"Answerable keeps this record forever: DELETE on {guarded.table} is refused" in str(
        error
    )
    assert first_row(guarded) == (key, before)


@pytest.mark.postgres
def test_saving_a_published_version_through_the_orm_is_refused(version):
    version.summary = "We never said that."

    with (
        pytest.raises(DatabaseError, match="UPDATE on responses_responseversion is refused"),
        transaction.atomic(),
    ):
        version.save()

    assert ResponseVersion.objects.get().summary == "We will end the police contracts."


@pytest.mark.postgres
def test_deleting_a_published_version_through_the_orm_is_refused(version):
    with (
        pytest.raises(DatabaseError, match="DELETE on responses_responseversion is refused"),
        transaction.atomic(),
    ):
        version.delete()

    assert ResponseVersion.objects.filter(pk=version.pk).exists()


@pytest.mark.postgres
def test_deleting_a_ledger_entry_through_the_orm_is_refused(version):
    with (
        pytest.raises(DatabaseError, match="DELETE on ledger_ledgerentry is refused"),
        transaction.atomic(),
    ):
        LedgerEntry.objects.filter(sequence=version.ledger_sequence).delete()

    assert LedgerEntry.objects.filter(sequence=version.ledger_sequence).exists()


def test_a_leader_who_signed_a_version_cannot_be_deleted():
    accountable, signer = factories.leader(), factories.leader()
    concern = due_concern(leader=accountable)
    version = publish(concern, signer)

    with pytest.raises(ProtectedError) as refusal:
        signer.delete()

    assert version in refusal.value.protected_objects
    assert ResponseVersion.objects.get().signed_as == signer.display_name


def test_a_published_version_with_ratings_cannot_be_deleted_through_the_orm(leader):
    concern = due_concern(leader=leader)
    version = publish(concern, leader)
    services.rating_cast(concern=concern, rater=factories.person(), value="answered")

    with pytest.raises(ProtectedError):
        version.delete()

    assert ResponseVersion.objects.filter(pk=version.pk).exists()
