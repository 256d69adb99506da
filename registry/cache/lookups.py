"""The cache's hot lookups, written as SQL (as registry.queries): a warm pull by tag costs
one query for the manifest and what the cache knows of the tag together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.backends.utils import typecast_timestamp
from django.utils import timezone

from ..models import Manifest, Repository, Tag
from ..queries import _table
from .models import CachedManifest, CachedTag


@dataclass(frozen=True, slots=True)
class Found:
    manifest: Manifest | None
    validated_at: datetime | None = None
    pulled_at: datetime | None = None


def _datetime(value) -> datetime | None:
    """A timestamp column as an aware datetime, whatever the database hands back."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = typecast_timestamp(str(value))
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _manifest(row) -> Manifest:
    id_, repository_id, digest, media_type, body, size = row[:6]
    return Manifest(
        id=id_,
        repository_id=repository_id,
        digest=digest,
        media_type=media_type,
        body=bytes(body),
        size=size,
    )


COLUMNS = "m.id, m.repository_id, m.digest, m.media_type, m.body, m.size"


def by_tag(name: str, tag: str) -> Found:
    """The manifest `tag` names in `name`, with when the tag was last checked and pulled."""
    sql = (
        f"SELECT {COLUMNS}, c.validated_at, c.pulled_at FROM {_table(Manifest)} m "  # noqa: S608
        f"JOIN {_table(Tag)} t ON t.manifest_id = m.id "
        f"JOIN {_table(Repository)} r ON r.id = t.repository_id "
        f"LEFT JOIN {_table(CachedTag)} c ON c.repository_id = r.id AND c.name = t.name "
        "WHERE r.name = %s AND t.name = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name, tag])
        row = cursor.fetchone()
    if row is None:
        return Found(None)
    return Found(_manifest(row), _datetime(row[6]), _datetime(row[7]))


def by_digest(name: str, digest: str) -> Found:
    """The manifest `digest` names in `name`, with when it was last pulled."""
    sql = (
        f"SELECT {COLUMNS}, c.pulled_at FROM {_table(Manifest)} m "  # noqa: S608
        f"JOIN {_table(Repository)} r ON r.id = m.repository_id "
        f"LEFT JOIN {_table(CachedManifest)} c ON c.repository_id = r.id AND c.digest = m.digest "
        "WHERE r.name = %s AND m.digest = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name, digest])
        row = cursor.fetchone()
    if row is None:
        return Found(None)
    return Found(_manifest(row), None, _datetime(row[6]))
