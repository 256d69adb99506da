"""Scan results shaped for pages and the API, and the rescan a publisher asks for.

Everything here reads registry.scanning's results through its services; a repository passed
in is one the caller may already see (authorization stays with the views).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from registry.access import ratelimit
from registry.errors import ManifestUnknown
from registry.scanning import services as scanning
from registry.scanning import tasks
from registry.scanning.advisories import database_age
from registry.scanning.models import SEVERITY_ORDER, ImageScan, ScanStatus

from ..models import CatalogEntry

SEVERITIES = [severity.value for severity in SEVERITY_ORDER]
SORTS = {
    "severity": "Severity",
    "score": "CVSS score",
    "package": "Package",
    "advisory": "Advisory",
}
FINDINGS_PER_PAGE = 50
COMPARE_TAGS_LISTED = 200  # tag names offered by the comparison form
# Rescans asked for, per user: each reads every layer of the image again.
RESCANS = ratelimit.Limiter("rescans", settings.BERTH_RATELIMIT_RESCANS)
# What an index lists that is not a platform: build attestations (buildx says unknown/unknown).
NOT_PLATFORMS = {"unknown/unknown"}
# One word for the scans of several platforms: the first that any of them has, in this order.
STATUS_ORDER = [ScanStatus.SCANNING, ScanStatus.QUEUED, "", ScanStatus.FAILED, ScanStatus.DONE]


class NotAnImage(Exception):
    """Only container images are scanned: this artifact (a chart, a signature) has nothing to
    scan and no software bill of materials."""


class NotScanned(Exception):
    """The image has no finished scan: its software bill of materials comes from the scan."""


def status_name(status: str) -> str:
    """A scan status as pages and the API name it ("" is an image never queued)."""
    return status or "not_scanned"


@dataclass(frozen=True)
class Overview:
    """The scans of an image's platforms (the image itself, or each of an index's)."""

    digest: str
    platforms: list[scanning.PlatformReport]

    @property
    def worst(self) -> scanning.PlatformReport | None:
        """The scanned platform with the most severe findings: a tag's badges show it."""
        done = [p for p in self.platforms if p.status == ScanStatus.DONE]
        return max(done, key=lambda p: [p.summary[s] for s in SEVERITIES], default=None)

    @property
    def counts(self) -> list[tuple[str, int]]:
        """(severity, count) of the worst platform, the most severe first, without zeros."""
        worst = self.worst
        return [(s, worst.summary[s]) for s in SEVERITIES if worst.summary[s]] if worst else []

    @property
    def total(self) -> int:
        """Findings of every platform: the rows of the findings page."""
        return sum(sum(p.summary.values()) for p in self.platforms)

    @property
    def status(self) -> str:
        statuses = {p.status for p in self.platforms}
        found = next((s for s in STATUS_ORDER if s in statuses), "")
        return status_name(found)

    @property
    def pending(self) -> bool:
        return any(p.status in (ScanStatus.QUEUED, ScanStatus.SCANNING) for p in self.platforms)

    @property
    def failed(self) -> list[scanning.PlatformReport]:
        return [p for p in self.platforms if p.status == ScanStatus.FAILED]

    @property
    def unscanned(self) -> bool:
        return any(not p.status for p in self.platforms)

    @property
    def several(self) -> bool:
        return len(self.platforms) > 1

    @property
    def each(self) -> list[Overview]:
        """One Overview per platform."""
        return [Overview(p.digest, [p]) for p in self.platforms]


def overview_of(digest: str, platforms: Iterable[scanning.PlatformReport]) -> Overview:
    return Overview(digest, [p for p in platforms if p.platform not in NOT_PLATFORMS])


# -- the Tags tab and the repository page -------------------------------------------------------


def _first_tag(image) -> str:
    tags = image.tags.all()  # prefetched, best first
    return tags[0].name if tags else ""


def attach_to_images(entry: CatalogEntry, images: Sequence) -> None:
    """Give each image of a Tags tab page `.scan` (an Overview; None for artifacts that are
    not images), each platform of an index its own `"scan"`, and `.compare_with`: the first
    tag of the next image on the page. One call to tag_summaries for the whole page."""
    images = list(images)
    first = [_first_tag(image) for image in images]
    reports = scanning.tag_summaries(repository=entry.repository, tags=[t for t in first if t])
    for position, image in enumerate(images):
        platforms = reports.get(first[position], [])
        image.scan = overview_of(image.digest, platforms) if platforms else None
        by_digest = {p.digest: p for p in platforms}
        for child in image.platforms or []:
            report = by_digest.get(child.get("digest", ""))
            child["scan"] = overview_of(report.digest, [report]) if report else None
        image.compare_with = first[position + 1] if position + 1 < len(images) else ""


def latest_overview(entry: CatalogEntry, latest) -> Overview | None:
    """The scans of the repository page's newest image (the one its Pull box names)."""
    tag = _first_tag(latest) if latest is not None else ""
    if not tag:
        return None
    platforms = scanning.tag_summaries(repository=entry.repository, tags=[tag]).get(tag, [])
    return overview_of(latest.digest, platforms) if platforms else None


def database_updated_at() -> datetime | None:
    """When advisories were last imported; None: never, so nothing can be found yet."""
    return database_age()


# -- image pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageScans:
    overview: Overview
    database_updated_at: datetime | None


def image_scans(*, entry: CatalogEntry, reference: str) -> ImageScans:
    """The scans of an image or index (raises ManifestUnknown, or NotAnImage for artifacts)."""
    report = scanning.image_vulnerabilities(repository=entry.repository, reference=reference)
    if not report.platforms:
        raise NotAnImage(reference)
    return ImageScans(overview_of(report.digest, report.platforms), report.database_updated_at)


def attach_to_platforms(scans: ImageScans, platforms: Sequence) -> None:
    """Give each platform image shown on an image page `.scan`, its own Overview."""
    by_digest = {p.digest: p for p in scans.overview.platforms}
    for image in platforms:
        report = by_digest.get(image.digest)
        image.scan = overview_of(image.digest, [report]) if report else None


# -- the findings page and the API --------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the findings are filtered and sorted by; unknown values are ignored, not refused."""

    severities: tuple[str, ...] = ()
    package: str = ""
    platform: str = ""
    sort: str = "severity"

    @classmethod
    def from_query(cls, query) -> Filters:
        severity = query.get("severity", "")
        sort = query.get("sort", "severity")
        return cls(
            severities=(severity,) if severity in SEVERITIES else (),
            package=query.get("package", "").strip()[:100],
            platform=query.get("platform", "").strip()[:100],
            sort=sort if sort in SORTS else "severity",
        )

    @property
    def severity(self) -> str:
        return self.severities[0] if len(self.severities) == 1 else ""

    @property
    def active(self) -> bool:
        return bool(self.severities or self.package or self.platform)


@dataclass(frozen=True)
class Line:
    """A finding with the position of its layer in the image (1 is the bottom; 0 unknown)."""

    finding: scanning.FindingRow
    layer: int


def find(*, entry: CatalogEntry, reference: str, filters: Filters) -> list[Line]:
    """The findings of an image or index, filtered and sorted, with "fixed in" tags."""
    rows = scanning.list_findings(
        repository=entry.repository,
        reference=reference,
        severity=filters.severity,
        package=filters.package,
        sort=filters.sort,
    )
    if len(filters.severities) > 1:
        rows = [row for row in rows if row.severity in filters.severities]
    if filters.platform:
        rows = [row for row in rows if row.platform == filters.platform]
    positions = _layer_positions({row.image_digest for row in rows})
    return [Line(row, positions.get(row.image_digest, {}).get(row.layer_digest, 0)) for row in rows]


def _layer_positions(image_digests: set[str]) -> dict[str, dict[str, int]]:
    """Per scanned image, each layer digest's position (the first, if a layer repeats)."""
    if not image_digests:
        return {}
    scans = ImageScan.objects.filter(digest__in=image_digests).values_list("digest", "layers")
    return {
        digest: {layer: n for n, layer in reversed(list(enumerate(layers, 1)))}
        for digest, layers in scans
    }


# -- rescans ------------------------------------------------------------------------------------


def rescan(*, user, entry: CatalogEntry, reference: str) -> scanning.ImageReport:
    """Queue a new scan of an image (each platform of an index) for someone who may push to
    its repository, and return its scans' status. A scan on its way is left to finish.

    Raises ManifestUnknown, NotAnImage, or ratelimit.Throttled (RESCANS per user).
    """
    repository = entry.repository
    manifest = scanning.manifest_for(repository, reference)
    if not scanning.image_vulnerabilities(repository=repository, reference=reference).platforms:
        raise NotAnImage(reference)
    RESCANS.take(f"user:{user.pk}")
    with transaction.atomic():  # every platform queued before any task starts
        tasks.queue_manifest(manifest, force=True)
    return scanning.image_vulnerabilities(repository=repository, reference=reference)


def attach_sbom(*, user, entry: CatalogEntry, reference: str):
    """Push the image's SBOM into its repository as an OCI referrer, so that any client finds
    it through the referrers API (`oras discover`, `cosign download sbom`); for someone who
    may push to the repository. Returns (manifest, created).

    Asking again returns the SBOM attached since the image's newest scan finished instead of
    pushing another; after a new scan a new SBOM is attached beside the old one (each is a
    record of what a scan found). Raises ManifestUnknown, NotAnImage, NotScanned, or
    ratelimit.Throttled (the rescans' limit: both are writes on demand).
    """
    repository = entry.repository
    manifest = scanning.manifest_for(repository, reference)
    report = scanning.image_vulnerabilities(repository=repository, reference=reference)
    if not report.platforms:
        raise NotAnImage(reference)
    finished = [p.scanned_at for p in report.platforms if p.status == ScanStatus.DONE]
    if not finished or None in finished:
        raise NotScanned(reference)
    attached = (
        repository.manifests.filter(
            subject_digest=manifest.digest,
            artifact_type=scanning.SBOM_ARTIFACT_TYPE,
            created_at__gte=max(finished),
        )
        .order_by("-created_at")
        .first()
    )
    if attached is not None:
        return attached, False
    RESCANS.take(f"user:{user.pk}")
    return scanning.attach_sbom(repository=repository, reference=manifest.digest), True


# -- comparing two tags -------------------------------------------------------------------------


@dataclass(frozen=True)
class TagComparison:
    base: str
    head: str
    added: list[scanning.FindingRow]
    removed: list[scanning.FindingRow]
    base_scans: Overview
    head_scans: Overview

    @property
    def several_platforms(self) -> bool:
        return self.base_scans.several or self.head_scans.several

    @property
    def final(self) -> bool:
        """Both sides scanned: the comparison will not change until advisories do."""
        return self.base_scans.status == "done" and self.head_scans.status == "done"

    @property
    def sides(self) -> list[dict]:
        return [
            {"name": self.base, "scans": self.base_scans},
            {"name": self.head, "scans": self.head_scans},
        ]

    @property
    def parts(self) -> list[dict]:
        """The two lists as the page shows them (a row's version is its own tag's)."""
        return [
            {
                "key": "added",
                "title": f"New in {self.head}",
                "tag": self.head,
                "rows": self.added,
                "empty": f"{self.head} has no known vulnerability that {self.base} has not.",
            },
            {
                "key": "removed",
                "title": f"Gone in {self.head}",
                "tag": self.base,
                "rows": self.removed,
                "empty": f"{self.head} still has every finding of {self.base}.",
            },
        ]


def compare(*, entry: CatalogEntry, base: str, head: str) -> TagComparison:
    """Findings `head` has and `base` has not (added), and the other way round (removed).

    Raises ManifestUnknown (its detail names the reference) for a tag the repository lacks.
    """
    repository = entry.repository
    sides = {
        reference: scanning.image_vulnerabilities(repository=repository, reference=reference)
        for reference in (base, head)
    }
    comparison = scanning.compare_tags(repository=repository, base=base, head=head)
    return TagComparison(
        base=base,
        head=head,
        added=comparison.added,
        removed=comparison.removed,
        base_scans=overview_of(sides[base].digest, sides[base].platforms),
        head_scans=overview_of(sides[head].digest, sides[head].platforms),
    )


def comparable_tags(entry: CatalogEntry) -> list[str]:
    """Tag names the comparison form offers: the best versions first."""
    names = entry.tags.order_by("-sort_key", "name").values_list("name", flat=True)
    return list(names[:COMPARE_TAGS_LISTED])


def unknown_reference(error: ManifestUnknown) -> str:
    detail = error.detail if isinstance(error.detail, dict) else {}
    return str(detail.get("reference", ""))
