import sys

from django.core.management.base import BaseCommand, CommandError

from concerns.errors import ConcernError
from notifications import services
from notifications.models import Frequency


class Command(BaseCommand):
    help = "Sends this period's digests now, through the same code path as Celery beat."

    def add_arguments(self, parser):
        parser.add_argument(
            "--period", choices=[Frequency.DAILY.value, Frequency.WEEKLY.value], required=True
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count who would get one; send nothing."
        )

    def handle(self, *args, period: str, dry_run: bool = False, **options):
        if dry_run:
            from django.db import transaction

            with transaction.atomic():
                scheduled = services.digests_schedule(period=period, enqueue=False)
                transaction.set_rollback(True)
            self.stdout.write(
                f"Dry run: {len(scheduled.created)} would be sent, "
                f"{scheduled.skipped} already had this period's digest."
            )
            return
        try:
            scheduled = services.digests_schedule(period=period, enqueue=False)
        except ConcernError as error:
            raise CommandError(str(error)) from error
        # Digests of this period that an earlier run could not send are tried again.
        retrying = services.digests_unsent(period=period, exclude=scheduled.created)
        to_send = scheduled.created + retrying
        outcome = {"sent": 0, "already": 0, "failed": 0}
        total = len(to_send)
        for done, delivery_id in enumerate(to_send, start=1):
            try:
                result = services.delivery_send(delivery_id=delivery_id)
            except services.DeliveryFailed:
                result = "failed"  # recorded on the delivery; the admin can retry it
            outcome[result] += 1
            self._progress(done, total)
        if total:
            sys.stderr.write("\n")
        self.stdout.write(
            f"Sent {outcome['sent']}, "
            f"skipped {scheduled.skipped - len(retrying) + outcome['already']}, "
            f"failed {outcome['failed']}."
        )
        if outcome["failed"]:
            raise CommandError(
                f"{outcome['failed']} digest(s) failed; see Deliveries in the admin."
            )

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()
