from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import Anchor, ledger_verify


class Command(BaseCommand):
    help = "Checks the whole hash chain; with --head, also that it still extends that head."

    def add_arguments(self, parser):
        parser.add_argument(
            "--head",
            metavar="SEQUENCE:HASH",
            help="A head published earlier (for example in a digest).",
        )

    def handle(self, *args, head=None, **options):
        anchor = None
        if head:
            try:
                anchor = Anchor.parse(head)
            except ValueError as error:
                raise CommandError(str(error)) from error
        result = ledger_verify(anchor=anchor)
        if not result.ok:
            raise CommandError(
                f"Ledger broken at entry #{result.broken_sequence}: {result.problem}"
            )
        extends = f", and it extends head #{anchor.sequence}" if anchor else ""
        self.stdout.write(
            f"Ledger intact: {result.checked} entries{extends}. "
            f"Head #{result.head_sequence} {result.head_hash}"
        )
