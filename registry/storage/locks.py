"""The locks that uploads, mounts, manifest pushes and garbage collection share.

`blob_lock(digest)`: held while a blob's record and stored bytes change together: an
upload storing a verified blob, a mount linking it into another repository, garbage
collection re-checking it and deleting it. `repository_lock(id)`: held while a manifest
push checks its references and records the manifest, and while garbage collection unlinks
blobs from that repository or deletes its manifests. Always in that order (repository,
then blob), so two lock holders never wait for each other.

Both are transaction-scoped: they open a transaction and hold the lock until it ends.
`keep_repository(id)`, within one, keeps the repository's row from being deleted until it
ends: linking a blob into the repository holds it, and deleting the repository waits.
On PostgreSQL they are advisory locks (`pg_advisory_xact_lock(class, key)`, the key
32 bits of a hash of the digest or the repository's id): other blobs and repositories proceed
in parallel. On SQLite a write transaction is the database's one write lock: holding it is
holding every lock at once (the transaction starts with a write so that it takes the lock
first, whatever the connection's transaction mode).
"""

from __future__ import annotations

import contextlib
import hashlib

from django.db import connection, transaction

from ..models import Repository

BLOB, REPOSITORY = 1, 2  # lock classes: the first key of the two-key advisory lock


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def blob_key(digest: str) -> int:
    """32 bits of the digest's own hash: the same in every process."""
    return int.from_bytes(hashlib.sha256(digest.encode()).digest()[:4], "big", signed=True)


@contextlib.contextmanager
def _advisory(lock_class: int, key: int):
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [lock_class, key])
            elif connection.vendor == "sqlite":
                # Any write takes SQLite's write lock until the transaction ends.
                cursor.execute("DELETE FROM registry_blob WHERE 0")
        yield


def blob_lock(digest) -> contextlib.AbstractContextManager:
    return _advisory(BLOB, blob_key(str(digest)))


def repository_lock(repository_id: int) -> contextlib.AbstractContextManager:
    return _advisory(REPOSITORY, _signed32(repository_id))


def keep_repository(repository_id: int) -> bool:
    """Keep the repository from being deleted until the transaction ends; False if it is
    gone. On PostgreSQL a FOR KEY SHARE lock on its row: any number of transactions hold
    one at once, and a deletion (which locks the row FOR UPDATE first) waits for them. On
    SQLite the caller's write lock keeps everyone else out already."""
    table = connection.ops.quote_name(Repository._meta.db_table)
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s{lock}", [repository_id])  # noqa: S608
        return cursor.fetchone() is not None
