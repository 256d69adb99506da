"""Scanning operations, and the typed read functions pages and the API call.

Writing:
- `queue_scan(manifest=…)`: make sure an image (or each platform of an index) gets scanned;
  the push listener and the rescan button call it. `scan_manifest(manifest_id=…)` scans now.
- `scan_image(manifest_id=…, token=…)`: what the Celery task runs: read the layers, catalog,
  match, store. Idempotent: a scan finishes once, whoever runs it and however often.
- `rematch(scan_id=…)` / `rescan_all()`: rebuild findings from stored packages after the
  advisories changed (no layer is read again).

Reading (`image_vulnerabilities`, `list_findings`, `tag_summaries`, `compare_tags`, `sbom`)
take a repository the caller may already see and a digest or tag, and return dataclasses.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone

from registry import digests, manifests, mediatypes, storage
from registry.errors import ManifestUnknown, RegistryError
from registry.memo import DigestMemo
from registry.models import Manifest, Repository, Tag
from registry.storage import blobs
from registry.text import storable

from . import catalogers, layers, matching
from .advisories import database_age
from .models import (
    SEVERITY_ORDER,
    Advisory,
    Finding,
    ImagePackage,
    ImageScan,
    ScanStatus,
    Severity,
)

log = logging.getLogger(__name__)

# Bump when catalogers find more (or better) than before: stored scans are then read again.
SCANNER_VERSION = 1
CONFIG_MAX_BYTES = 1024 * 1024
REASON_MAX = 1024
FIXED_IN_TAGS = 100  # "fixed in" looks at this many of the newest tags
SBOM_ARTIFACT_TYPE = "application/vnd.cyclonedx+json"


# -- queueing -----------------------------------------------------------------------------------


def _parse(manifest: Manifest) -> manifests.Manifest | None:
    try:
        return manifests.parse(bytes(manifest.body), manifest.media_type)
    except RegistryError:
        return None


def is_image(parsed: manifests.Manifest) -> bool:
    return (
        not parsed.is_index
        and parsed.config is not None
        and parsed.config.media_type in mediatypes.IMAGE_CONFIGS
        and not parsed.artifact_type
    )


def _children(manifest: Manifest, parsed: manifests.Manifest) -> list[Manifest]:
    wanted = [str(d.digest) for d in parsed.manifests]
    return list(Manifest.objects.filter(repository_id=manifest.repository_id, digest__in=wanted))


def _stale(scan: ImageScan) -> bool:
    since = (
        scan.queued_at if scan.status == ScanStatus.QUEUED else scan.started_at or scan.queued_at
    )
    return since < timezone.now() - timedelta(seconds=settings.BERTH_SCAN_STALE_SECONDS)


def queue_scan(
    *, manifest: Manifest, force: bool = False, enqueue: Callable[[int, str], None]
) -> list[ImageScan]:
    """Scans for `manifest` (each image of an index), queued where not done or on their way.

    `enqueue(manifest_id, token)` starts the task once the transaction commits. `force`
    queues a new scan even of an image scanned already (the rescan button).
    """
    parsed = _parse(manifest)
    if parsed is None:
        return []
    if parsed.is_index:
        return [
            scan
            for child in _children(manifest, parsed)
            for scan in queue_scan(manifest=child, force=force, enqueue=enqueue)
        ]
    if not is_image(parsed):
        return []
    with transaction.atomic():
        scan, created = ImageScan.objects.select_for_update().get_or_create(digest=manifest.digest)
        on_its_way = scan.status in (ScanStatus.QUEUED, ScanStatus.SCANNING) and not _stale(scan)
        current = scan.status == ScanStatus.DONE and scan.scanner_version >= SCANNER_VERSION
        if not created and not force and (on_its_way or current):
            return [scan]
        if force and on_its_way and not created:
            return [scan]
        scan.status, scan.reason, scan.queued_at = ScanStatus.QUEUED, "", timezone.now()
        scan.token = uuid.uuid4().hex
        scan.save(update_fields=["status", "reason", "queued_at", "token"])
        token = scan.token
        transaction.on_commit(lambda: enqueue(manifest.pk, token))
    return [scan]


# -- scanning -----------------------------------------------------------------------------------


def scan_manifest(*, manifest_id: int, force: bool = False) -> list[ImageScan]:
    """Scan a manifest (each image of an index) here and now, outside any transaction."""
    manifest = Manifest.objects.get(pk=manifest_id)
    jobs: list[tuple[int, str]] = []
    scans = queue_scan(manifest=manifest, force=force, enqueue=lambda m, t: jobs.append((m, t)))
    for job_manifest_id, token in jobs:
        scan_image(manifest_id=job_manifest_id, token=token)
    for scan in scans:
        scan.refresh_from_db()
    return scans


def _claim(digest: str, token: str) -> bool:
    """Take the scan for this task (again, if it is redelivered after a crash)."""
    return bool(
        ImageScan.objects.filter(
            digest=digest, token=token, status__in=[ScanStatus.QUEUED, ScanStatus.SCANNING]
        ).update(
            status=ScanStatus.SCANNING,
            attempts=F("attempts") + 1,
            started_at=timezone.now(),
        )
    )


def _read_config(descriptor: manifests.Descriptor) -> dict:
    if descriptor.size > CONFIG_MAX_BYTES:
        return {}
    try:
        with storage.open_blob(descriptor.digest) as handle:
            config = json.loads(handle.read(CONFIG_MAX_BYTES + 1))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _is_layer(descriptor: manifests.Descriptor) -> bool:
    return ".tar" in descriptor.media_type or descriptor.media_type in (
        mediatypes.DOCKER_LAYER,
        mediatypes.DOCKER_FOREIGN_LAYER,
    )


@dataclass
class _Result:
    distribution: str
    layers: list[str]
    packages: list[catalogers.Package]


def read_image(parsed: manifests.Manifest) -> _Result:
    """Apply the image's layers and catalog its packages (LayerError if a layer is hostile)."""
    fs = layers.Filesystem()
    budget = layers.Budget(layers.Limits.from_settings())
    digests_ = [str(layer.digest) for layer in parsed.layers]
    for index, layer in enumerate(parsed.layers):
        if not _is_layer(layer):
            continue
        try:
            with storage.open_blob(layer.digest) as handle:
                layers.apply_layer(fs, handle, index, catalogers.SELECTOR, budget)
        except (FileNotFoundError, OSError) as error:
            if layer.is_foreign:
                continue  # a layer fetched from its urls, never pushed here
            raise layers.LayerError(f"layer {layer.digest} cannot be read: {error}") from None
    dist, packages = catalogers.catalog(fs)
    name = " ".join(part for part in (dist.id, dist.version_id) if part)
    return _Result(name, digests_, packages)


def scan_image(*, manifest_id: int, token: str) -> ImageScan | None:
    """Scan one image manifest for the task holding `token`; None if not (or no longer) its job."""
    manifest = Manifest.objects.filter(pk=manifest_id).first()
    if manifest is None:
        return None
    if not _claim(manifest.digest, token):
        return None
    parsed = _parse(manifest)
    scan = ImageScan.objects.get(digest=manifest.digest)
    if parsed is None or not is_image(parsed):
        return _fail(scan, token, "not an image manifest")
    config = _read_config(parsed.config)
    platform = {
        key: storable(str(config.get(key, ""))[:64]) for key in ("os", "architecture", "variant")
    }
    try:
        result = read_image(parsed)
    except layers.LayerError as error:
        return _fail(scan, token, str(error), platform)
    except OperationalError:
        raise  # the database, not the image: the task retries
    except Exception as error:  # a cataloger's bug must not leave the scan "scanning"
        log.exception("scan of %s failed", manifest.digest)
        return _fail(scan, token, f"the scan failed ({error.__class__.__name__})", platform)
    with transaction.atomic():
        scan = ImageScan.objects.select_for_update().get(pk=scan.pk)
        if scan.token != token or scan.status != ScanStatus.SCANNING:
            return scan  # finished by someone else meanwhile: keep theirs
        scan.packages.all().delete()
        rows = [
            ImagePackage(
                scan=scan,
                type=p.type,
                name=p.name[:255],
                version=p.version[:255],
                ecosystem=p.ecosystem[:64],
                source_name=p.source_name[:255],
                source_version=p.source_version[:255],
                layer_digest=result.layers[p.layer] if 0 <= p.layer < len(result.layers) else "",
                path=p.path[:4096],
                arch=p.arch[:32],
                purl=p.purl[:1024],
            )
            for p in result.packages
        ]
        ImagePackage.objects.bulk_create(rows, batch_size=500)
        for key, value in platform.items():
            setattr(scan, key, value)
        scan.distribution = storable(result.distribution[:128])
        scan.layers = result.layers
        scan.status, scan.reason = ScanStatus.DONE, ""
        scan.scanner_version = SCANNER_VERSION
        scan.finished_at = timezone.now()
        _rebuild_findings(scan)
        scan.save()
    log.info("scanned %s: %d packages", scan.digest, len(rows))
    return scan


def _fail(scan: ImageScan, token: str, reason: str, platform: dict | None = None) -> ImageScan:
    updates = {
        "status": ScanStatus.FAILED,
        "reason": storable(reason[:REASON_MAX]),
        "finished_at": timezone.now(),
        **(platform or {}),
    }
    ImageScan.objects.filter(pk=scan.pk, token=token, status=ScanStatus.SCANNING).update(**updates)
    scan.refresh_from_db()
    log.warning("scan of %s failed: %s", scan.digest, reason)
    return scan


# -- matching -----------------------------------------------------------------------------------


def _rebuild_findings(scan: ImageScan) -> None:
    """Replace the scan's findings by a new match of its packages (in the caller's transaction)."""
    Finding.objects.filter(scan=scan).delete()
    packages = list(scan.packages.all())
    found = matching.match(packages)
    advisories = Advisory.objects.in_bulk({m.advisory_id for m in found})
    findings, seen = [], defaultdict(list)
    for match in found:
        advisory = advisories[match.advisory_id]
        names = {advisory.osv_id, *advisory.aliases}
        # The same vulnerability published twice (a DSA and a CVE record) is one finding.
        if any(names & other for other in seen[match.package]):
            continue
        seen[match.package].append(names)
        findings.append(
            Finding(
                scan=scan,
                package=packages[match.package],
                advisory=advisory,
                severity=match.severity or advisory.severity,
                fixed_version=match.fixed_version[:255],
            )
        )
    Finding.objects.bulk_create(findings, batch_size=500)
    counts = defaultdict(int)
    for finding in findings:
        counts[finding.severity] += 1
    for severity in SEVERITY_ORDER:
        setattr(scan, severity.value, counts[severity.value])
    scan.matched_at = timezone.now()


def rematch(*, scan_id: int) -> None:
    with transaction.atomic():
        scan = ImageScan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None or scan.status != ScanStatus.DONE:
            return
        _rebuild_findings(scan)
        scan.save(update_fields=["matched_at", *[s.value for s in SEVERITY_ORDER]])


def done_scan_ids() -> list[int]:
    return list(ImageScan.objects.filter(status=ScanStatus.DONE).values_list("pk", flat=True))


def rescan_all(*, rematch_ids: Callable[[list[int]], None] | None = None, chunk: int = 200) -> int:
    """Rebuild the findings of every scanned image (after the advisories changed).

    With `rematch_ids`, hands the ids over in chunks (to Celery tasks); else works here.
    """
    ids = done_scan_ids()
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        if rematch_ids is None:
            for scan_id in part:
                rematch(scan_id=scan_id)
        else:
            rematch_ids(part)
    return len(ids)


# -- reading: what pages and the API show -------------------------------------------------------


@dataclass(frozen=True)
class PlatformReport:
    digest: str  # the image manifest scanned
    platform: str  # "linux/amd64", "" until known
    status: str  # queued, scanning, done, failed; "" if never queued
    reason: str
    summary: dict[str, int]  # critical, high, medium, low, unknown
    distribution: str
    scanned_at: datetime | None


@dataclass(frozen=True)
class ImageReport:
    digest: str  # what was asked for: an image or an index
    platforms: list[PlatformReport]
    database_updated_at: datetime | None  # the advisory database's age


@dataclass(frozen=True)
class FindingRow:
    platform: str
    image_digest: str
    package: str
    package_type: str
    installed_version: str
    fixed_version: str
    advisory_id: str
    aliases: list[str]
    url: str
    summary: str
    severity: str
    cvss_score: float | None
    layer_digest: str
    path: str
    fixed_in_tag: str = ""  # newest tag of the repository without this finding

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.platform, self.advisory_id, self.package)


@dataclass(frozen=True)
class Comparison:
    base: str
    head: str
    added: list[FindingRow] = field(default_factory=list)
    removed: list[FindingRow] = field(default_factory=list)


def manifest_for(repository: Repository, reference: str) -> Manifest:
    """The manifest a tag or digest names in `repository` (ManifestUnknown if none)."""
    if digests.looks_like_digest(reference):
        manifest = Manifest.objects.filter(repository=repository, digest=reference).first()
    else:
        manifest = Manifest.objects.filter(repository=repository, tags__name=reference).first()
    if manifest is None:
        raise ManifestUnknown(detail={"reference": reference[:200]})
    return manifest


_IMAGES_MEMO: DigestMemo[list[tuple[str, str]]] = DigestMemo(512)


def _images(manifest: Manifest) -> list[tuple[str, str]]:
    """(image digest, platform from the index or "") of a manifest: itself, or its children.

    Pages ask this of every tag they show, several times a request. An index was checked
    whole when it was pushed, so its children are read from the JSON without checking each
    descriptor again (a 19,000-child index: 25 ms instead of 450), and the answer is kept
    per digest (manifests never change) for the next ask in this process.
    """
    if (known := _IMAGES_MEMO.get(manifest.digest)) is not None:
        return known
    if manifest.media_type in mediatypes.INDEXES:
        images = _index_images(bytes(manifest.body))
    else:
        parsed = _parse(manifest)
        if parsed is not None and parsed.is_index:
            images = _index_images(bytes(manifest.body))
        else:
            images = [(manifest.digest, "")] if parsed is not None and is_image(parsed) else []
    return _IMAGES_MEMO.put(manifest.digest, images)


def _index_images(body: bytes) -> list[tuple[str, str]]:
    try:
        document = json.loads(body)
    except ValueError:
        return []
    children = document.get("manifests") if isinstance(document, dict) else None
    images = []
    for child in children if isinstance(children, list) else []:
        if not isinstance(child, dict) or child.get("mediaType") not in mediatypes.IMAGE_MANIFESTS:
            continue
        platform = child.get("platform")
        text = ""
        if isinstance(platform, dict):
            text = str(
                manifests.Platform(
                    architecture=str(platform.get("architecture", "")),
                    os=str(platform.get("os", "")),
                    variant=str(platform.get("variant") or ""),
                )
            )
        images.append((str(child.get("digest", "")), text))
    return images


_NO_FINDINGS = {severity.value: 0 for severity in SEVERITY_ORDER}
TAG_PLATFORMS_SUMMED = 256


def held_scans(repository: Repository, digests: Iterable[str], **filters) -> QuerySet[ImageScan]:
    """The scans of those of `digests` that `repository` holds. Scans are kept per digest,
    for every repository that holds the image; an index may name children its repository
    does not hold (a sparse index), and their scans are other repositories' to show: a
    publisher's index naming another's private image must not read that image's findings
    or packages."""
    held = Manifest.objects.filter(repository=repository, digest__in=list(digests))
    return ImageScan.objects.filter(digest__in=held.values("digest"), **filters)


def _report(digest: str, platform: str, scan: ImageScan | None) -> PlatformReport:
    if scan is None:
        return PlatformReport(digest, platform, "", "", dict(_NO_FINDINGS), "", None)
    return PlatformReport(
        digest,
        scan.platform or platform,
        scan.status,
        scan.reason,
        scan.summary(),
        scan.distribution,
        scan.finished_at if scan.status == ScanStatus.DONE else None,
    )


def image_vulnerabilities(*, repository: Repository, reference: str) -> ImageReport:
    """Scan status and severity summary per platform of an image or index (tag or digest)."""
    manifest = manifest_for(repository, reference)
    images = _images(manifest)
    scans = {scan.digest: scan for scan in held_scans(repository, (d for d, _ in images))}
    return ImageReport(
        manifest.digest,
        [_report(d, p, scans.get(d)) for d, p in images],
        database_age(),
    )


def _rows(scans: Sequence[ImageScan], severity: str = "") -> list[FindingRow]:
    findings = (
        Finding.objects.filter(scan__in=scans)
        .select_related("package", "advisory", "scan")
        .order_by("pk")
    )
    if severity:
        findings = findings.filter(severity=severity)
    return [
        FindingRow(
            platform=f.scan.platform,
            image_digest=f.scan.digest,
            package=f.package.name,
            package_type=f.package.type,
            installed_version=f.package.version,
            fixed_version=f.fixed_version,
            advisory_id=f.advisory.osv_id,
            aliases=list(f.advisory.aliases),
            url=f.advisory.url,
            summary=f.advisory.summary,
            severity=f.severity,
            cvss_score=f.advisory.cvss_score,
            layer_digest=f.package.layer_digest,
            path=f.package.path,
        )
        for f in findings
    ]


_SORTS = {
    "severity": lambda r: (
        [s.value for s in SEVERITY_ORDER].index(r.severity),
        -(r.cvss_score or 0),
        r.package,
    ),
    "package": lambda r: (r.package, r.advisory_id),
    "advisory": lambda r: (r.advisory_id, r.package),
    "score": lambda r: (-(r.cvss_score or 0), r.package),
}


def list_findings(
    *,
    repository: Repository,
    reference: str,
    severity: str = "",
    package: str = "",
    sort: str = "severity",
    fixed_in: bool = True,
) -> list[FindingRow]:
    """The findings of an image (every platform of an index), filtered and sorted.

    `sort`: severity (worst first, then CVSS score), package, advisory or score.
    `fixed_in`: fill `fixed_in_tag` with the newest tag of the repository without the finding.
    """
    if severity and severity not in Severity.values:
        raise ValueError(f"unknown severity {severity!r}")
    if sort not in _SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    manifest = manifest_for(repository, reference)
    scans = list(held_scans(repository, (d for d, _ in _images(manifest))))
    rows = _rows(scans, severity)
    if package:
        rows = [row for row in rows if package.lower() in row.package.lower()]
    if fixed_in and rows:
        rows = _with_fixed_in(repository, rows)
    return sorted(rows, key=_SORTS[sort])


def _tag_images(
    repository: Repository, limit: int | None = None, names: Sequence[str] | None = None
) -> list[tuple[str, dict]]:
    """(tag, {platform: image digest}) newest push first."""
    tags = (
        Tag.objects.filter(repository=repository)
        .select_related("manifest")
        .defer("manifest__body")  # read only when _images has not seen the digest yet
        .order_by("-updated_at", "-pk")
    )
    if names is not None:
        tags = tags.filter(name__in=list(names))
    if limit:
        tags = tags[:limit]
    tags = list(tags)
    unread = {t.manifest_id for t in tags if t.manifest.digest not in _IMAGES_MEMO}
    if unread:  # the bodies _images has not seen yet, in one query
        bodies = dict(Manifest.objects.filter(pk__in=unread).values_list("pk", "body"))
        for tag in tags:
            if tag.manifest_id in bodies:
                tag.manifest.body = bodies[tag.manifest_id]
    result = []
    for tag in tags:
        images = _images(tag.manifest)
        result.append((tag.name, {p: d for d, p in images}))
    return result


def _with_fixed_in(repository: Repository, rows: list[FindingRow]) -> list[FindingRow]:
    tagged = _tag_images(repository, FIXED_IN_TAGS)
    digests_ = {d for _, images in tagged for d in images.values()}
    scans = {s.digest: s for s in held_scans(repository, digests_, status=ScanStatus.DONE)}
    present = defaultdict(set)
    for digest, advisory_id, package in Finding.objects.filter(scan__in=scans.values()).values_list(
        "scan__digest", "advisory__osv_id", "package__name"
    ):
        present[digest].add((advisory_id, package))
    result = []
    for row in rows:
        fixed = ""
        for tag, images in tagged:
            digest = _same_platform(images, row, scans)
            if digest in scans and (row.advisory_id, row.package) not in present[digest]:
                fixed = tag
                break
        result.append(FindingRow(**{**row.__dict__, "fixed_in_tag": fixed}))
    return result


def _same_platform(images: dict, row: FindingRow, scans: dict) -> str | None:
    """The image of a tag for the row's platform (a single-image tag stands for any)."""
    if len(images) == 1:
        return next(iter(images.values()))
    for platform, digest in images.items():
        scan = scans.get(digest)
        if platform == row.platform or (scan is not None and scan.platform == row.platform):
            return digest
    return None


def tag_summaries(
    *, repository: Repository, tags: Sequence[str] | None = None
) -> dict[str, list[PlatformReport]]:
    """Per tag (all, or those named: a page of them), each platform's status and summary:
    the first TAG_PLATFORMS_SUMMED platforms of an index (real ones have a handful; a
    hostile one with thousands must not cost every page that shows the tag)."""
    tagged = [
        (tag, dict(islice(images.items(), TAG_PLATFORMS_SUMMED)))
        for tag, images in _tag_images(repository, names=tags)
    ]
    digests_ = {d for _, images in tagged for d in images.values()}
    scans = {scan.digest: scan for scan in held_scans(repository, digests_)}
    return {tag: [_report(d, p, scans.get(d)) for p, d in images.items()] for tag, images in tagged}


def compare_tags(*, repository: Repository, base: str, head: str) -> Comparison:
    """Findings `head` has that `base` has not (added), and the other way round (removed)."""

    def rows(reference):
        manifest = manifest_for(repository, reference)
        scans = held_scans(repository, (d for d, _ in _images(manifest)))
        return {row.key: row for row in _rows(list(scans))}

    old, new = rows(base), rows(head)
    return Comparison(
        base,
        head,
        added=sorted((new[k] for k in new.keys() - old.keys()), key=_SORTS["severity"]),
        removed=sorted((old[k] for k in old.keys() - new.keys()), key=_SORTS["severity"]),
    )


# -- the software bill of materials -------------------------------------------------------------


def sbom(*, repository: Repository, reference: str) -> dict:
    """A CycloneDX (1.6) document of the packages found in an image (every platform of an index)."""
    from . import sbom as cyclonedx  # the library is loaded only when an SBOM is asked for

    manifest = manifest_for(repository, reference)
    scans = list(held_scans(repository, (d for d, _ in _images(manifest)), status=ScanStatus.DONE))
    packages = ImagePackage.objects.filter(scan__in=scans).select_related("scan").order_by("pk")
    return cyclonedx.document(
        name=repository.name, digest=manifest.digest, scans=scans, packages=list(packages)
    )


def attach_sbom(*, repository: Repository, reference: str) -> Manifest:
    """Push the image's SBOM into `repository` as an OCI referrer of the image (subject)."""
    from registry import services as registry

    manifest = manifest_for(repository, reference)
    body = json.dumps(sbom(repository=repository, reference=reference), sort_keys=True).encode()
    blob_digest = digests.compute(body)
    blobs.store_bytes(repository=repository, digest=blob_digest, data=body)
    document = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": SBOM_ARTIFACT_TYPE,
        "config": {
            "mediaType": mediatypes.OCI_EMPTY,
            "digest": str(digests.EMPTY_JSON),
            "size": 2,
        },
        "layers": [
            {"mediaType": SBOM_ARTIFACT_TYPE, "digest": str(blob_digest), "size": len(body)}
        ],
        "subject": {
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
        },
        "annotations": {"org.opencontainers.image.created": timezone.now().isoformat()},
    }
    payload = json.dumps(document, sort_keys=True).encode()
    stored, _ = registry.commit_manifest(
        repository=repository,
        reference=str(digests.compute(payload)),
        body=payload,
        content_type=mediatypes.OCI_MANIFEST,
    )
    return stored


def lag_seconds() -> float:
    """How long the oldest scan queued or under way has waited (for /metrics); 0 when none."""
    oldest = ImageScan.objects.filter(
        status__in=(ScanStatus.QUEUED, ScanStatus.SCANNING)
    ).aggregate(oldest=Min("queued_at"))["oldest"]
    return 0.0 if oldest is None else max((timezone.now() - oldest).total_seconds(), 0.0)


def unscanned_manifests() -> Iterator[Manifest]:
    """One stored manifest per image digest with no current scan (never scanned, pushed
    before scanning existed, failed, or scanned by an older scanner), indexes included: what
    `manage.py scan_images --all` queues. Pull-through cache repositories are left out: their
    layers arrive only as clients pull them, so a scan would fail on the ones not pulled."""
    current = ImageScan.objects.filter(
        status__in=(ScanStatus.DONE, ScanStatus.QUEUED, ScanStatus.SCANNING),
        scanner_version__gte=SCANNER_VERSION,
    ).values("digest")
    seen: set[str] = set()
    candidates = (
        Manifest.objects.exclude(digest__in=current)
        .filter(subject_digest="", repository__cached__isnull=True)
        .only("pk", "digest", "repository_id", "media_type", "body")
        .order_by("pk")
    )
    for manifest in candidates.iterator(chunk_size=500):
        if manifest.digest not in seen:
            seen.add(manifest.digest)
            yield manifest


def pending_scans() -> list[ImageScan]:
    """Scans queued or started long ago that nobody finished (their task was lost)."""
    cutoff = timezone.now() - timedelta(seconds=settings.BERTH_SCAN_STALE_SECONDS)
    return list(
        ImageScan.objects.filter(
            Q(status=ScanStatus.QUEUED, queued_at__lt=cutoff)
            | Q(status=ScanStatus.SCANNING, started_at__lt=cutoff)
        )
    )
