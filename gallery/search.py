"""Catalog search: the one search of the pages and of the REST API.

    page = search(Audience.of(request.user), SearchParams(q="redis", architectures=["arm64"]))

returns a `SearchPage`: the entries, the total (exact, or a lower bound: "10,000+"), facets
with counts, keyset cursors and, when nothing matches, a "did you mean" suggestion (with the
suggestion's results). What a query means is `gallery.searchsyntax`; what the database keeps
for it is `gallery.searchschema`. Private repositories never show in the entries, totals or
facets of anyone who may not see them: every row comes from `Audience.entries()`, the
catalog's visibility rule (registry.policy), and the kept counts hold only public entries
(plus, for staff, private ones) to which the audience's own private entries are added.

How a first, uncached query stays fast (measured in `make bench`, numbers in the README):

- Matching is one index: on PostgreSQL a GIN index over the name, description and about text
  together (`search_all`), plus one over the name's words (`search_name`, for prefixes as
  typed); on SQLite, FTS5.
- Ranking never sorts every match. Relevance is a tier, then downloads: the exact name
  (`library/nginx`, or `nginx` for `*/nginx`), then the name, then name or description, then
  the about text. Each tier is read in (downloads, name) order and stops after one page, so
  page 1 of a word found in every README costs what page 1 of a rare word costs.
- Counting is bounded. Browsing by facets sums `FacetGroup`, counts the database keeps per
  combination of facet values; a text query counts its matches (one GROUP BY by facet
  values) only up to BERTH_SEARCH_EXACT_UP_TO. Above that the total reads "10,000+" and facet
  values show without counts; words the planner expects to match far more than that are
  not counted at all (clearly_more). Facets are disjunctive: a facet's counts apply every
  filter but its own, so that choosing `arm64` still says what `amd64` would add.
- Pages are keyset pages over integer and text sort values only (a relevance tier, never a
  floating-point rank), so a cursor always continues exactly where its page ended.

Pages and counts are also cached for BERTH_SEARCH_CACHE_SECONDS per query and audience.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property, lru_cache, reduce
from operator import or_
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.cache import cache
from django.db import connection, models
from django.db.models import Count, Q, Sum
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Exact
from django.utils.deconstruct import deconstructible

from registry.text import is_storable

from . import listing, searchsyntax
from .models import SHORT_NAME, ArtifactType, CatalogEntry, FacetGroup
from .searchsyntax import Phrase, Query

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Up to this many results, a page is read by finding them all and sorting them (see _top).
FEW = 2_000
# A facet value at least this share of the catalog has is not looked up in an index.
COMMON = 0.5
MAX_FACET_VALUES = 20  # chosen values per facet; more are ignored
MAX_VALUE_CHARS = 64
MAX_SHOWN = 12  # facet options shown
GENERATION_KEY = "gallery:search-generation"
SORTS = {
    "relevance": "Best match",
    "downloads": "Most downloads",
    "updated": "Recently updated",
    "name": "Name",
}
# Relevance tiers, best first.
EXACT, NAME, TITLE, TEXT = 3, 2, 1, 0


@dataclass
class SearchParams:
    q: str = ""
    architectures: list[str] = field(default_factory=list)
    operating_systems: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    verified: bool = False
    signed: bool = False  # only repositories with a signed image
    namespace: str = ""  # only this namespace's repositories
    sort: str = "relevance"
    after: str = ""  # opaque cursors from a SearchPage
    before: str = ""

    def cleaned(self) -> SearchParams:
        """Within the limits search works in: a few short values per facet, a known sort."""
        return replace(
            self,
            q=self.q[: searchsyntax.MAX_CHARS],
            architectures=_values(self.architectures),
            operating_systems=_values(self.operating_systems),
            types=[t for t in _values(self.types) if t in ArtifactType.values],
            verified=bool(self.verified),
            signed=bool(self.signed),
            namespace=self.namespace.strip()[:255],
            sort=self.sort if self.sort in SORTS else "relevance",
            after=self.after[:500],
            before=self.before[:500],
        )


def _values(values: Iterable[str]) -> list[str]:
    """The first MAX_FACET_VALUES distinct short values; the rest are ignored."""
    found = []
    for value in values:
        value = str(value).strip()
        if 0 < len(value) <= MAX_VALUE_CHARS and value not in found:
            found.append(value)
            if len(found) == MAX_FACET_VALUES:
                break
    return found


@dataclass
class Facet:
    key: str
    title: str
    # {"value", "label", "count", "selected"}; count is None where the total is a lower bound.
    options: list[dict] = field(default_factory=list)


@dataclass
class SearchPage:
    entries: list[listing.Row]
    total: int
    facets: list[Facet]
    next_cursor: str = ""
    prev_cursor: str = ""
    sort: str = "relevance"
    # True when more than `total` entries match ("10,000+"): counting them all costs too much.
    total_is_lower_bound: bool = False
    # When the query matched nothing: a corrected query that does, whose results these are.
    suggestion: str = ""

    @property
    def total_text(self) -> str:
        return f"{self.total:,}" + ("+" if self.total_is_lower_bound else "")


@dataclass(frozen=True)
class Audience:
    """Who is searching, as far as visibility goes: everyone sees every public repository;
    staff see everything; owners also see their private ones."""

    key: str  # "public", "all", or one naming the namespaces whose private entries it sees
    user: object = field(compare=False, repr=False, default=None)

    @classmethod
    def of(cls, user) -> Audience:
        return cls(audience_of(user), user)

    def entries(self) -> models.QuerySet:
        """The catalog this audience may see: listed entries only."""
        return CatalogEntry.objects.visible_to(self.user).listed()


# -- facets -------------------------------------------------------------------------------------

GROUP_FIELDS = (
    "artifact_type",
    "platforms",
    "is_verified",
    "is_signed",
)  # FacetGroup's key, but privacy


class Group(NamedTuple):
    """Entries sharing one combination of facet values: a FacetGroup row, or a GROUP BY."""

    artifact_type: str
    platforms: str  # " os/arch os/arch "
    is_verified: bool
    is_signed: bool
    entries: int

    @property
    def architectures(self) -> frozenset[str]:
        return _platform_parts(self.platforms)[0]

    @property
    def systems(self) -> frozenset[str]:
        return _platform_parts(self.platforms)[1]


@lru_cache(maxsize=4096)
def _platform_parts(platforms: str) -> tuple[frozenset[str], frozenset[str]]:
    """({architectures}, {operating systems}) of a " os/arch os/arch " column."""
    pairs = [p.partition("/") for p in platforms.split() if "/" in p]
    return (
        frozenset(arch for _, _, arch in pairs if arch),
        frozenset(system for system, _, _ in pairs if system),
    )


def _platform_filter(template: str) -> Callable[[Sequence[str]], Q]:
    def condition(values: Sequence[str]) -> Q:
        return reduce(or_, (Q(platforms__contains=template.format(v)) for v in values))

    return condition


@dataclass(frozen=True)
class FacetKind:
    """One facet. A new one (say "Signed") is a column of CatalogEntry that FacetGroup also
    groups by (gallery.searchschema.GROUP_COLUMNS, and a token in gallery_facet_tokens on
    PostgreSQL), a field of SearchParams, and one more FacetKind in FACETS."""

    key: str  # the URL parameter, and Facet.key
    title: str
    chosen: Callable[[SearchParams], Sequence[str]]
    values: Callable[[Group], Iterable[str]]  # the values a group of entries has
    condition: Callable[[Sequence[str]], Q]  # entries with any of these values
    marker: str  # its values' prefix in the search_facets column (PostgreSQL)
    labels: dict[str, str] = field(default_factory=dict)  # a closed vocabulary
    always_shown: bool = False

    def filter(self, values: Sequence[str], share: float = 0.0) -> Q:
        """Entries with any of `values`, which `share` of the catalog has. On PostgreSQL a
        rare value is found through the GIN index of facet tokens; a common one (most
        repositories run on linux) is checked on each row read anyway, as reading its
        index entries would cost more than it saves."""
        if connection.vendor == "postgresql" and share <= COMMON:
            tokens = [f"{self.marker}:{value}" for value in values]
            return _sql('"gallery_catalogentry"."search_facets" && %s::text[]', tokens)
        return self.condition(values)

    def facet(self, counts: dict[str, int], chosen: set[str], exact: bool) -> Facet:
        counts = defaultdict(int, counts)
        if self.labels:
            shown = [v for v in self.labels if counts[v] or v in chosen or self.always_shown]
            shown.sort(key=lambda v: -counts[v])
        else:
            ranked = sorted((v for v in counts if counts[v]), key=lambda v: (-counts[v], v))
            shown = ranked[:MAX_SHOWN]
            shown += sorted(chosen - set(shown))
        options = [
            {
                "value": value,
                "label": self.labels.get(value, value),
                "count": counts[value] if exact else None,
                "selected": value in chosen,
            }
            for value in shown
        ]
        return Facet(self.key, self.title, options)


FACETS = (
    FacetKind(
        "type",
        "Type",
        chosen=lambda params: params.types,
        values=lambda group: (group.artifact_type,),
        condition=lambda values: Q(artifact_type__in=values),
        marker="t",
        labels=dict(ArtifactType.choices),
    ),
    FacetKind(
        "arch",
        "Architecture",
        chosen=lambda params: params.architectures,
        values=lambda group: group.architectures,
        condition=_platform_filter("/{} "),
        marker="a",
    ),
    FacetKind(
        "os",
        "Operating system",
        chosen=lambda params: params.operating_systems,
        values=lambda group: group.systems,
        condition=_platform_filter(" {}/"),
        marker="o",
    ),
    FacetKind(
        "verified",
        "Publisher",
        chosen=lambda params: ["1"] if params.verified else [],
        values=lambda group: ("1",) if group.is_verified else (),
        condition=lambda values: Q(is_verified=True),
        marker="v",
        labels={"1": "Verified publishers"},
        always_shown=True,
    ),
    FacetKind(
        "signed",
        "Signatures",
        chosen=lambda params: ["1"] if params.signed else [],
        values=lambda group: ("1",) if group.is_signed else (),
        condition=lambda values: Q(is_signed=True),
        marker="s",
        labels={"1": "Signed images"},
        always_shown=True,
    ),
)


@lru_cache(maxsize=8192)
def _facet_values(key: tuple) -> tuple[tuple[str, ...], ...]:
    """Each facet's values for one combination of GROUP_FIELDS: every search meets the same
    few hundred combinations, so each is read once per process."""
    group = Group(*key, entries=0)
    return tuple(tuple(kind.values(group)) for kind in FACETS)


def tally(groups: Iterable[Group], params: SearchParams, exact: bool = True):
    """(total, facets) of these groups: each facet counted under every filter but its own."""
    chosen = [set(kind.chosen(params)) for kind in FACETS]
    filtered = [(i, values) for i, values in enumerate(chosen) if values]
    everything = range(len(FACETS))
    counts = [defaultdict(int) for _ in FACETS]
    total = 0
    for group in groups:
        values = _facet_values(group[:-1])
        misses = [i for i, wanted in filtered if wanted.isdisjoint(values[i])]
        if len(misses) > 1:
            continue
        entries = group.entries
        if not misses:
            total += entries
        for i in misses or everything:  # one miss: only that facet counts it
            counter = counts[i]
            for value in values[i]:
                counter[value] += entries
    return total, [kind.facet(counts[i], chosen[i], exact) for i, kind in enumerate(FACETS)]


def facet_filters(params: SearchParams) -> list[Q]:
    """One condition per facet in use (its values are alternatives)."""
    chosen = [(kind, values) for kind in FACETS if (values := kind.chosen(params))]
    shares = value_shares() if chosen and connection.vendor == "postgresql" else {}
    return [
        kind.filter(values, sum(shares.get((kind.key, value), 0.0) for value in values))
        for kind, values in chosen
    ]


_shares: dict = {"until": 0.0, "shares": {}}


def value_shares() -> dict[tuple[str, str], float]:
    """The share of the public catalog that has each facet value, from the kept counts: a
    hint for how to filter, so read at most once a minute."""
    if time.monotonic() >= _shares["until"]:
        groups = [
            Group._make(row)
            for row in FacetGroup.objects.filter(entries__gt=0, is_private=False).values_list(
                *GROUP_FIELDS, "entries"
            )
        ]
        everyone = sum(group.entries for group in groups) or 1
        totals = defaultdict(int)
        for group in groups:
            for kind in FACETS:
                for value in kind.values(group):
                    totals[kind.key, value] += group.entries
        _shares.update(
            until=time.monotonic() + 60, shares={k: n / everyone for k, n in totals.items()}
        )
    return _shares["shares"]


class KeptCounts:
    """Every FacetGroup row with entries, as this process last read them, and what is made
    of them: the groups of public entries and of all entries, how many entries are private,
    and the facets tallied from them (a facet-only search, or the options of a "10,000+"
    answer).

    The rows are read on every search that needs them (about 500 rows at 100,000
    repositories: a few hundred microseconds) and compared with the last read; only a
    change builds them again. Building the groups and tallying them took 2-3 ms of CPU per
    search, a fifth of the API's facet-only browsing."""

    TALLIES = 256  # tallies kept per reading, at most

    def __init__(self, rows: list[tuple]):
        self.rows = rows  # (*GROUP_FIELDS, entries, is_private)
        self.all, self.public, self.private_entries = [], [], 0
        for *key, private in rows:
            group = Group(*key)
            self.all.append(group)
            if private:
                self.private_entries += group.entries
            else:
                self.public.append(group)
        self._tallies: dict = {}

    _last: KeptCounts | None = None

    @classmethod
    def read(cls) -> KeptCounts:
        columns = ", ".join((*GROUP_FIELDS, "entries", "is_private"))
        with connection.cursor() as cursor:
            # Constant column names.
            cursor.execute(
                f"SELECT {columns} FROM gallery_facetgroup WHERE entries > 0 ORDER BY id"  # noqa: S608
            )
            rows = cursor.fetchall()
        last = cls._last
        if last is None or last.rows != rows:
            last = cls._last = cls(rows)
        return last

    def groups(self, audience: Audience) -> list[Group]:
        return self.all if audience.key == "all" else self.public

    def tally(self, audience: Audience, params: SearchParams, exact: bool):
        """tally() of this audience's kept groups (public or all), made once per reading."""
        key = (
            audience.key == "all",
            exact,
            tuple(tuple(sorted(set(kind.chosen(params)))) for kind in FACETS),
        )
        found = self._tallies.get(key)
        if found is None:
            if len(self._tallies) >= self.TALLIES:
                self._tallies.clear()
            found = self._tallies[key] = tally(self.groups(audience), params, exact)
        return found


def kept_groups(audience: Audience) -> list[Group]:
    """The audience's whole catalog by facet values: the kept counts of public entries (all
    entries, for staff) and a GROUP BY over the few private ones the audience also sees."""
    groups = KeptCounts.read().groups(audience)
    if audience.key not in ("all", "public"):
        private = audience.entries().filter(is_private=True).order_by()
        groups = groups + [
            Group(*row) for row in private.values_list(*GROUP_FIELDS).annotate(n=Count("pk"))
        ]
    return groups


def public_total() -> int:
    """How many repositories everyone sees, from the kept counts (the home page says it on
    every visit; counting the 100,000 public rows took 50 ms)."""
    kept = FacetGroup.objects.filter(is_private=False, entries__gt=0)
    return kept.aggregate(total=Sum("entries"))["total"] or 0


def counted_groups(
    rows: models.QuerySet, catalog: Catalog | None = None
) -> tuple[list[Group], bool]:
    """(groups, exact) of the first BERTH_SEARCH_EXACT_UP_TO + 1 rows: exact when no more
    rows match. Given the catalog searched, rows the database clearly holds more of than
    that are not counted at all (no groups, not exact; see clearly_more)."""
    limit = settings.BERTH_SEARCH_EXACT_UP_TO
    inner = rows.order_by().values_list(*GROUP_FIELDS)[: limit + 1]
    sql, params = inner.query.sql_with_params()
    if catalog is not None and clearly_more((sql, params), catalog, limit):
        return [], False
    columns = ", ".join(GROUP_FIELDS)
    with connection.cursor() as cursor:
        # Django's SQL (values as parameters) and constant column names.
        grouped = f"SELECT {columns}, COUNT(*) FROM ({sql}) AS matching GROUP BY {columns}"  # noqa: S608
        cursor.execute(grouped, params)
        groups = list(map(Group._make, cursor.fetchall()))
    return groups, sum(group.entries for group in groups) <= limit


# A text query the planner expects to match more than this many times the exact limit is
# not counted (see clearly_more).
CLEARLY_MORE = 2


def _estimable(query: Query) -> bool:
    """Whether the planner's estimate of this query's matches can be trusted: words, alone
    or as alternatives. The planner takes a phrase for its words anywhere and an excluded
    word as unrelated to the others; both can overestimate by far more than CLEARLY_MORE."""
    return (
        connection.vendor == "postgresql"
        and bool(query.clauses)
        and not query.excluded
        and all(len(phrase.words) == 1 for clause in query.clauses for phrase in clause)
    )


class Catalog:
    """An audience's catalog as the kept counts give it, read once per search if at all."""

    def __init__(self, audience: Audience):
        self.audience = audience

    @cached_property
    def kept(self) -> KeptCounts:
        return KeptCounts.read()

    @cached_property
    def groups(self) -> list[Group]:
        return kept_groups(self.audience)

    def tally(self, params: SearchParams, exact: bool):
        """tally(self.groups, params, exact), from the kept tallies where the audience's
        catalog is exactly the kept counts (everyone's, or staff's)."""
        if self.audience.key in ("all", "public"):
            return self.kept.tally(self.audience, params, exact)
        return tally(self.groups, params, exact)

    @cached_property
    def size(self) -> int:
        return sum(group.entries for group in self.groups)

    @cached_property
    def hidden(self) -> int:
        """At least as many listed entries as this audience may not see: every private one,
        but for staff, who see them all."""
        return 0 if self.audience.key == "all" else self.kept.private_entries


def clearly_more(rows, catalog: Catalog, limit: int) -> bool:
    """Whether PostgreSQL's planner expects `rows` (a text query's matches: a queryset, or
    its SQL and parameters) to number more than CLEARLY_MORE times `limit`, in a catalog
    that holds that many: counting them up to limit + 1 would then only confirm "10,000+",
    and it is the costliest part of a search (98,000 matches of a word in most READMEs:
    10,001 rows read, 30-60 ms on 2 cores).

    The estimate comes from the statistics ANALYZE keeps of the text column (the share of
    each common word) and costs one planning, about half a millisecond. Measured at 100,000
    repositories over the benchmark's 278 text queries and facet combinations, it was
    within 25 % of the true count where it mattered (alternatives of common words
    overestimated by that much), and a word the statistics do not list is estimated rare,
    so it is counted. Stale statistics in a catalog that shrank are caught by the
    catalog's own size, from the kept counts. The statistics cover private entries too:
    the estimate must exceed the wanted number by every entry the audience may not see,
    so that private repositories full of a word never turn a public count into "10,000+"
    (the planner's estimate of the audience's matches, less every hidden entry, is a lower
    bound of them whatever words the hidden ones hold)."""
    sql, params = rows if isinstance(rows, tuple) else rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    node = plan[0]["Plan"]
    while node["Node Type"] == "Limit" and node.get("Plans"):
        node = node["Plans"][0]  # the rows before the LIMIT
    wanted = CLEARLY_MORE * limit
    if node["Plan Rows"] <= wanted:
        return False
    # The statistics are the whole table's: were every private entry a match, the
    # audience's matches would still be more than wanted.
    return catalog.size > wanted and node["Plan Rows"] - catalog.hidden > wanted


# -- text ---------------------------------------------------------------------------------------


def _sql(template: str, *params) -> Q:
    """A condition in SQL: templates are this module's constants, values go as parameters."""
    return Q(RawSQL(template, params, output_field=models.BooleanField()))  # noqa: S611


def _rowids(template: str, text: str) -> Q:
    """Entries whose rowid the FTS5 query `template` (a constant) returns for `text`."""
    return Q(pk__in=RawSQL(template, (text,)))  # noqa: S611


class Text:
    """A parsed query written for this database: the conditions search combines.

    `match` is every entry the query finds; `arms` split it into relevance tiers, best first,
    each condition implying `match`; `exact` is the exact-name condition (or None)."""

    def __init__(self, query: Query):
        self.query = query
        self.exact = None
        if query.name:
            self.exact = Q(name=query.name) | Q(Exact(SHORT_NAME, query.name))

    def arms(self) -> list[tuple[int, Q]]:
        if not self.query.clauses:  # only exclusions: everything else, by downloads
            return [(TEXT, self.match)]
        allowed = ~self.excluded if self.query.excluded else Q()
        arms, above = [], Q()
        if self.exact is not None:  # a name is one token: it has no exclusions
            arms.append((EXACT, self.exact))
            above = ~self.exact
        arms.append((NAME, self.in_name & above & allowed))
        above &= ~self.in_name
        arms.append((TITLE, self.in_title & above & allowed))
        above &= ~self.in_title
        arms.append((TEXT, self.anywhere & above))
        return arms

    @cached_property
    def match(self) -> Q:
        if not self.query.clauses:
            return ~self.excluded
        allowed = ~self.excluded if self.query.excluded else Q()
        return self.anywhere | (self.in_name & allowed)


class PostgresText(Text):
    """tsquery text (`to_tsquery` syntax) built from words that are letters and digits only,
    so the database's parser sees operators only where this class put them."""

    ALL = '"gallery_catalogentry"."search_all" @@ to_tsquery(\'english\'::regconfig, %s)'
    TITLE = '"gallery_catalogentry"."search_title" @@ to_tsquery(\'english\'::regconfig, %s)'
    NAME = (
        '"gallery_catalogentry"."search_name" @@ '
        "(to_tsquery('english'::regconfig, %s) || to_tsquery('simple'::regconfig, %s))"
    )

    @staticmethod
    def phrase(phrase: Phrase, *, typed: bool = False) -> str:
        words = list(phrase.words)
        if typed and phrase.prefix:
            words[-1] += ":*"
        return "(" + " <-> ".join(words) + ")"

    def positive(self, **options) -> str:
        return " & ".join(
            "(" + " | ".join(self.phrase(p, **options) for p in clause) + ")"
            for clause in self.query.clauses
        )

    @cached_property
    def excluded(self) -> Q:
        return _sql(self.ALL, " | ".join(self.phrase(p) for p in self.query.excluded))

    @cached_property
    def anywhere(self) -> Q:
        text = self.positive()
        if self.query.excluded:
            text = f"({text}) & !({' | '.join(self.phrase(p) for p in self.query.excluded)})"
        return _sql(self.ALL, text)

    @cached_property
    def in_name(self) -> Q:
        # Whole words stemmed (`exporters` finds `exporter`), or the last word as typed the
        # beginning of a word (`monitori`); never the beginning of a stem (`logging` would
        # find `login` by its stem `log`).
        return _sql(self.NAME, self.positive(), self.positive(typed=True))

    @cached_property
    def in_title(self) -> Q:
        return _sql(self.TITLE, self.positive())

    def name_words(self, rows, words: Sequence[str]) -> Counter:
        """How many of `rows` (up to 100) have each word in their names: one index look-up
        per word (a single OR of hundreds of words would be planned as a table scan)."""
        has_word = Q(
            RawSQL(  # a constant; the word comes from the outer query
                '"gallery_catalogentry"."search_name" @@ '
                "to_tsquery('simple'::regconfig, candidate.word)",
                (),
                output_field=models.BooleanField(),
            )
        )
        found = rows.filter(has_word).order_by().values("pk")[:100]
        sql, params = found.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT candidate.word, (SELECT COUNT(*) FROM ({sql}) AS found) "  # noqa: S608
                "FROM unnest(%s::text[]) AS candidate(word)",
                [*params, list(words)],
            )
            return Counter(dict(cursor.fetchall()))


# PostgreSQL's english stop words (tsearch_data/english.stop): its stemmed text has none, and
# its queries of that text leave them out.
_STOP_WORDS = (
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his "
    "himself she her hers herself it its itself they them their theirs themselves what which "
    "who whom this that these those am is are was were be been being have has had having do "
    "does did doing a an the and but if or because as until while of at by for with about "
    "against between into through during before after above below to from up down in out on "
    "off over under again further then once here there when where why how all any both each "
    "few more most other some such no nor not only own same so than too very s t can will "
    "just don should now"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())


class SqliteText(Text):
    """FTS5 query text; every word quoted, so that none reads as an FTS5 operator.

    Stop words mean what they mean on PostgreSQL: the stemmed table is queried without
    them (`nginx and` is `nginx`, `-the` excludes nothing, a query of stop words only finds
    names), the names' own words with them."""

    SEARCH = "SELECT rowid FROM gallery_search WHERE gallery_search MATCH %s"
    NAMES = "SELECT rowid FROM gallery_search_name WHERE gallery_search_name MATCH %s"
    NOTHING = _sql("1 = 0")  # as SQL: search writes its own SQL around conditions

    @staticmethod
    def phrase(phrase: Phrase, *, typed: bool = False) -> str:
        return '"' + " ".join(phrase.words) + '"' + ("*" if typed and phrase.prefix else "")

    @staticmethod
    def stemmed(phrase: Phrase) -> str:
        """The phrase as PostgreSQL's english configuration reads it: without the stop words
        it begins or ends with ("" when it has no other word)."""
        words = list(phrase.words)
        while words and words[0] in STOP_WORDS:
            words.pop(0)
        while words and words[-1] in STOP_WORDS:
            words.pop()
        return '"' + " ".join(words) + '"' if words else ""

    def positive(self, **options) -> str:
        return " AND ".join(
            "(" + " OR ".join(self.phrase(p, **options) for p in clause) + ")"
            for clause in self.query.clauses
        )

    @cached_property
    def positive_stemmed(self) -> str:
        """positive() for the stemmed table: alternatives and clauses of stop words only are
        left out, as to_tsquery leaves them out ("" when nothing is left)."""
        clauses = [
            [text for p in clause if (text := self.stemmed(p))] for clause in self.query.clauses
        ]
        return " AND ".join("(" + " OR ".join(clause) + ")" for clause in clauses if clause)

    @cached_property
    def excluded_stemmed(self) -> str:
        return " OR ".join(text for p in self.query.excluded if (text := self.stemmed(p)))

    def _search(self, text: str) -> Q:
        return _rowids(self.SEARCH, text)

    @cached_property
    def excluded(self) -> Q:
        return self._search(self.excluded_stemmed) if self.excluded_stemmed else self.NOTHING

    @cached_property
    def anywhere(self) -> Q:
        text = self.positive_stemmed
        if not text:
            return self.NOTHING
        if self.excluded_stemmed:
            text = f"({text}) NOT ({self.excluded_stemmed})"
        return self._search(text)

    @cached_property
    def in_name(self) -> Q:
        # As on PostgreSQL: words as typed, the last one maybe the beginning of a word, or
        # whole words stemmed.
        found = _rowids(self.NAMES, self.positive(typed=True))
        if self.positive_stemmed:
            found |= self._search(f"{{name}} : ({self.positive_stemmed})")
        return found

    @cached_property
    def in_title(self) -> Q:
        if not self.positive_stemmed:
            return self.NOTHING
        return self._search(f"{{name description}} : ({self.positive_stemmed})")

    def name_words(self, rows, words: Sequence[str]) -> Counter:
        """How many of `rows` (up to 500 read) have each word in their names."""
        names = rows.filter(_rowids(self.NAMES, " OR ".join(f'"{w}"' for w in words)))
        wanted, seen = set(words), Counter()
        for name in names.order_by().values_list("name", flat=True)[:500]:
            seen.update(set(_NAME_WORDS.findall(name)) & wanted)
        return seen


def text_for(query: Query) -> Text:
    return (PostgresText if connection.vendor == "postgresql" else SqliteText)(query)


# -- keyset pagination --------------------------------------------------------------------------

# (field, descending): the last one is unique, which keysets need. pushed_at may be NULL
# (never pushed); each database puts NULLs where it does in its indexes: above every value on
# PostgreSQL, below on SQLite.
NULLABLE = {"pushed_at"}


def ordering(sort: str, has_text: bool) -> list[tuple[str, bool]]:
    if sort == "name":
        return [("name", False)]
    if sort == "updated":
        return [("pushed_at", True), ("name", False)]
    if sort == "relevance" and has_text:
        return [("tier", True), ("downloads", True), ("name", False)]
    return [("downloads", True), ("name", False)]


def encode_cursor(values: Sequence) -> str:
    values = [_plain(value) for value in values]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _plain(value):
    """A sort value as JSON can hold it: moments in ISO 8601 with their offset (SQL read
    without Django's converters gives SQLite's as naive UTC)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


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
        if value is None and name in NULLABLE:
            decoded.append(None)
            continue
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
        return value if isinstance(value, str) and is_storable(value) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if name == "tier":
        return value if TEXT <= value <= EXACT else None
    return value if abs(value) < 2**63 else None


def _after(name: str, descending: bool, value, forward: bool) -> Q:
    """Rows strictly after `value` on one field, in the walking direction."""
    smaller = descending == forward  # the rows wanted hold smaller values
    if name not in NULLABLE:
        return Q(**{f"{name}__{'lt' if smaller else 'gt'}": value})
    null_is_largest = connection.vendor == "postgresql"
    if value is None:
        everything = Q(**{f"{name}__isnull": False})
        return everything if smaller == null_is_largest else Q(pk__in=[])
    strictly = Q(**{f"{name}__{'lt' if smaller else 'gt'}": value})
    if smaller != null_is_largest:
        strictly |= Q(**{f"{name}__isnull": True})
    return strictly


def beyond(order, values, forward: bool) -> Q:
    """Rows after (forward) or before the row whose sort values are `values`."""
    condition = Q(pk__in=[])
    for i, (name, descending) in enumerate(order):
        step = _after(name, descending, values[i], forward)
        for j in range(i):
            previous = order[j][0]
            same = {f"{previous}__isnull": True} if values[j] is None else {previous: values[j]}
            step &= Q(**same)
        condition |= step
    name, descending = order[0]
    if len(order) > 1 and values[0] is not None:
        # The same condition, with the first field's range stated on its own: an index on
        # the sort fields starts at the cursor instead of filtering every row before it.
        smaller = descending == forward
        bound = Q(**{f"{name}__{'lte' if smaller else 'gte'}": values[0]})
        if name in NULLABLE and smaller != (connection.vendor == "postgresql"):
            bound |= Q(**{f"{name}__isnull": True})  # NULLs lie ahead
        condition = bound & condition
    return condition


def _order_by(order, forward: bool) -> list[str]:
    return [("-" if descending == forward else "") + name for name, descending in order]


def _page(rows: list[tuple[tuple, listing.Row]], values, forward: bool, size: int):
    """(rows, prev_cursor, next_cursor) from up to size + 1 pairs of (sort values, Row)."""
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        rows.reverse()
    if not rows:
        return [], "", ""
    has_next = more if forward else values is not None
    has_prev = (values is not None) if forward else more
    return (
        [row for _, row in rows],
        encode_cursor(rows[0][0]) if has_prev else "",
        encode_cursor(rows[-1][0]) if has_next else "",
    )


def _top(queryset, order, forward: bool, limit: int, few: bool) -> tuple[str, list]:
    """SQL for the first `limit` entries in `order` of `queryset`, which reads
    listing.COLUMNS (the page is read in the query that finds it).

    `few`: the caller knows that few rows match (it counted them). PostgreSQL then finds
    them all through the indexes and sorts them (OFFSET 0 keeps the sort from being planned
    as a walk down a sort index, which for a few matches the planner thinks common, say a
    phrase, reads most of the table)."""
    if few and connection.vendor == "postgresql":
        sql, params = queryset.order_by().query.sql_with_params()
        keys = ", ".join(
            f'"{name}" {"DESC" if descending == forward else "ASC"}' for name, descending in order
        )
        # Django's SQL (values as parameters), constant field names and an integer.
        found = f"SELECT * FROM ({sql} OFFSET 0) AS found ORDER BY {keys} LIMIT {limit}"  # noqa: S608
        return found, params
    rows = queryset.order_by(*_order_by(order, forward))[:limit]
    return rows.query.sql_with_params()


def _fetch(sql: str, params) -> list[listing.Row]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return listing.from_sql(cursor.fetchall())


def paginate(
    queryset, order, *, after: str = "", before: str = "", size: int = PAGE_SIZE, few=False
):
    """One keyset page of `queryset`: (rows, prev_cursor, next_cursor)."""
    forward = not before
    values = decode_cursor(after if forward else before, order)
    if values is not None:
        queryset = queryset.filter(beyond(order, values, forward))
    found = _fetch(*_top(queryset, order, forward, size + 1, few))
    rows = [(tuple(getattr(row, name) for name, _ in order), row) for row in found]
    return _page(rows, values, forward, size)


def paginate_tiers(
    queryset, arms, *, after: str = "", before: str = "", size: int = PAGE_SIZE, few=False
):
    """One keyset page by relevance. The tiers are strictly ordered, so the page is the
    first rows of the first tiers: each is read in its own (downloads, name) order, and the
    next only if the page is not full yet."""
    order = ordering("relevance", True)
    forward = not before
    values = decode_cursor(after if forward else before, order)
    rows = []
    for tier, condition in arms if forward else reversed(arms):
        if values is not None and (tier > values[0] if forward else tier < values[0]):
            continue
        found = queryset.filter(condition)
        if values is not None and tier == values[0]:
            found = found.filter(beyond(order[1:], values[1:], forward))
        sql, params = _top(found, order[1:], forward, size + 1 - len(rows), few)
        rows += [((tier, row.downloads, row.name), row) for row in _fetch(sql, params)]
        if len(rows) > size:
            break
    return _page(rows, values, forward, size)


# -- search -------------------------------------------------------------------------------------


@dataclass
class _Result:
    """What a search computes. The cache keeps ids, never rows: a page computed now carries
    the rows its query read; one from the cache reads them again (and only if visible)."""

    ids: list[int]
    prev_cursor: str
    next_cursor: str
    total: int
    total_is_lower_bound: bool
    facets: list[Facet]
    matched: bool  # the text matched something, facet filters aside
    rows: list[listing.Row] | None = None  # the page's rows, when read with it


def search(source, params: SearchParams, *, size: int = PAGE_SIZE) -> SearchPage:
    """Search the catalog that `source` may see: an Audience (the pages and the API; counts
    come from the kept counts where they can, and results are cached per audience), or a
    queryset of CatalogEntry (counted as it is, not cached)."""
    params = params.cleaned()
    size = max(1, min(size, MAX_PAGE_SIZE))
    audience = source if isinstance(source, Audience) else None
    rows = audience.entries() if audience else source
    query = searchsyntax.parse(params.q)
    result = _search(rows, audience, query, params, size)
    suggestion = ""
    if query.clauses and not result.matched:
        corrected = suggest(rows, query)
        if corrected:
            fixed = replace(params, q=corrected)
            found = _search(rows, audience, searchsyntax.parse(corrected), fixed, size)
            if found.total:
                result, suggestion = found, corrected
    entries = result.rows
    if entries is None:  # ids from the cache: the rows are read fresh (and only if visible)
        found_rows = {}
        if result.ids:
            found_rows = {row.pk: row for row in listing.rows(rows.filter(pk__in=result.ids))}
        entries = [found_rows[pk] for pk in result.ids if pk in found_rows]
    return SearchPage(
        entries=entries,
        total=result.total,
        facets=result.facets,
        next_cursor=result.next_cursor,
        prev_cursor=result.prev_cursor,
        sort=params.sort,
        total_is_lower_bound=result.total_is_lower_bound,
        suggestion=suggestion,
    )


def counts(rows, audience: Audience | None, query: Query, params: SearchParams):
    """(total, total_is_lower_bound, facets, matched): `matched` says whether the text
    matched anything at all, facet filters aside."""
    if params.namespace:
        rows = rows.filter(namespace=params.namespace)
    limit = settings.BERTH_SEARCH_EXACT_UP_TO
    # Only the pages' and the API's searches are estimated: their facet values come from
    # the kept counts when the matches are not counted.
    catalog = Catalog(audience) if audience is not None else None
    estimated = catalog if catalog is not None and _estimable(query) else None
    if not query and not params.namespace and catalog is not None:
        total, facets = catalog.tally(params, exact=True)
        return total, False, facets, bool(catalog.groups)
    matching = rows.filter(text_for(query).match) if query else rows
    groups, exact = counted_groups(matching, estimated)
    if exact:
        total, facets = tally(groups, params, exact)
        return total, False, facets, bool(groups)
    # Too many to count: every value the audience's catalog has is an option, uncounted.
    if audience is None:
        facets = tally(groups, params, exact=False)[1]
    elif groups:
        facets = tally(groups + catalog.groups, params, exact=False)[1]
    else:  # not counted at all
        facets = catalog.tally(params, exact=False)[1]
    total = limit + 1
    filters = facet_filters(params)
    if filters:
        filtered = matching.filter(*filters).order_by()[: limit + 1]
        if estimated is None or not clearly_more(filtered.values("pk"), estimated, limit):
            total = filtered.count()
    return min(total, limit), total > limit, facets, True


def page(rows, query: Query, params: SearchParams, size: int, few: bool):
    """(rows, prev_cursor, next_cursor) of the page `params` asks for."""
    if params.namespace:
        rows = rows.filter(namespace=params.namespace)
    filters = facet_filters(params)
    rows = rows.filter(*filters).values_list(*listing.COLUMNS)
    text = text_for(query) if query else None
    keys = {"after": params.after, "before": params.before, "size": size, "few": few}
    if params.sort == "relevance" and query.clauses:
        return paginate_tiers(rows, text.arms(), **keys)
    if text:
        rows = rows.filter(text.match)
    return paginate(rows, ordering(params.sort, has_text=False), **keys)


# -- "did you mean" -----------------------------------------------------------------------------

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
SUGGESTED_WORDS = 4  # words of one query that may be corrected
_NAME_WORDS = re.compile(r"[a-z0-9]+")


def edits(word: str) -> set[str]:
    """Every word one typo away: a letter deleted, swapped with the next, replaced, added."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
        | {a + c + b for a, b in splits for c in _ALPHABET}
    )


def suggest(rows, query: Query) -> str:
    """The query with each word no visible name has replaced by the name word one typo away
    that the most visible repositories have; "" when there is none. Only what `rows` holds
    is read, so a private repository's name is never suggested to someone who may not see
    it."""
    words = [w for w in query.words if w.isascii() and 3 <= len(w) <= 32][:SUGGESTED_WORDS]
    if not words:
        return ""
    text = text_for(query)
    found = text.name_words(rows, words)
    candidates = {word: edits(word) for word in words if not found[word]}
    every = sorted(set().union(*candidates.values())) if candidates else []
    if not every:
        return ""
    seen = text.name_words(rows, every)
    corrected = query.text
    for word, options in candidates.items():
        best = max(options, key=lambda w: (seen[w], w))
        if seen[best]:
            corrected = re.sub(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", best, corrected)
    return corrected if corrected != query.text else ""


# -- the cache ----------------------------------------------------------------------------------


def _search(rows, audience, query: Query, params: SearchParams, size: int) -> _Result:
    """The counts, then the page of one search: computed, or from the cache (per audience)."""
    seconds = settings.BERTH_SEARCH_CACHE_SECONDS if audience is not None else 0
    key = ""
    if seconds:
        key = _cache_key(
            _generation(),
            audience.key,
            repr((query.clauses, query.excluded, query.name)),
            sorted(params.architectures),
            sorted(params.operating_systems),
            sorted(params.types),
            params.verified,
            params.signed,
            params.namespace,
        )
    total, lower_bound, facets, matched = _cached(
        key, seconds, lambda: counts(rows, audience, query, params)
    )
    few = not lower_bound and total <= FEW
    ids, prev_cursor, next_cursor, found = [], "", "", []
    if total:  # nothing to read when nothing matches
        page_key = key and _cache_key(key, params.sort, params.after, params.before, size)
        cached = cache.get(page_key) if page_key else None
        if cached is None:
            found, prev_cursor, next_cursor = page(rows, query, params, size, few)
            ids = [row.pk for row in found]
            if page_key:
                cache.set(page_key, (ids, prev_cursor, next_cursor), seconds)
        else:
            ids, prev_cursor, next_cursor = cached
            found = None
    return _Result(ids, prev_cursor, next_cursor, total, lower_bound, facets, matched, found)


def _cached(key: str, seconds: int, compute):
    return cache.get_or_set(key, compute, seconds) if key else compute()


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


def forget_cached_results() -> None:
    """Make every cached search stale at once (a repository became private or went away)."""
    cache.set(GENERATION_KEY, time.time_ns(), None)


def audience_of(user) -> str:
    """Who sees the same catalog as `user`: everyone ("public"), staff ("all"), or those
    who also read the same private namespaces and single repositories. It mirrors
    policy.visibility_filter exactly, as cached pages and counts are shared by key."""
    from registry.access import policy

    if not policy.visibility_filter(user):  # Q(): nothing is filtered out
        return "all"
    namespaces = policy.readable_namespaces(user)
    repositories = policy.readable_repositories(user)
    if not namespaces and not repositories:
        return "public"
    return "ns:" + ",".join(sorted(namespaces)) + ";repo:" + ",".join(sorted(repositories))


# -- kept for migration 0001, which created the generated columns 0004 replaced ----------------

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
    sql = (
        "setweight(" + _tsvector("translate(coalesce(\"name\", ''), '/_.', '   ')") + ", 'A') || "
        "setweight(" + _tsvector("coalesce(\"description\", '')") + ", 'B')"
    )


@deconstructible(path="gallery.search.AboutDocument")
class AboutDocument(_Document):
    sql = "setweight(" + _tsvector("coalesce(\"about\", '')") + ", 'C')"
