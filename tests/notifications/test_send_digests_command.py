"""`manage.py send_digests` sends this period's digests by hand through the same code
path as the beat schedule, and says how many were sent, skipped and failed."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from notifications.models import Delivery, DeliveryStatus, Frequency
from notifications.services import preference_set
from tests import factories
from tests.notifications import outbox_recipients
from tests.notifications.conftest import DIGEST_DAY
from tests.responses import travel_to

pytestmark = pytest.mark.django_db

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def staff(monkeypatch):
    travel_to(monkeypatch, DIGEST_DAY, hour=7)
    people = [factories.person() for _ in range(3)]
    preference_set(person=factories.person(), digest=Frequency.NONE)
    return people


def send_digests(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("send_digests", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_dry_run_counts_who_would_get_one_and_sends_nothing(staff):
    out, _ = send_digests("--period", "weekly", "--dry-run")

    assert out.strip() == "Dry run: 3 would be sent, 0 already had this period's digest."
    assert mail.outbox == []
    assert not Delivery.objects.exists()


def test_sending_prints_what_was_sent_and_a_second_run_sends_nothing(staff, capsys):
    out, _ = send_digests("--period", "weekly")
    progress = capsys.readouterr().err

    assert out.strip() == "Sent 3, skipped 0, failed 0."
    assert outbox_recipients() == sorted(p.email for p in staff)
    assert "[##############################] 3/3" in progress

    again, _ = send_digests("--period", "weekly")

    assert again.strip() == "Sent 0, skipped 3, failed 0."
    assert len(mail.outbox) == 3


def test_a_dry_run_after_sending_says_everyone_had_it(staff):
    send_digests("--period", "weekly")

    out, _ = send_digests("--period", "weekly", "--dry-run")

    assert out.strip() == "Dry run: 0 would be sent, 3 already had this period's digest."


def test_the_daily_period_sends_to_daily_people_only(staff):
    daily = factories.person()
    preference_set(person=daily, digest=Frequency.DAILY)

    out, _ = send_digests("--period", "daily")

    assert out.strip() == "Sent 1, skipped 0, failed 0."
    assert outbox_recipients() == [daily.email]


def test_an_unknown_period_is_refused_with_a_readable_error(staff):
    with pytest.raises(CommandError, match="invalid choice: 'monthly'"):
        send_digests("--period", "monthly")
    assert mail.outbox == []


def test_an_unknown_period_exits_non_zero_from_the_shell():
    run = subprocess.run(
        [sys.executable, "manage.py", "send_digests", "--period", "monthly"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings"},
    )

    assert run.returncode != 0
    # Python quotes the choices or not depending on its version; either reads well.
    assert re.search(
        r"argument --period: invalid choice: 'monthly' \(choose from '?daily'?, '?weekly'?\)",
        run.stderr,
    ), run.stderr
    assert "Traceback" not in run.stderr


def test_a_digest_the_server_refused_is_counted_failed_and_sent_by_the_next_run(staff, smtp_sink):
    smtp_sink.refuse_first = 1

    out = io.StringIO()
    with pytest.raises(CommandError, match="3 digest\\(s\\) failed; see Deliveries in the admin."):
        call_command("send_digests", "--period", "weekly", stdout=out)
    assert out.getvalue().strip() == "Sent 0, skipped 0, failed 3."
    assert smtp_sink.messages == []

    again, _ = send_digests("--period", "weekly")

    # A refused digest must not be stranded as pending: the next run sends it.
    assert again.startswith("Sent 3,") and again.strip().endswith("failed 0.")
    assert not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()
    assert sorted(smtp_sink.recipients().elements()) == sorted(p.email for p in staff)
