from django.core.management.base import BaseCommand, CommandError

from registry.storage import rotation


class Command(BaseCommand):
    help = (
        "Re-wrap every blob's data key under the current master key (content is not "
        "rewritten). --new-key first generates a new key into the key file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--new-key",
            action="store_true",
            help="generate a new master key into the key file and retire the old ones",
        )
        parser.add_argument(
            "--keep-retired",
            action="store_true",
            help="with --new-key: keep the old keys in the key file",
        )

    def handle(self, *args, **options):
        try:
            done = rotation.rotate(new_key=options["new_key"], keep_retired=options["keep_retired"])
        except rotation.RotationRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"re-wrapped {done.rewrapped} data key(s) under {done.current}")
        for key_id in done.retired:
            self.stdout.write(f"retired master key {key_id}")
