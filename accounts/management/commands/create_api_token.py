from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_token_create
from concerns.errors import ConcernError


class Command(BaseCommand):
    help = "Creates a personal API token and prints it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What will use it, e.g. 'Slack bot'.")

    def handle(self, *args, username: str, name: str, **options):
        person = get_user_model().objects.filter(username=username).first()
        if person is None:
            raise CommandError(f"No person with the username {username!r}.")
        try:
            issued = api_token_create(person=person, name=name)
        except ConcernError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(issued.secret)
        self.stderr.write(
            f"Token “{issued.token.name}” for {username}. It is shown only now; "
            "send it as 'Authorization: Bearer <token>'."
        )
