"""Delete an account; its namespaces stay reserved (their repositories go only if asked)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.access import namespaces


class Command(BaseCommand):
    help = (
        "Delete a user. Their namespaces stay reserved, so no new account can take over their "
        "repositories; --delete-repositories deletes those repositories too."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--delete-repositories",
            action="store_true",
            help="also delete every repository in the user's namespaces",
        )

    def handle(self, *args, username, delete_repositories, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        deleted = namespaces.delete_user(user, delete_repositories=delete_repositories)
        if delete_repositories:
            count = len(deleted)
            what = f"{count} {'repository' if count == 1 else 'repositories'} deleted"
        else:
            what = "their repositories kept"
        self.stdout.write(f"Deleted {username}; {what}; their namespaces stay reserved.")
