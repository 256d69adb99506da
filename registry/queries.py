"""The pull path's hot lookups, written as SQL.

Building a query through the ORM costs about half a millisecond of CPU; running these takes
a few dozen microseconds. A manifest GET must stay well under a millisecond, so the lookups
it makes on every request live here, as plain parameterized SQL over the models' tables.
Everything else uses the ORM.
"""

from __future__ import annotations

from django.db import connection

from .models import Manifest, Repository, Tag


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _bytewise() -> str:
    """The collation that orders names byte by byte (PostgreSQL's default is locale-aware)."""
    return ' COLLATE "C"' if connection.vendor == "postgresql" else ""


def manifest(name: str, *, tag: str = "", digest: str = "") -> Manifest | None:
    """The manifest that `tag` or `digest` names in repository `name`, or None."""
    manifests, repositories, tags = _table(Manifest), _table(Repository), _table(Tag)
    columns = "m.id, m.repository_id, m.digest, m.media_type, m.body, m.size"
    if tag:
        sql = (
            f"SELECT {columns} FROM {manifests} m "  # noqa: S608 - table names from models
            f"JOIN {tags} t ON t.manifest_id = m.id "
            f"JOIN {repositories} r ON r.id = t.repository_id "
            "WHERE r.name = %s AND t.name = %s"
        )
        params = [name, tag]
    else:
        sql = (
            f"SELECT {columns} FROM {manifests} m "  # noqa: S608 - table names from models
            f"JOIN {repositories} r ON r.id = m.repository_id "
            "WHERE r.name = %s AND m.digest = %s"
        )
        params = [name, digest]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    id_, repository_id, digest_, media_type, body, size = row
    return Manifest(
        id=id_,
        repository_id=repository_id,
        digest=digest_,
        media_type=media_type,
        body=bytes(body),
        size=size,
    )


_FIELDS = (
    "id",
    "name",
    "namespace",
    "owner_id",
    "is_private",
    "is_provisional",
    "created_at",
    "pushed_at",
)


def repository(name: str) -> Repository | None:
    """The repository called `name`, or None."""
    sql = f"SELECT {', '.join(_FIELDS)} FROM {_table(Repository)} WHERE name = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        row = cursor.fetchone()
    if row is None:
        return None
    return Repository(**dict(zip(_FIELDS, row, strict=True)))


def access_of(name: str) -> tuple[bool, bool]:
    """(may anyone pull repository `name`, do network rules apply to it): the access
    decision's one query. A private, a provisional and a missing repository all answer
    (False, …) through the same work."""
    sql = (
        f"SELECT is_private, is_provisional, network_restricted FROM {_table(Repository)} "  # noqa: S608
        "WHERE name = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        row = cursor.fetchone()
    if row is None or row[0] or row[1]:
        # Nobody may pull it: missing, private or provisional, one path for all three
        # (whether a cache rule made elsewhere a moment ago covers the name included).
        cached = _not_cached_yet(name)
        if row is None:
            row = cached or (True, True, False)
    return not row[0] and not row[1], bool(row[2])


def _not_cached_yet(name: str) -> tuple[bool, bool, bool] | None:
    """A repository of a pull-through cache that nobody pulled yet: it will exist as soon
    as someone pulls it, with its namespace's visibility and network rules."""
    from .access import namespaces
    from .cache import rules

    if rules.rule_for(name, fresh=True) is None:
        return None
    private = namespaces.new_repository_private(name)
    return private, False, namespaces.restricted_by_namespace(name)


def is_public(name: str) -> bool:
    return access_of(name)[0]


def tag_names(repository_id: int, n: int, last: str = "") -> list[str]:
    """Up to `n` tag names of the repository after `last`, in byte-wise lexical order."""
    collate = _bytewise()
    sql = f"SELECT name FROM {_table(Tag)} WHERE repository_id = %s"  # noqa: S608
    params: list = [repository_id]
    if last:
        sql += f" AND name{collate} > %s"
        params.append(last)
    sql += f" ORDER BY name{collate} LIMIT %s"
    params.append(n)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
