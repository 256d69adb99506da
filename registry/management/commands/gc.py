from django.conf import settings
from django.core.management.base import BaseCommand

from registry.storage import gc


class Command(BaseCommand):
    help = (
        "Reclaim unreferenced manifests and blobs while the registry keeps running "
        "(registry/storage/gc.py)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would go and change nothing"
        )
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            metavar="SECONDS",
            help=f"leave alone what is younger (default BERTH_GC_GRACE, {settings.BERTH_GC_GRACE})",
        )

    def handle(self, *args, **options):
        if options["grace"] is not None and options["grace"] < 0:
            self.stderr.write("--grace must be 0 or more")
            raise SystemExit(2)
        report = gc.collect(grace=options["grace"], dry_run=options["dry_run"])
        verb = "would reclaim" if report.dry_run else "reclaimed"
        for repository, digest in report.manifests:
            self.stdout.write(f"manifest {repository}@{digest}")
        for repository, digest, size in report.links:
            self.stdout.write(f"link     {repository} -> {digest} ({size} bytes)")
        for digest, size in report.blobs:
            self.stdout.write(f"blob     {digest} ({size} bytes)")
        for key, size in report.leftovers:
            self.stdout.write(f"leftover {key} ({size} bytes)")
        self.stdout.write(
            f"{verb} {len(report.manifests)} manifests, {len(report.links)} links, "
            f"{len(report.blobs)} blobs and {len(report.leftovers)} leftovers: "
            f"{report.bytes_freed} bytes (grace {report.grace} s, {report.seconds:.1f} s)"
        )
