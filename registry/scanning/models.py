"""What vulnerability scanning stores: advisories, scans of images, packages and findings.

An image is scanned once per manifest digest, whatever repositories hold it: the same
bytes carry the same packages. Advisories are OSV records; `AffectedPackage` rows are
their (ecosystem, package) pairs, indexed for matching. Findings are rebuilt from the
stored packages whenever the advisories change, without reading the layers again.
"""

from __future__ import annotations

from django.db import models


class Severity(models.TextChoices):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


SEVERITY_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN]


class Advisory(models.Model):
    """One OSV record (osv.dev schema): a vulnerability as one database publishes it."""

    osv_id = models.CharField(max_length=128, unique=True)
    aliases = models.JSONField(default=list)  # CVE ids and the other databases' ids
    summary = models.CharField(max_length=1024, blank=True)
    details = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.UNKNOWN)
    cvss_score = models.FloatField(null=True, blank=True)
    cvss_vector = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=1024, blank=True)  # where to read the advisory
    published = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField()
    withdrawn = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "advisories"

    def __str__(self) -> str:
        return self.osv_id


class AffectedPackage(models.Model):
    """A package an advisory affects, in one ecosystem: what matching looks up."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    ecosystem = models.CharField(max_length=64)  # "Debian", "Alpine", "PyPI", "npm", "Go"
    release = models.CharField(max_length=64, blank=True)  # "12", "v3.19"; empty: any
    name = models.CharField(max_length=255)  # as advisories name it (Debian: source package)
    ranges = models.JSONField(default=list)  # OSV affected[].ranges (ECOSYSTEM and SEMVER)
    versions = models.JSONField(default=list)  # OSV affected[].versions
    severity = models.CharField(max_length=16, blank=True)  # affected[].severity, if given

    class Meta:
        indexes = [models.Index(fields=["ecosystem", "name"], name="affected_lookup")]

    def __str__(self) -> str:
        return f"{self.ecosystem}:{self.release}/{self.name}"


class AdvisoryImport(models.Model):
    """One run of `import_advisories`: the database's age is the newest finished one."""

    source = models.CharField(max_length=1024)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} at {self.started_at:%Y-%m-%d %H:%M}"


class ScanStatus(models.TextChoices):
    QUEUED = "queued"
    SCANNING = "scanning"
    DONE = "done"
    FAILED = "failed"


class ImageScan(models.Model):
    """The scan of one image manifest (one platform), shared by every repository holding it."""

    digest = models.CharField(max_length=135, unique=True)
    status = models.CharField(max_length=16, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    reason = models.CharField(max_length=1024, blank=True)  # why it failed
    # The cataloger version that read the layers; a newer one reads them again.
    scanner_version = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    token = models.CharField(max_length=32, blank=True)  # the task that owns the scan
    os = models.CharField(max_length=64, blank=True)
    architecture = models.CharField(max_length=64, blank=True)
    variant = models.CharField(max_length=64, blank=True)
    distribution = models.CharField(max_length=128, blank=True)  # e.g. "debian 12"
    layers = models.JSONField(default=list)  # layer digests, bottom first
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)  # findings last rebuilt
    critical = models.PositiveIntegerField(default=0)
    high = models.PositiveIntegerField(default=0)
    medium = models.PositiveIntegerField(default=0)
    low = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["status", "queued_at"], name="image_scan_status")]

    def __str__(self) -> str:
        return f"{self.digest} ({self.status})"

    @property
    def platform(self) -> str:
        text = f"{self.os}/{self.architecture}" if self.os else ""
        return f"{text}/{self.variant}" if self.variant else text

    def summary(self) -> dict[str, int]:
        return {severity.value: getattr(self, severity.value) for severity in SEVERITY_ORDER}


class ImagePackage(models.Model):
    """A package found in a scanned image."""

    scan = models.ForeignKey(ImageScan, on_delete=models.CASCADE, related_name="packages")
    type = models.CharField(max_length=16)  # deb, apk, rpm, python, npm, golang
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=255)
    ecosystem = models.CharField(max_length=64)  # OSV's, with the release: "Debian:12"
    source_name = models.CharField(max_length=255)
    source_version = models.CharField(max_length=255)
    layer_digest = models.CharField(max_length=135)
    path = models.CharField(max_length=4096)
    arch = models.CharField(max_length=32, blank=True)
    purl = models.CharField(max_length=1024)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Finding(models.Model):
    """A package of a scanned image that an advisory affects."""

    scan = models.ForeignKey(ImageScan, on_delete=models.CASCADE, related_name="findings")
    package = models.ForeignKey(ImagePackage, on_delete=models.CASCADE, related_name="findings")
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="findings")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    fixed_version = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["package", "advisory"], name="finding_once")]
        indexes = [models.Index(fields=["scan", "severity"], name="finding_by_severity")]

    def __str__(self) -> str:
        return f"{self.advisory_id} in {self.package_id}"
