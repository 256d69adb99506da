import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.errors import RegistryError
from registry.models import Manifest, Repository
from registry.scanning import services, tasks


class Command(BaseCommand):
    help = (
        "Scan images: NAME:TAG or NAME@DIGEST (again with --force), --pending (scans whose "
        "task was lost), or --all (every stored image without a current scan: pushed before "
        "scanning was on, failed, or read by an older scanner). --report prints an image's "
        "scan status and findings as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("references", nargs="*", help="repository:tag or repository@digest")
        parser.add_argument("--force", action="store_true", help="scan even if scanned already")
        parser.add_argument("--pending", action="store_true", help="requeue lost scans")
        parser.add_argument(
            "--all", action="store_true", dest="every", help="queue every image not scanned"
        )
        parser.add_argument(
            "--report", action="store_true", help="print status and findings, scan nothing"
        )

    def handle(self, *args, references, force, pending, every, report, **options):
        if every:
            queued = 0
            for manifest in services.unscanned_manifests():
                with transaction.atomic():
                    queued += len(tasks.queue_manifest(manifest))
            self.stdout.write(f"{queued} image scans queued")
            tasks.wait_for_background(timeout=None)
        if pending:
            requeued = 0
            for scan in services.pending_scans():
                manifest = Manifest.objects.filter(digest=scan.digest).first()
                if manifest is not None:
                    requeued += len(tasks.queue_manifest(manifest, force=True))
            self.stdout.write(f"{requeued} lost image scans queued again")
        for text in references:
            repository, reference = self._parse(text)
            if report:
                self.stdout.write(json.dumps(self._report(repository, reference), default=str))
                continue
            try:
                manifest = services.manifest_for(repository, reference)
            except RegistryError:
                raise CommandError(f"{text}: no such manifest") from None
            for scan in services.scan_manifest(manifest_id=manifest.pk, force=force):
                self.stdout.write(
                    f"{scan.digest} {scan.platform or '-'} {scan.status} {scan.reason}"
                )

    def _parse(self, text: str) -> tuple[Repository, str]:
        if "@" in text:
            name, _, reference = text.partition("@")
        else:
            name, _, reference = text.rpartition(":")
        repository = Repository.objects.filter(name=name).first()
        if repository is None or not reference:
            raise CommandError(f"{text}: no such repository or reference")
        return repository, reference

    def _report(self, repository: Repository, reference: str) -> dict:
        try:
            image = services.image_vulnerabilities(repository=repository, reference=reference)
            findings = services.list_findings(repository=repository, reference=reference)
        except RegistryError:
            raise CommandError(f"{repository.name} {reference}: no such manifest") from None
        return {
            "digest": image.digest,
            "database_updated_at": image.database_updated_at,
            "platforms": [platform.__dict__ for platform in image.platforms],
            "findings": [finding.__dict__ for finding in findings],
        }
