"""Lists of repositories (search results, the home page, a publisher's page): the columns
they read, as plain rows in one query, and the card each row becomes.

A list of cards is rendered by one Jinja2 loop (templates/jinja2/cards.html, through the
`{% card_list %}` tag) over values computed here: building 20 model instances and running a
Django template, its tags and filters for each card cost more than the search that found
them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from django.urls import reverse
from django.utils.text import Truncator
from django.utils.timezone import localtime

from .models import ArtifactType, CatalogEntry
from .templatetags.berth import ago, compact

DESCRIPTION_SHOWN = 160  # characters of a description on a card
ARCHITECTURES_SHOWN = 4
TYPE_LABELS = dict(ArtifactType.choices)


class Row(NamedTuple):
    """One catalog entry as lists show it (CatalogEntry's fields of the same names)."""

    pk: int
    name: str
    namespace: str
    description: str
    logo: str
    artifact_type: str
    platforms: str
    tag_count: int
    total_size: int
    pushed_at: datetime | None
    downloads: int
    is_verified: bool
    is_signed: bool
    is_private: bool
    publisher_id: int | None
    publisher_display_name: str | None
    publisher_verified: bool | None
    publisher_namespace: str | None

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[-1]

    @property
    def platform_list(self) -> list[str]:
        return self.platforms.split()

    @property
    def architectures(self) -> list[str]:
        return sorted({p.split("/", 1)[-1] for p in self.platforms.split()})

    @property
    def publisher_label(self) -> str:
        """What str(publisher) says: its display name, else its namespace."""
        return self.publisher_display_name or self.publisher_namespace or ""

    @property
    def logo_url(self) -> str:
        return CatalogEntry._meta.get_field("logo").storage.url(self.logo) if self.logo else ""


COLUMNS = (
    "pk",
    "name",
    "namespace",
    "description",
    "logo",
    "artifact_type",
    "platforms",
    "tag_count",
    "total_size",
    "pushed_at",
    "downloads",
    "is_verified",
    "is_signed",
    "is_private",
    "publisher_id",
    "publisher__display_name",
    "publisher__is_verified",
    "publisher__namespace_record__name",
)


def rows(queryset) -> list[Row]:
    """The queryset's entries as Rows, in its order, in one query."""
    return list(map(Row._make, queryset.values_list(*COLUMNS)))


def from_sql(found: list[tuple]) -> list[Row]:
    """Rows of COLUMNS read by SQL that Django did not run, as the ORM would give them:
    SQLite gives moments without their time zone (UTC)."""
    rows = list(map(Row._make, found))
    for i, row in enumerate(rows):
        if row.pushed_at is not None and row.pushed_at.tzinfo is None:
            rows[i] = row._replace(pushed_at=row.pushed_at.replace(tzinfo=UTC))
    return rows


def _prefix(route: str) -> str:
    """The URL of `route` for a name, less the name: names are made of letters, digits and
    `._-/`, which URLs carry as they are (what reverse() would give, without its cost for
    every card)."""
    return reverse(route, args=["xx"])[:-2]


def cards(entries) -> list[dict]:
    """What each card shows, from Rows."""
    repository, publisher = _prefix("repository"), _prefix("publisher")
    shown = []
    for row in entries:
        description = row.description or "No description yet."
        if len(description) > DESCRIPTION_SHOWN or not description.isascii():
            # What the truncatechars filter gives (NFC, then cut); short ASCII is kept as is.
            description = Truncator(description).chars(DESCRIPTION_SHOWN)
        architectures = row.architectures
        shown.append(
            {
                "name": row.name,
                "url": repository + row.name,
                "logo_url": row.logo_url,
                "initial": row.short_name[:1].upper(),
                "has_publisher": row.publisher_id is not None,
                "publisher": row.publisher_label,
                "publisher_url": publisher + row.namespace,
                "namespace": row.namespace,
                "is_verified": row.is_verified,
                "is_signed": row.is_signed,
                "is_private": row.is_private,
                "description": description,
                "type": TYPE_LABELS.get(row.artifact_type, row.artifact_type),
                "architectures": architectures[:ARCHITECTURES_SHOWN],
                "more_architectures": max(len(architectures) - ARCHITECTURES_SHOWN, 0),
                "downloads": compact(row.downloads),
                # The date filter's "c": ISO 8601 in the current time zone.
                "pushed_at": localtime(row.pushed_at).isoformat() if row.pushed_at else "",
                "ago": ago(row.pushed_at) if row.pushed_at else "",
            }
        )
    return shown
