"""The advisory database: OSV records imported offline, updated in place on re-import.

`import_advisories(path)` reads a directory (recursively) or a zip of OSV JSON files, one
record per file as OSV's exports publish them (Debian, Alpine, PyPI, npm and Go all do).
A record is stored once per id; a newer `modified` replaces it, an equal one is left alone.
Severity comes from the record: a CVSS vector (scored with the `cvss` library), else the
database's own label (GitHub's `database_specific.severity`, Ubuntu's priority).
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cvss
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import versions
from .catalogers import normalize_python_name
from .models import Advisory, AdvisoryImport, AffectedPackage, Severity

log = logging.getLogger(__name__)

BATCH = 500
MAX_RECORD_BYTES = 16 * 1024 * 1024
DETAILS_MAX = 32 * 1024
RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})
_LABELS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
}
_CVSS_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


class InvalidRecord(ValueError):
    pass


def split_ecosystem(ecosystem: str) -> tuple[str, str]:
    """ "Debian:12" -> ("Debian", "12"); "Ubuntu:22.04:LTS" -> ("Ubuntu", "22.04")."""
    base, _, release = ecosystem.partition(":")
    if base == "Ubuntu" and release.endswith(":LTS"):
        release = release[: -len(":LTS")]
    return base, release


def match_name(ecosystem_base: str, name: str) -> str:
    return normalize_python_name(name) if ecosystem_base == "PyPI" else name


def label_for_score(score: float) -> str:
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW


def score_vector(kind: str, vector: str) -> float | None:
    """The base score of a CVSS vector, or None if it cannot be scored."""
    try:
        if kind == "CVSS_V4":
            return float(cvss.CVSS4(vector).base_score)
        if kind == "CVSS_V3":
            return float(cvss.CVSS3(vector).scores()[0])
        if kind == "CVSS_V2":
            return float(cvss.CVSS2(vector).scores()[0])
    except (cvss.CVSSError, ValueError, KeyError, TypeError):
        return None
    return None


def severity_of(entries, database_specific) -> tuple[str, float | None, str]:
    """(label, CVSS base score, vector) from an OSV `severity` array and its fallbacks."""
    entries = [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("score"), str)]
    for kind in _CVSS_PREFERENCE:
        for entry in entries:
            if entry.get("type") == kind:
                score = score_vector(kind, entry["score"])
                if score is not None:
                    return label_for_score(score), score, entry["score"][:255]
    for entry in entries:
        label = _LABELS.get(entry["score"].strip().lower())
        if label:
            return label, None, ""
    if isinstance(database_specific, dict) and isinstance(database_specific.get("severity"), str):
        label = _LABELS.get(database_specific["severity"].strip().lower())
        if label:
            return label, None, ""
    return Severity.UNKNOWN, None, ""


def _datetime(value, field: str, *, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidRecord(f"{field} is not an RFC 3339 time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.utc)


@dataclass
class Record:
    fields: dict
    affected: list[dict]


def parse_record(document) -> Record:
    """The fields Berth stores of one OSV record; InvalidRecord if it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        raise InvalidRecord("not an OSV record (no id)")
    osv_id = document["id"][:128]
    label, score, vector = severity_of(document.get("severity"), document.get("database_specific"))
    references = [r for r in document.get("references") or [] if isinstance(r, dict)]
    url = next(
        (r.get("url") for r in references if r.get("type") == "ADVISORY" and r.get("url")),
        next((r.get("url") for r in references if r.get("url")), ""),
    )
    aliases = [a for a in document.get("aliases") or [] if isinstance(a, str)]
    aliases += [u for u in document.get("upstream") or [] if isinstance(u, str)]
    fields = {
        "osv_id": osv_id,
        "aliases": sorted(set(aliases)),
        "summary": str(document.get("summary") or "")[:1024],
        "details": str(document.get("details") or "")[:DETAILS_MAX],
        "severity": label,
        "cvss_score": score,
        "cvss_vector": vector,
        "url": str(url or "")[:1024] if str(url or "").startswith(("https://", "http://")) else "",
        "published": _datetime(document.get("published"), "published"),
        "modified": _datetime(document.get("modified"), "modified", required=True),
        "withdrawn": _datetime(document.get("withdrawn"), "withdrawn"),
    }
    affected = []
    for item in document.get("affected") or []:
        if not isinstance(item, dict) or not isinstance(item.get("package"), dict):
            continue
        ecosystem, name = item["package"].get("ecosystem"), item["package"].get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str) or not name:
            continue
        base, release = split_ecosystem(ecosystem)
        if versions.scheme_for(base) is None:
            continue  # an ecosystem Berth catalogs nothing of
        ranges = [
            {"type": r["type"], "events": [e for e in r["events"] if isinstance(e, dict)]}
            for r in item.get("ranges") or []
            if isinstance(r, dict)
            and r.get("type") in RANGE_TYPES
            and isinstance(r.get("events"), list)
        ]
        listed = [v for v in item.get("versions") or [] if isinstance(v, str)]
        if not ranges and not listed:
            continue
        own_label = severity_of(item.get("severity"), None)[0] if item.get("severity") else ""
        affected.append(
            {
                "ecosystem": base[:64],
                "release": release[:64],
                "name": match_name(base, name)[:255],
                "ranges": ranges,
                "versions": listed,
                "severity": own_label,
            }
        )
    return Record(fields, affected)


def read_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every .json file in a directory tree or a zip archive."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            if file.is_file() and file.stat().st_size <= MAX_RECORD_BYTES:
                yield str(file), file.read_bytes()
        return
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is neither a directory nor a zip archive")
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".json") and not info.is_dir():
                if info.file_size > MAX_RECORD_BYTES:
                    continue
                with archive.open(info) as member:
                    yield info.filename, member.read(MAX_RECORD_BYTES + 1)[:MAX_RECORD_BYTES]


def _store(batch: list[Record], run: AdvisoryImport) -> None:
    ids = [record.fields["osv_id"] for record in batch]
    with transaction.atomic():
        existing = {a.osv_id: a for a in Advisory.objects.filter(osv_id__in=ids)}
        created, changed = [], []
        for record in batch:
            current = existing.get(record.fields["osv_id"])
            if current is None:
                created.append(record)
            elif record.fields["modified"] > current.modified:
                for key, value in record.fields.items():
                    setattr(current, key, value)
                changed.append((current, record))
            else:
                run.unchanged += 1
        fields = [f for f in batch[0].fields if f != "osv_id"]
        if changed:
            Advisory.objects.bulk_update([a for a, _ in changed], fields)
            AffectedPackage.objects.filter(advisory__in=[a for a, _ in changed]).delete()
        new = Advisory.objects.bulk_create([Advisory(**r.fields) for r in created])
        if new and new[0].pk is None:  # databases that do not return ids (none Berth uses)
            lookup = dict(
                Advisory.objects.filter(
                    osv_id__in=[r.fields["osv_id"] for r in created]
                ).values_list("osv_id", "pk")
            )
            for advisory in new:
                advisory.pk = lookup[advisory.osv_id]
        rows = [
            AffectedPackage(advisory=advisory, **affected)
            for advisory, record in [*zip(new, created, strict=True), *changed]
            for affected in record.affected
        ]
        AffectedPackage.objects.bulk_create(rows, batch_size=BATCH)
        run.created += len(created)
        run.updated += len(changed)


def import_advisories(path: Path | str) -> AdvisoryImport:
    """Import every OSV record under `path`; returns the import's counts."""
    path = Path(path)
    run = AdvisoryImport.objects.create(source=str(path)[:1024])
    batch: dict[str, Record] = {}
    for name, data in read_documents(path):
        try:
            record = parse_record(json.loads(data))
        except (ValueError, InvalidRecord, RecursionError) as error:
            log.warning("skipping %s: %s", name, error)
            run.skipped += 1
            continue
        previous = batch.get(record.fields["osv_id"])
        if previous is None or record.fields["modified"] >= previous.fields["modified"]:
            batch[record.fields["osv_id"]] = record
        if len(batch) >= BATCH:
            _store(list(batch.values()), run)
            batch = {}
    if batch:
        _store(list(batch.values()), run)
    run.finished_at = timezone.now()
    run.save()
    return run


def database_age() -> datetime | None:
    """When the advisory database was last imported (None: never)."""
    return (
        AdvisoryImport.objects.filter(finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
