"""Catalog search: full-text query, facets with counts, and keyset pagination.

On PostgreSQL the text search uses a generated `tsvector` column (repository name weighted A,
description B, about text C) behind a GIN index, `websearch_to_tsquery` and `ts_rank`. On
SQLite (the embedded default) it falls back to case-insensitive substring matching with a
simple name > description > about ranking.

Facets are "disjunctive": the counts of one facet apply every filter except its own, so that
choosing `arm64` still shows how many results `amd64` would add. Pages are keyset pages
(a cursor of the last row's sort values): page 5,000 costs what page 1 costs, and the total
is an exact count.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection, models
from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.utils.deconstruct import deconstructible

PAGE_SIZE = 20
SORTS = {"relevance": "Best match", "downloads": "Most downloads", "updated": "Recently updated"}
CONFIG = "english"


@deconstructible(path="gallery.search.SearchDocument")
class SearchDocument(models.Expression):
    """The generated search column's expression: a weighted tsvector, or NULL off PostgreSQL.

    "/", "_" and "." in names become spaces so that `alice/hello_world` is found by `hello`;
    "-" stays, so PostgreSQL's parser indexes `hello-world` whole and in parts.
    """

    output_field = SearchVectorField(null=True)

    def as_sql(self, compiler, connection, **extra):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra):
        return (
            f"setweight(to_tsvector('{CONFIG}'::regconfig, "
            "translate(coalesce(\"name\", ''), '/_.', '   ')), 'A') || "
            f"setweight(to_tsvector('{CONFIG}'::regconfig, coalesce(\"description\", '')), 'B') || "
            f"setweight(to_tsvector('{CONFIG}'::regconfig, coalesce(\"about\", '')), 'C')",
            [],
        )

    def __eq__(self, other):
        return isinstance(other, SearchDocument)

    def __hash__(self):
        return hash(type(self))


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
    q = q.strip()
    if not q:
        return queryset.annotate(rank=Value(0.0, output_field=models.FloatField()))
    if connection.vendor == "postgresql":
        query = SearchQuery(q, search_type="websearch", config=CONFIG)
        return queryset.filter(search_document=query).annotate(
            rank=SearchRank(F("search_document"), query)
        )
    terms = q.split()[:10]
    matched = Q()
    score = Value(0)
    for term in terms:
        matched &= (
            Q(name__icontains=term) | Q(description__icontains=term) | Q(about__icontains=term)
        )
        score = score + Case(
            When(name__icontains=term, then=Value(3)),
            When(description__icontains=term, then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        )
    return queryset.filter(matched).annotate(rank=score)


def facet_filters(params: SearchParams) -> dict[str, Q]:
    from .models import Platform

    filters = {}
    if params.architectures:
        filters["arch"] = Q(
            pk__in=Platform.objects.filter(architecture__in=params.architectures).values("entry")
        )
    if params.operating_systems:
        filters["os"] = Q(
            pk__in=Platform.objects.filter(os__in=params.operating_systems).values("entry")
        )
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


def facets(base, params: SearchParams, filters: dict[str, Q]) -> list[Facet]:
    from .models import ArtifactType, Platform

    def platform_counts(column: str, key: str, selected: list[str]) -> list[dict]:
        rows = (
            Platform.objects.filter(entry__in=base.filter(_except(filters, key)).values("pk"))
            .values(column)
            .annotate(n=Count("entry", distinct=True))
            .order_by("-n", column)[:12]
        )
        options = [{"value": r[column], "label": r[column], "count": r["n"]} for r in rows]
        present = {o["value"] for o in options}
        options += [{"value": v, "label": v, "count": 0} for v in selected if v not in present]
        return [{**o, "selected": o["value"] in selected} for o in options]

    type_counts = dict(
        base.filter(_except(filters, "type"))
        .values_list("artifact_type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    types = [
        {
            "value": value,
            "label": label,
            "count": type_counts.get(value, 0),
            "selected": value in params.types,
        }
        for value, label in ArtifactType.choices
        if type_counts.get(value) or value in params.types
    ]
    verified = base.filter(_except(filters, "verified"), is_verified=True).count()
    return [
        Facet("type", "Type", types),
        Facet(
            "arch", "Architecture", platform_counts("architecture", "arch", params.architectures)
        ),
        Facet("os", "Operating system", platform_counts("os", "os", params.operating_systems)),
        Facet(
            "verified",
            "Publisher",
            [
                {
                    "value": "1",
                    "label": "Verified publishers",
                    "count": verified,
                    "selected": params.verified,
                }
            ],
        ),
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


def decode_cursor(cursor: str, order) -> list | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(values, list) or len(values) != len(order):
        return None
    decoded = []
    for (name, _), value in zip(order, values, strict=True):
        if name == "pushed_at":
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                return None
        elif (name == "name" and not isinstance(value, str)) or (
            name in {"rank", "downloads"} and not isinstance(value, int | float)
        ):
            return None
        decoded.append(value)
    return decoded


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


def search(queryset, params: SearchParams, *, size: int = PAGE_SIZE) -> SearchPage:
    """Run a catalog search over `queryset` (already limited to what the caller may see)."""
    base = text_filter(queryset, params.q)
    filters = facet_filters(params)
    results = base.filter(_except(filters, ""))
    sort = params.sort if params.sort in SORTS else "relevance"
    order = ordering(sort, bool(params.q.strip()))
    rows, prev_cursor, next_cursor = paginate(
        results.select_related("publisher").prefetch_related("platforms"),
        order,
        after=params.after,
        before=params.before,
        size=size,
    )
    return SearchPage(
        entries=rows,
        total=results.count(),
        facets=facets(base, params, filters),
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        sort=sort,
    )
