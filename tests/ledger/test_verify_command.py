"""Checking the ledger from the command line (`manage.py verify_ledger`) and from the
ledger page: the same verdict, one readable line naming the broken entry."""

import pytest
from django.core.management import execute_from_command_line
from django.urls import reverse

from ledger.services import canonical_json
from tests import factories
from tests.ledger import chain, head, tamper
from tests.responses import page_text, visible_text

pytestmark = pytest.mark.django_db


def verify_ledger(capsys, *arguments: str) -> tuple[int, str, str]:
    """Runs the command as `manage.py` would, in this process so that it sees the test
    database, and returns its exit status, standard output and standard error."""
    try:
        execute_from_command_line(["manage.py", "verify_ledger", *arguments])
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def break_entry_3() -> None:
    tamper(
        "UPDATE ledger_ledgerentry SET payload = %s WHERE sequence = 3",
        (canonical_json({"n": 33}),),
    )


# The command -------------------------------------------------------------------------


def test_the_command_says_an_intact_ledger_is_intact(capsys):
    chain(5)
    sequence, digest = head()

    status, out, err = verify_ledger(capsys)

    assert status == 0
    assert out == f"Ledger intact: 5 entries. Head #5 {digest}\n"
    assert err == ""


def test_the_command_says_an_empty_ledger_is_intact(capsys):
    status, out, _ = verify_ledger(capsys)

    assert status == 0
    assert out.startswith("Ledger intact: 0 entries.")


def test_the_command_fails_with_one_line_naming_the_broken_entry(capsys):
    chain(5)
    break_entry_3()

    status, out, err = verify_ledger(capsys)

    assert status != 0
    assert out == ""
    assert err.splitlines() == [
        "CommandError: Ledger broken at entry #3: "
        "Entry #3 was altered: its contents no longer match its hash."
    ]


def test_the_command_confirms_the_ledger_extends_a_published_head(capsys):
    chain(3)
    sequence, digest = head()
    chain(2)

    status, out, _ = verify_ledger(capsys, "--head", f"{sequence}:{digest.upper()}")

    assert status == 0
    assert out.startswith("Ledger intact: 5 entries, and it extends head #3. Head #5 ")


def test_a_head_published_while_the_ledger_was_empty_is_extended_by_any_intact_ledger(capsys):
    # An empty ledger's page shows "Current head: #0 000…"; someone may have noted it.
    empty = f"{head()[0]}:{head()[1]}"
    chain(3)

    status, out, err = verify_ledger(capsys, "--head", empty)

    assert (status, err) == (0, "")
    assert out.startswith("Ledger intact: 3 entries, and it extends head #0.")


def test_the_command_reports_a_published_head_the_ledger_no_longer_reaches(capsys):
    chain(3)

    status, _, err = verify_ledger(capsys, "--head", f"9:{'a' * 64}")

    assert status != 0
    assert err.splitlines() == [
        "CommandError: Ledger broken at entry #4: The ledger ends at entry #3, but head #9 "
        "was published earlier: entries were removed from the end."
    ]


@pytest.mark.parametrize(
    "value",
    ["42", "42:", "abc:" + "a" * 64, "42:" + "a" * 63, "42:" + "g" * 64, "-1:" + "a" * 64],
)
def test_a_malformed_head_is_a_clear_error(capsys, value):
    chain(1)

    status, out, err = verify_ledger(capsys, f"--head={value}")

    assert status != 0
    assert out == ""
    assert err.splitlines() == [
        "CommandError: A head is written SEQUENCE:HASH, e.g. 42:9f86d08…, 64 hex digits."
    ]


# The ledger page ---------------------------------------------------------------------


@pytest.fixture
def reader(client):
    client.force_login(factories.person())
    return client


def test_the_ledger_page_shows_the_head_and_the_entries(reader):
    chain(3)
    sequence, digest = head()

    response = reader.get(reverse("ledger:ledger"))

    assert f"Current head: #3 {digest}" in visible_text(response)
    text = page_text(response)
    assert 'id="entry-1"' in text and 'id="entry-3"' in text
    assert '{"n":2}' in text


def test_verifying_on_the_ledger_page_says_the_chain_is_intact(reader):
    chain(4)

    response = reader.post(reverse("ledger:ledger"))

    assert response.status_code == 200
    assert "✓ The chain is intact: 4 entries checked." in visible_text(response)


def test_verifying_on_the_ledger_page_names_the_broken_entry(reader):
    chain(4)
    break_entry_3()

    response = reader.post(reverse("ledger:ledger"))

    assert response.status_code == 200
    assert (
        "✗ Broken at entry #3: Entry #3 was altered: its contents no longer match its hash."
        in visible_text(response)
    )


def test_verifying_against_a_published_head_on_the_ledger_page(reader):
    chain(2)
    sequence, digest = head()
    chain(2)

    response = reader.post(reverse("ledger:ledger"), {"anchor": f" {sequence}:{digest} "})

    assert (
        "✓ The chain is intact: 4 entries checked, and it extends the head you gave."
        in visible_text(response)
    )


def test_a_malformed_head_on_the_ledger_page_is_a_400_with_a_message(reader):
    chain(2)

    response = reader.post(reverse("ledger:ledger"), {"anchor": "2:not-a-hash"})

    assert response.status_code == 400
    text = page_text(response)
    assert "A head is written SEQUENCE:HASH, e.g. 42:9f86d08…, 64 hex digits." in text
    assert 'aria-invalid="true"' in text
    assert 'value="2:not-a-hash"' in text
    assert "The chain is intact" not in text


def test_the_ledger_page_needs_a_signed_in_person(client):
    response = client.get(reverse("ledger:ledger"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))
