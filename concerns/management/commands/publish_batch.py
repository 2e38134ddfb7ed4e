"""Runs the publication batch now: what the beat schedule does at
PUBLICATION_BATCH_HOURS. For operators, and for the demo, which runs no beat."""

from django.core.management.base import BaseCommand

from concerns.services import next_publication_batch, publication_batch


class Command(BaseCommand):
    help = "Publish approved anonymous concerns and held announcements now, shuffled."

    def handle(self, *args, **options):
        batch = publication_batch()
        self.stdout.write(
            f"Published {batch.published} anonymous concern(s) and announced "
            f"{batch.announced} response(s) now due. The next scheduled batch is at "
            f"{next_publication_batch():%H:%M on %-d %b %Y}."
        )
