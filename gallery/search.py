"""Catalog search: full-text query, facets with counts, and keyset pagination.

On PostgreSQL the text search uses two generated `tsvector` columns behind GIN indexes: the
name (weight A) and description (B) on the narrow catalog row, the about text (C) on its
text row; `websearch_to_tsquery` reads the query, and results rank by `ts_rank` on name and
description (a match only in the about text ranks by downloads). On SQLite (the embedded
default) it falls back to case-insensitive substring matching with a simple name >
description > about ranking.

Facets are "disjunctive": the counts of one facet apply every filter except its own, so that
choosing `arm64` still shows how many results `amd64` would add. The total and every facet
count come from one GROUP BY over the matching rows (see `counts`). Pages are keyset pages (a cursor
of the last row's sort values): page 5,000 costs what page 1 costs, and the total is exact.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.core.cache import cache
from django.db import connection, models
from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.utils.deconstruct import deconstructible

PAGE_SIZE = 20
MAX_SHOWN = 12  # facet options shown
GENERATION_KEY = "gallery:search-generation"
SORTS = {"relevance": "Best match", "downloads": "Most downloads", "updated": "Recently updated"}
CONFIG = "english"


def _tsvector(sql: str):
    return f"to_tsvector('{CONFIG}'::regconfig, {sql})"


class _Document(models.Expression):
    """A generated column's expression: a weighted tsvector, or NULL off PostgreSQL."""

    output_field = SearchVectorField(null=True)
    sql = "NULL"

    def as_sql(self, compiler, connection, **extra):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra):
        return self.sql, []

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))


@deconstructible(path="gallery.search.TitleDocument")
class TitleDocument(_Document):
    """Name (A) and description (B). "/", "_" and "." in names become spaces so that
    `alice/hello_world` is found by `hello`; "-" stays, so PostgreSQL's parser indexes
    `hello-world` whole and in parts."""

    sql = (
        "setweight(" + _tsvector("translate(coalesce(\"name\", ''), '/_.', '   ')") + ", 'A') || "
        "setweight(" + _tsvector("coalesce(\"description\", '')") + ", 'B')"
    )


@deconstructible(path="gallery.search.AboutDocument")
class AboutDocument(_Document):
    sql = "setweight(" + _tsvector("coalesce(\"about\", '')") + ", 'C')"


@dataclass
class Facet:
    key: str
    title: str
    options: list[dict] = field(default_factory=list)  # {"value", "label", "count", "selected"}


@dataclass
class SearchParams:
    q: str = ""
    architectures: list[str] = field(default_factory=list)
    operating_systems: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    verified: bool = False
    sort: str = "relevance"
    after: str = ""
    before: str = ""


@dataclass
class SearchPage:
    entries: list
    total: int
    facets: list[Facet]
    next_cursor: str = ""
    prev_cursor: str = ""
    sort: str = "relevance"


def text_filter(queryset, q: str):
    """Entries matching `q`, annotated with `rank` (higher is better)."""
    from .models import CatalogText

    q = q.strip()
    if not q:
        return queryset.annotate(rank=Value(0.0, output_field=models.FloatField()))
    if connection.vendor == "postgresql":
        query = SearchQuery(q, search_type="websearch", config=CONFIG)
        # A UNION of two index scans; an OR across the two tables would scan every row.
        matching = (
            queryset.model.objects.filter(title_document=query)
            .values("pk")
            .union(CatalogText.objects.filter(search_document=query).values("entry_id"))
        )
        return queryset.filter(pk__in=matching).annotate(
            rank=SearchRank(F("title_document"), query)
        )
    matched = Q()
    score = Value(0)
    for term in q.split()[:10]:
        matched &= (
            Q(name__icontains=term)
            | Q(description__icontains=term)
            | Q(text__about__icontains=term)
        )
        score = score + Case(
            When(name__icontains=term, then=Value(3)),
            When(description__icontains=term, then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        )
    return queryset.filter(matched).annotate(rank=score)


def facet_filters(params: SearchParams) -> dict[str, Q]:
    """One condition per facet in use; values within a facet are alternatives."""
    filters = {}
    for key, values, template in (
        ("arch", params.architectures, "/{} "),
        ("os", params.operating_systems, " {}/"),
    ):
        if values:
            either = Q()
            for value in values:
                either |= Q(platforms__contains=template.format(value))
            filters[key] = either
    if params.types:
        filters["type"] = Q(artifact_type__in=params.types)
    if params.verified:
        filters["verified"] = Q(is_verified=True)
    return filters


def _except(filters: dict[str, Q], key: str) -> Q:
    combined = Q()
    for name, condition in filters.items():
        if name != key:
            combined &= condition
    return combined


def _platform_parts(platforms: str) -> tuple[set[str], set[str]]:
    """({architectures}, {operating systems}) of a " os/arch os/arch " column."""
    pairs = [p.partition("/") for p in platforms.split()]
    return {arch for _, _, arch in pairs}, {os_name for os_name, _, _ in pairs}


def counts(base, params: SearchParams) -> tuple[int, list[Facet]]:
    """The exact total and every facet's counts.

    One GROUP BY over the matching rows, by (type, platforms, verified): a few hundred
    groups however many rows match. The disjunctive counts (each facet ignoring its own
    filter) are then sums over those groups, in Python. Facet values come from the groups,
    so a value appears only where the caller can see a repository that has it.
    """
    from .models import ArtifactType

    groups = []
    rows = base.values_list("artifact_type", "platforms", "is_verified").annotate(n=Count("pk"))
    for artifact_type, platforms, verified, n in rows.order_by():
        architectures, systems = _platform_parts(platforms)
        groups.append((artifact_type, architectures, systems, verified, n))
    wanted_types, wanted_arch = set(params.types), set(params.architectures)
    wanted_os = set(params.operating_systems)

    def passes(group, ignoring: str) -> bool:
        artifact_type, architectures, systems, verified, _ = group
        return (
            (ignoring == "type" or not wanted_types or artifact_type in wanted_types)
            and (ignoring == "arch" or not wanted_arch or bool(architectures & wanted_arch))
            and (ignoring == "os" or not wanted_os or bool(systems & wanted_os))
            and (ignoring == "verified" or not params.verified or verified)
        )

    total, verified_count = 0, 0
    by_type, by_arch, by_os = Counter(), Counter(), Counter()
    for group in groups:
        artifact_type, architectures, systems, verified, n = group
        total += n if passes(group, "") else 0
        by_type[artifact_type] += n if passes(group, "type") else 0
        verified_count += n if verified and passes(group, "verified") else 0
        if passes(group, "arch"):
            by_arch.update(dict.fromkeys(architectures, n))
        if passes(group, "os"):
            by_os.update(dict.fromkeys(systems, n))

    def options(counter: Counter, selected: set[str], labels=None) -> list[dict]:
        values = {v for v, n in counter.items() if n} | selected
        found = [
            {
                "value": v,
                "label": (labels or {}).get(v, v),
                "count": counter.get(v, 0),
                "selected": v in selected,
            }
            for v in values
        ]
        found.sort(key=lambda o: (-o["count"], o["value"]))
        return found[:MAX_SHOWN] if labels is None else found

    labels = dict(ArtifactType.choices)
    types = [o for o in options(by_type, wanted_types, labels) if o["value"] in labels]
    verified_option = {
        "value": "1",
        "label": "Verified publishers",
        "count": verified_count,
        "selected": params.verified,
    }
    return total, [
        Facet("type", "Type", types),
        Facet("arch", "Architecture", options(by_arch, wanted_arch)),
        Facet("os", "Operating system", options(by_os, wanted_os)),
        Facet("verified", "Publisher", [verified_option]),
    ]


# -- keyset pagination --------------------------------------------------------------------------


def ordering(sort: str, has_text: bool) -> list[tuple[str, bool]]:
    """(field, descending) pairs; the last one (name) is unique, which keysets need."""
    if sort == "updated":
        return [("pushed_at", True), ("name", False)]
    if sort == "relevance" and has_text:
        return [("rank", True), ("downloads", True), ("name", False)]
    return [("downloads", True), ("name", False)]


def encode_cursor(entry, order) -> str:
    values = []
    for name, _ in order:
        value = getattr(entry, name)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a sort value")


def decode_cursor(cursor: str, order) -> list | None:
    """The sort values in a cursor, or None for anything that is not one of ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw, parse_constant=_refuse_constant)  # no NaN, no Infinity
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(values, list) or len(values) != len(order):
        return None
    decoded = []
    for (name, _), value in zip(order, values, strict=True):
        value = _sort_value(name, value)
        if value is None:
            return None
        decoded.append(value)
    return decoded


def _sort_value(name: str, value):
    if name == "pushed_at":
        try:
            moment = datetime.fromisoformat(value)
            return moment.astimezone(UTC) if moment.tzinfo else None
        except (TypeError, ValueError, OverflowError):
            return None
    if name == "name":
        return value if isinstance(value, str) and "\x00" not in value else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if abs(value) < 2**63 else None


def beyond(order, values, forward: bool) -> Q:
    """Rows after (forward) or before the row whose sort values are `values`."""
    condition = Q()
    for i, (name, descending) in enumerate(order):
        lookup = "lt" if descending == forward else "gt"
        step = Q(**{f"{name}__{lookup}": values[i]})
        for j in range(i):
            step &= Q(**{order[j][0]: values[j]})
        condition |= step
    return condition


def paginate(queryset, order, *, after: str = "", before: str = "", size: int = PAGE_SIZE):
    """One keyset page: (rows, prev_cursor, next_cursor)."""
    forward = not before
    values = decode_cursor(after if forward else before, order)
    if values is not None:
        queryset = queryset.filter(beyond(order, values, forward))
    fields = [("-" if descending == forward else "") + name for name, descending in order]
    rows = list(queryset.order_by(*fields)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        rows.reverse()
    if not rows:
        return rows, "", ""
    has_next = more if forward else values is not None
    has_prev = (values is not None) if forward else more
    return (
        rows,
        encode_cursor(rows[0], order) if has_prev else "",
        encode_cursor(rows[-1], order) if has_next else "",
    )


def search(
    queryset, params: SearchParams, *, size: int = PAGE_SIZE, audience: str = ""
) -> SearchPage:
    """Run a catalog search over `queryset` (already limited to what the caller may see).

    `audience` names who `queryset` is visible to (see `audience_of`). When given, each page
    and the counts are cached for BERTH_SEARCH_CACHE_SECONDS under it: ranking every match
    of a common word costs tens of milliseconds, and most searches are repeated. Search may
    therefore lag a push by that long; repository pages never do.
    """
    base = text_filter(queryset, params.q)
    filters = facet_filters(params)
    sort = params.sort if params.sort in SORTS else "relevance"
    order = ordering(sort, bool(params.q.strip()))

    def page() -> tuple[list[int], str, str]:
        rows, prev_cursor, next_cursor = paginate(
            base.filter(_except(filters, "")),
            order,
            after=params.after,
            before=params.before,
            size=size,
        )
        return [row.pk for row in rows], prev_cursor, next_cursor

    if audience:
        key = _cache_key(
            _generation(),
            audience,
            params.q.strip(),
            sorted(params.architectures),
            sorted(params.operating_systems),
            sorted(params.types),
            params.verified,
        )
        ids, prev_cursor, next_cursor = _cached(
            _cache_key(key, sort, params.after, params.before, size), page
        )
        total, facets = _cached(key, lambda: counts(base, params))
    else:
        ids, prev_cursor, next_cursor = page()
        total, facets = counts(base, params)
    # The cache keeps ids only; the rows shown are always read fresh (and only if visible).
    found = queryset.filter(pk__in=ids).select_related("publisher__namespace_record").in_bulk()
    return SearchPage(
        entries=[found[pk] for pk in ids if pk in found],
        total=total,
        facets=facets,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        sort=sort,
    )


def _cache_key(*parts) -> str:
    return "gallery:search:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _generation() -> int:
    """The current search generation; created (never reset to an old value) when missing,
    as a cache may evict it."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, time.time_ns(), None)
        generation = cache.get(GENERATION_KEY, time.time_ns())
    return generation


def _cached(key: str, compute):
    seconds = settings.BERTH_SEARCH_CACHE_SECONDS
    return cache.get_or_set(key, compute, seconds) if seconds else compute()


def forget_cached_results() -> None:
    """Make every cached search stale at once (a repository became private or went away)."""
    cache.set(GENERATION_KEY, time.time_ns(), None)


def audience_of(user) -> str:
    """Who sees the same catalog as `user`: everyone, one namespace's owner, or staff."""
    from registry.access import policy

    if policy.is_superuser(user):
        return "all"
    readable = policy.readable_namespaces(user)
    return "ns:" + ",".join(sorted(readable)) if readable else "public"
