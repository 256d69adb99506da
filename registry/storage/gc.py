"""Garbage collection, online: reclaim what nothing references while pushes go on.

Mark and sweep, one repository at a time, then the blobs:

1. **Manifests** (under the repository's lock, which manifest pushes take too). Kept: tagged
   manifests, manifests younger than the grace period, and, unless the repository reclaims
   untagged manifests (`Repository.reclaim_untagged`, default BERTH_GC_UNTAGGED=keep),
   every manifest; then, transitively, the children of a kept index and the referrers of a
   kept subject. Everything else goes, including referrers whose subject is gone.
2. **Links** (same lock): a repository stops holding a blob (its `RepositoryBlob`, which
   quotas count) when no kept manifest of the repository references it and it was neither
   uploaded nor mounted there within the grace period.
3. **Blobs**: a blob no repository holds and no manifest references, older than the grace
   period, is deleted (its record, then its bytes) under the blob's lock, after checking
   all of that again there: an upload or a mount of the same digest takes that lock too, so
   it either happened before (and the blob is kept) or happens after (and stores it anew).
4. **Leftovers**: stored bytes without a record (a crash between storing and recording),
   older than the grace period, and expired upload sessions.

A dry run changes nothing and reports what would go and how many bytes that frees. Every
run (dry or not) is recorded as a `Collection`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..digests import Digest
from ..models import Blob, Collection, Manifest, Repository, RepositoryBlob, Tag
from . import locks, uploads
from .stores import blob_store

log = logging.getLogger("registry.storage.gc")
ManifestBlobs = Manifest.blobs.through
ManifestChildren = Manifest.children.through


@dataclass
class Report:
    dry_run: bool
    grace: int
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)
    links: list[tuple[str, str, int]] = field(default_factory=list)  # (repository, digest, size)
    blobs: list[tuple[str, int]] = field(default_factory=list)  # (digest, size)
    leftovers: list[tuple[str, int]] = field(default_factory=list)  # (storage key, size)
    seconds: float = 0.0

    @property
    def bytes_freed(self) -> int:
        return sum(size for _, size in self.blobs) + sum(size for _, size in self.leftovers)


def collect(*, grace: int | None = None, dry_run: bool = False) -> Report:
    """One garbage collection run over every repository and blob."""
    grace = settings.BERTH_GC_GRACE if grace is None else grace
    began = time.monotonic()
    record = Collection.objects.create(dry_run=dry_run, grace_seconds=grace)
    cutoff = timezone.now() - timedelta(seconds=grace)
    report = Report(dry_run=dry_run, grace=grace)
    doomed_manifests: set[int] = set()
    doomed_links: set[int] = set()
    for repository in Repository.objects.order_by("pk").iterator():
        manifests, links = _sweep_repository(repository, cutoff, dry_run, report)
        doomed_manifests |= manifests
        doomed_links |= links
    _sweep_blobs(cutoff, dry_run, report, doomed_manifests, doomed_links)
    _sweep_leftovers(cutoff, dry_run, report)
    if not dry_run:
        uploads.purge_expired()
    report.seconds = time.monotonic() - began
    Collection.objects.filter(pk=record.pk).update(
        finished_at=timezone.now(),
        manifests=len(report.manifests),
        links=len(report.links),
        blobs=len(report.blobs),
        bytes_freed=report.bytes_freed,
    )
    log.info(
        "garbage collection%s: %d manifests, %d links, %d blobs, %d leftovers, %d bytes in %.1f s",
        " (dry run)" if dry_run else "",
        len(report.manifests),
        len(report.links),
        len(report.blobs),
        len(report.leftovers),
        report.bytes_freed,
        report.seconds,
    )
    return report


# -- one repository -----------------------------------------------------------------------------


def _reclaims_untagged(repository: Repository) -> bool:
    if repository.reclaim_untagged is not None:
        return repository.reclaim_untagged
    return settings.BERTH_GC_UNTAGGED == "reclaim"


def _sweep_repository(repository, cutoff, dry_run: bool, report: Report):
    with locks.repository_lock(repository.pk):
        rows = list(
            Manifest.objects.filter(repository=repository).values_list(
                "id", "digest", "subject_digest", "created_at"
            )
        )
        by_digest = {digest: pk for pk, digest, _, _ in rows}
        tagged = set(
            Tag.objects.filter(repository=repository).values_list("manifest_id", flat=True)
        )
        children: dict[int, list[int]] = {}
        for parent, child in ManifestChildren.objects.filter(
            from_manifest__repository=repository
        ).values_list("from_manifest_id", "to_manifest_id"):
            children.setdefault(parent, []).append(child)
        referrers: dict[int, list[int]] = {}
        for pk, _, subject, _ in rows:
            if subject and subject in by_digest:
                referrers.setdefault(by_digest[subject], []).append(pk)

        reclaim = _reclaims_untagged(repository)
        roots = set(tagged)
        for pk, _, subject, created_at in rows:
            orphaned_referrer = bool(subject) and subject not in by_digest
            if created_at >= cutoff or not (reclaim or orphaned_referrer):
                roots.add(pk)
        kept, frontier = set(), list(roots)
        while frontier:
            pk = frontier.pop()
            if pk in kept:
                continue
            kept.add(pk)
            frontier += children.get(pk, []) + referrers.get(pk, [])
        doomed = [(pk, digest) for pk, digest, _, _ in rows if pk not in kept]

        referenced = set(
            ManifestBlobs.objects.filter(manifest_id__in=kept).values_list("blob_id", flat=True)
        )
        stale = (
            RepositoryBlob.objects.filter(repository=repository, linked_at__lt=cutoff)
            .exclude(blob_id__in=referenced)
            .values_list("id", "blob__digest", "blob__size")
        )
        links = list(stale)
        report.manifests += [(repository.name, digest) for _, digest in doomed]
        report.links += [(repository.name, digest, size) for _, digest, size in links]
        if not dry_run:
            Manifest.objects.filter(pk__in=[pk for pk, _ in doomed]).delete()
            RepositoryBlob.objects.filter(pk__in=[pk for pk, _, _ in links]).delete()
    return {pk for pk, _ in doomed}, {pk for pk, _, _ in links}


# -- blobs --------------------------------------------------------------------------------------


def _unreferenced(blobs, doomed_manifests=(), doomed_links=()):
    held = RepositoryBlob.objects.filter(blob=OuterRef("pk")).exclude(pk__in=doomed_links)
    used = ManifestBlobs.objects.filter(blob=OuterRef("pk")).exclude(
        manifest_id__in=doomed_manifests
    )
    return blobs.filter(~Exists(held), ~Exists(used))


def _sweep_blobs(cutoff, dry_run: bool, report: Report, doomed_manifests, doomed_links) -> None:
    candidates = _unreferenced(
        Blob.objects.filter(created_at__lt=cutoff), doomed_manifests, doomed_links
    ).values_list("pk", "digest", "size")
    store = blob_store()
    for pk, digest, size in list(candidates):
        if dry_run:
            report.blobs.append((digest, size))
            continue
        with locks.blob_lock(digest):
            # Again, under the lock that uploads and mounts of this digest take.
            if not _unreferenced(Blob.objects.filter(pk=pk, created_at__lt=cutoff)).exists():
                continue
            Blob.objects.filter(pk=pk).delete()
            store.delete(_parse(digest).storage_key)
        report.blobs.append((digest, size))


def _sweep_leftovers(cutoff, dry_run: bool, report: Report) -> None:
    """Stored bytes that no record names (a crash between storing and recording)."""
    store = blob_store()
    horizon = cutoff.timestamp()
    for key, size, modified in store.listing():
        if modified >= horizon or not key.startswith(("sha256/", "sha512/")):
            continue
        algorithm, _, rest = key.partition("/")
        digest = f"{algorithm}:{rest.rpartition('/')[2]}"
        if Blob.objects.filter(digest=digest).exists():
            continue
        if not dry_run:
            with locks.blob_lock(digest):
                if Blob.objects.filter(digest=digest).exists():
                    continue
                store.delete(key)
        report.leftovers.append((key, size))


def _parse(digest: str) -> Digest:
    algorithm, _, encoded = digest.partition(":")
    return Digest(algorithm, encoded)
