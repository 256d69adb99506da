"""Which advisories affect which packages: OSV's range evaluation, with real version order.

A package is looked up by (ecosystem, name advisories use): Debian and Ubuntu advisories
name source packages, Alpine's name origins, PyPI's use normalized names. An advisory for
a distribution release ("Debian:12") applies only to packages of that release. A range is
evaluated as the OSV schema describes: events sorted by version, `introduced` opens it,
`fixed` closes it (that version is not affected), `last_affected` closes it after that
version. Versions a scheme cannot order match nothing: never string comparison.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import versions
from .advisories import match_name, split_ecosystem
from .models import AffectedPackage, Severity

log = logging.getLogger(__name__)

LOOKUP_BATCH = 500
_EVENT_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


class PackageLike(Protocol):
    ecosystem: str
    name: str
    version: str
    source_name: str
    source_version: str


@dataclass(frozen=True, slots=True)
class Match:
    package: int  # index into the packages given
    advisory_id: int
    severity: str  # the affected entry's own, else "" (the advisory's applies)
    fixed_version: str


def _lookup(package: PackageLike) -> tuple[str, str, str, str]:
    """(ecosystem, release, name, version) as advisories about this package spell them."""
    base, release = split_ecosystem(package.ecosystem)
    if base in ("Debian", "Ubuntu", "Alpine", "Wolfi", "Chainguard"):
        return base, release, package.source_name, package.source_version
    return base, release, match_name(base, package.name), package.version


def evaluate(scheme: str, version: str, events: Sequence[dict]) -> tuple[bool, str]:
    """Whether `version` is in one OSV range, and the version that fixes it there."""
    compare = versions.sort_key(scheme)
    parsed = []
    for event in events:
        for kind, value in event.items():
            if kind in _EVENT_ORDER and isinstance(value, str) and value:
                parsed.append((kind, value))
    zero = [e for e in parsed if e == ("introduced", "0")]
    rest = sorted(
        (e for e in parsed if e != ("introduced", "0")),
        key=lambda e: (compare(e[1]), _EVENT_ORDER[e[0]]),
    )
    current = compare(version)
    affected, fixed = False, ""
    limits = [value for kind, value in rest if kind == "limit"]
    for kind, value in zero + rest:
        if kind == "introduced" and (value == "0" or current >= compare(value)):
            affected, fixed = True, ""
        elif kind == "fixed" and current >= compare(value):
            affected = False
        elif kind == "fixed" and affected and not fixed:
            fixed = value
        elif kind == "last_affected" and current > compare(value):
            affected = False
    if limits and not any(current < compare(limit) for limit in limits):
        affected = False
    return affected, fixed if affected else ""


def affects(scheme: str, version: str, entry: AffectedPackage) -> tuple[bool, str]:
    if version in entry.versions:
        for item in entry.ranges:  # a fixed version, if a range names one
            try:
                hit, fixed = evaluate(_range_scheme(scheme, item), version, item["events"])
            except versions.InvalidVersion:
                continue
            if hit and fixed:
                return True, fixed
        return True, ""
    for item in entry.ranges:
        try:
            hit, fixed = evaluate(_range_scheme(scheme, item), version, item["events"])
        except versions.InvalidVersion as error:
            log.debug("range not evaluated for %s: %s", entry, error)
            continue
        if hit:
            return True, fixed
    return False, ""


def _range_scheme(scheme: str, item: dict) -> str:
    return versions.SEMVER if item.get("type") == "SEMVER" else scheme


def match(packages: Sequence[PackageLike]) -> list[Match]:
    """Every (package, advisory) pair where the advisory affects the package."""
    wanted: dict[tuple[str, str], list[int]] = defaultdict(list)
    lookups = []
    for index, package in enumerate(packages):
        lookup = _lookup(package)
        lookups.append(lookup)
        if versions.scheme_for(lookup[0]) is not None:
            wanted[(lookup[0], lookup[2])].append(index)
    by_ecosystem: dict[str, set[str]] = defaultdict(set)
    for ecosystem, name in wanted:
        by_ecosystem[ecosystem].add(name)
    matches = []
    for ecosystem, names in by_ecosystem.items():
        scheme = versions.scheme_for(ecosystem)
        for entry in _entries(ecosystem, sorted(names)):
            for index in wanted[(ecosystem, entry.name)]:
                _, release, _, version = lookups[index]
                if entry.release and entry.release != release:
                    continue
                hit, fixed = affects(scheme, version, entry)
                if hit:
                    matches.append(Match(index, entry.advisory_id, entry.severity, fixed))
    return matches


def _entries(ecosystem: str, names: list[str]) -> Iterable[AffectedPackage]:
    for start in range(0, len(names), LOOKUP_BATCH):
        yield from AffectedPackage.objects.filter(
            ecosystem=ecosystem,
            name__in=names[start : start + LOOKUP_BATCH],
            advisory__withdrawn__isnull=True,
        ).only("advisory_id", "release", "name", "ranges", "versions", "severity")


def worst(severities: Iterable[str]) -> str:
    order = [s.value for s in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)]
    present = set(severities)
    return next((s for s in order if s in present), Severity.UNKNOWN)
