from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.scanning import advisories, tasks


class Command(BaseCommand):
    help = (
        "Import OSV advisories from a directory or zip of OSV JSON files (a re-import updates "
        "records in place), then rebuild the findings of every scanned image."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a directory (searched recursively) or a .zip")
        parser.add_argument(
            "--no-rematch", action="store_true", help="do not rebuild findings afterwards"
        )

    def handle(self, *args, path, no_rematch, **options):
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{source} does not exist")
        try:
            run = advisories.import_advisories(source)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
            f"{run.skipped} skipped"
        )
        if not no_rematch and (run.created or run.updated):
            count = tasks.rescan_all()
            self.stdout.write(f"findings of {count} scanned image(s) rebuilt or queued")
