"""Archive imports: a resumable upload, then a Celery task that reads the archive
(gallery.publishing.archives) and stores it through the registry's own services, so that
the hook, indexing, scanning and every check apply as to a push.

The upload lands in BERTH_UPLOAD_DIR/imports/<id>, appended in order (a chunk must start
where the upload stands, so a client that lost its connection asks where that is and goes
on from there). Nothing is stored in the registry until the whole archive has been read and
checked; a failure then leaves nothing behind. The task is idempotent: run again after a
crash, it starts over and finds what it already stored.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

from registry import digests, quotas
from registry import services as registry_services
from registry.access import audit
from registry.errors import RegistryError
from registry.models import Repository

from .. import services as gallery_services
from . import archives
from .models import ArchiveImport

log = logging.getLogger(__name__)
PROGRESS_EVERY = 1.0  # seconds between progress writes


class UploadError(ValueError):
    """A chunk refused; `offset` is where the upload stands."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def staging(archive: ArchiveImport) -> Path:
    directory = Path(settings.BERTH_UPLOAD_DIR) / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / str(archive.id)


def start(
    *, repository: Repository, user, filename: str, size: int, tag: str = ""
) -> ArchiveImport:
    if size <= 0 or size > settings.BERTH_IMPORT_MAX_UPLOAD_BYTES:
        raise UploadError(
            f"An archive may be 1 byte to {settings.BERTH_IMPORT_MAX_UPLOAD_BYTES} bytes.", 0
        )
    archive = ArchiveImport.objects.create(
        repository=repository, user=user, filename=filename[:255], size=size, tag=tag[:128]
    )
    staging(archive).touch()
    return archive


def append(*, archive: ArchiveImport, start: int, chunks: Iterable[bytes]) -> ArchiveImport:
    """Append a chunk that starts at `start`; queue the import once the archive is whole."""
    archive.refresh_from_db()
    if archive.state != ArchiveImport.State.UPLOADING:
        raise UploadError("This upload is complete.", archive.received)
    if start != archive.received:
        raise UploadError("The chunk does not start where the upload stands.", archive.received)
    path = staging(archive)
    if not path.exists():  # another server's disk: BERTH_UPLOAD_DIR is not shared
        log.error("import %s: %s is missing; BERTH_UPLOAD_DIR must be shared", archive.pk, path)
        raise UploadError("This server cannot find the upload; start it again.", archive.received)
    written = 0
    with open(path, "r+b") as handle:
        handle.truncate(archive.received)  # bytes past the offset are from a broken request
        handle.seek(archive.received)
        for chunk in chunks:
            written += len(chunk)
            if archive.received + written > archive.size:
                raise UploadError("The upload is larger than announced.", archive.received)
            handle.write(chunk)
    archive.received += written
    ArchiveImport.objects.filter(pk=archive.pk).update(received=archive.received)
    if archive.received == archive.size:
        queue(archive)
    return archive


def queue(archive: ArchiveImport) -> None:
    from ..tasks import import_archive, run_soon

    ArchiveImport.objects.filter(pk=archive.pk).update(state=ArchiveImport.State.QUEUED)
    archive.state = ArchiveImport.State.QUEUED
    transaction.on_commit(lambda: run_soon(import_archive, str(archive.pk)))


def run(archive_id: str) -> None:
    """The import itself (the Celery task's body): read, check, then store."""
    archive = (
        ArchiveImport.objects.filter(pk=archive_id).select_related("repository", "user").first()
    )
    if archive is None or archive.state in (ArchiveImport.State.DONE, ArchiveImport.State.FAILED):
        return
    _update(archive, state=ArchiveImport.State.IMPORTING, progress=1)
    work = Path(tempfile.mkdtemp(prefix="import-", dir=staging(archive).parent))
    try:
        last = [0.0]

        def reading(fraction: float) -> None:  # reading is the first half of the work
            if time.monotonic() - last[0] > PROGRESS_EVERY:
                last[0] = time.monotonic()
                _update(archive, progress=max(1, int(fraction * 50)))

        plan = archives.read(staging(archive), work, progress=reading, tag=archive.tag)
        _update(archive, kind=plan.kind, progress=50)
        _store(archive, plan)
    except (archives.ArchiveError, RegistryError) as error:
        message = getattr(error, "text", None) or str(error)
        _update(archive, state=ArchiveImport.State.FAILED, message=message[:2000])
    except Exception:
        log.exception("import %s failed", archive_id)
        _update(
            archive,
            state=ArchiveImport.State.FAILED,
            message="The import failed on our side; try again, and tell the operators if it "
            "keeps failing.",
        )
        raise
    else:
        _update(archive, state=ArchiveImport.State.DONE, progress=100, tags=sorted(plan.tags))
        staging(archive).unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _update(archive: ArchiveImport, **fields) -> None:
    ArchiveImport.objects.filter(pk=archive.pk).update(**fields)
    for key, value in fields.items():
        setattr(archive, key, value)


def _store(archive: ArchiveImport, plan: archives.Plan) -> None:
    """Blobs, then manifests (children first), then tags, through the registry's services.
    The plan was checked whole, so this only fails on the registry's own limits."""
    repository = Repository.objects.get(pk=archive.repository_id)
    quotas.check_addition(repository, plan.size)  # before anything is stored
    actor = audit.Actor(archive.user.username, archive.user_id, "")
    total = max(plan.size, 1)
    stored = 0
    for blob in plan.blobs.values():
        digest = digests.parse(blob.digest)
        with open(blob.path, "rb") as handle:
            registry_services.upload_blob(
                repository=repository,
                digest=digest,
                chunks=iter(lambda h=handle: h.read(1 << 20), b""),
            )
        stored += blob.size
        _update(archive, progress=50 + int(stored / total * 45))
    tagged = set(plan.tags.values())
    for digest, body, media_type in plan.manifests:
        if digest not in tagged:
            registry_services.commit_manifest(
                repository=repository, reference=digest, body=body, content_type=media_type,
                actor=actor,
            )  # fmt: skip
    bodies = {digest: (body, media_type) for digest, body, media_type in plan.manifests}
    for tag, digest in plan.tags.items():
        body, media_type = bodies[digest]
        registry_services.commit_manifest(
            repository=repository, reference=tag, body=body, content_type=media_type, actor=actor
        )
    gallery_services.index_repository(repository_id=repository.pk)


def purge_abandoned(older_than: float) -> int:
    """Drop uploads nobody finished (their staged bytes too)."""
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(seconds=older_than)
    stale = ArchiveImport.objects.filter(state=ArchiveImport.State.UPLOADING, updated_at__lt=cutoff)
    count = 0
    for archive in stale:
        staging(archive).unlink(missing_ok=True)
        archive.delete()
        count += 1
    return count


def free_space_ok(size: int) -> bool:
    """Room to stage the archive and what it unpacks to (about twice its size)."""
    directory = Path(settings.BERTH_UPLOAD_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize > 2 * size
