"""Stored blobs: committing verified bytes under their digest, and reading them back.

A blob becomes visible only through `commit`, after its digest has been verified, under
the blob's lock: its record (`Blob`, with its wrapped data key) and its bytes under the
digest's key change together, and a blob stored meanwhile by another upload is kept (the
new bytes are dropped). Reading goes through the record: sealed blobs are opened chunk by
chunk with their data key, plain ones (stored before encryption was on) are read as they are.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..digests import Digest
from ..errors import NameUnknown
from ..models import Blob, PendingReference, Repository, RepositoryBlob
from . import crypto, keys, locks
from .stores import blob_store

READ_SIZE = 4 * 1024 * 1024  # plain blobs are streamed in pieces of this size


# -- sealing ------------------------------------------------------------------------------------


def new_sealing() -> tuple[crypto.Plain | crypto.Sealed, bytes | None, str]:
    """The codec for new content: sealed with a fresh data key unless encryption is off."""
    if settings.BERTH_ENCRYPTION != "on":
        return crypto.Plain(), None, ""
    data_key, key_id, wrapped = keys.key_service().new_data_key()
    return crypto.Sealed(data_key), wrapped, key_id


def codec_of(row) -> crypto.Plain | crypto.Sealed:
    """The codec of a Blob or Upload row."""
    if not row.sealed_key:
        return crypto.Plain()
    return crypto.Sealed(keys.unwrap(row.key_id, bytes(row.sealed_key)))


# -- committing ---------------------------------------------------------------------------------


def commit(
    *,
    repository: Repository,
    digest: Digest,
    size: int,
    staged,
    sealed_key: bytes | None,
    key_id: str,
) -> Blob:
    """Make verified bytes visible under `digest` and record that `repository` holds them.

    `staged` stores them under the digest's key (`staged.commit(key)`) or drops them
    (`staged.discard()`) when the blob is stored already.
    """
    key = digest.storage_key
    with locks.blob_lock(digest):
        if not locks.keep_repository(repository.pk):  # deleted meanwhile
            staged.discard()
            raise NameUnknown(detail={"name": repository.name})
        blob = Blob.objects.filter(digest=str(digest)).first()
        if blob is not None and blob_store().exists(key):
            staged.discard()  # stored and verified already: those bytes stay
        else:
            # Bytes under the key without a record are leftovers of a crash, and a record
            # without bytes lost them (a collection that could not finish): replaced.
            staged.commit(key)
            fields = {"size": size, "sealed_key": sealed_key, "key_id": key_id}
            blob, _ = Blob.objects.update_or_create(digest=str(digest), defaults=fields)
        _record_link(repository, blob)  # the repository is kept already
    return blob


def link(repository: Repository, blob: Blob) -> None:
    """Record (or renew) that `repository` holds `blob`; call under the blob's lock.

    Sparse manifests of the repository that were waiting for the blob reference it from
    now on (`PendingReference`), so that garbage collection keeps it for them. NAME_UNKNOWN
    if the repository was deleted meanwhile."""
    if not locks.keep_repository(repository.pk):
        raise NameUnknown(detail={"name": repository.name})
    _record_link(repository, blob)


def _record_link(repository: Repository, blob: Blob) -> None:
    """link() for a repository kept (locks.keep_repository) in this transaction."""
    RepositoryBlob.objects.update_or_create(
        repository=repository, blob=blob, defaults={"linked_at": timezone.now()}
    )
    waiting = PendingReference.objects.filter(
        manifest__repository=repository, digest=blob.digest, is_manifest=False
    )
    found = list(waiting.select_related("manifest"))
    for pending in found:
        pending.manifest.blobs.add(blob)
    if found:
        PendingReference.objects.filter(pk__in=[pending.pk for pending in found]).delete()


class _Bytes:
    """Small content already in memory (the OCI empty blob), sealed on commit."""

    def __init__(self, stored: bytes) -> None:
        self.stored = stored

    def commit(self, key: str) -> None:
        store = blob_store()
        if hasattr(store, "put_bytes"):
            store.put_bytes(key, self.stored)
            return
        from . import uploads

        path = uploads.new_staged_file()
        path.write_bytes(self.stored)
        store.put_file(path, key)

    def discard(self) -> None:
        pass


def store_bytes(*, repository: Repository, digest: Digest, data: bytes) -> Blob:
    """Store small, already verified content (the caller computed `digest` from `data`)."""
    codec, sealed_key, key_id = new_sealing()
    if codec.sealed:
        stored = crypto.HEADER + b"".join(
            codec.seal(i, data[o : o + crypto.CHUNK], o + crypto.CHUNK > len(data))
            for i, o in enumerate(range(0, len(data) + 1, crypto.CHUNK))
        )
    else:
        stored = data
    return commit(
        repository=repository,
        digest=digest,
        size=len(data),
        staged=_Bytes(stored),
        sealed_key=sealed_key,
        key_id=key_id,
    )


# -- reading ------------------------------------------------------------------------------------


def read(blob: Blob, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The blob's plaintext bytes [start, end] (inclusive; to the end when None)."""
    end = blob.size - 1 if end is None else end
    store = blob_store()
    key = Digest(*blob.digest.split(":", 1)).storage_key
    codec = codec_of(blob)
    if codec.sealed:
        offset = crypto.Sealed.chunk_offset(start // crypto.CHUNK)
        with _open(store, key, offset) as source:
            yield from crypto.open_range(codec, source, blob.size, start, end, label=blob.digest)
        return
    if blob.size == 0:
        return
    with _open(store, key, start, end) as source:
        remaining = end - start + 1
        while remaining > 0:
            data = source.read(min(READ_SIZE, remaining))
            if not data:
                raise OSError(f"stored blob {blob.digest} ends early")
            remaining -= len(data)
            yield data


def _open(store, key: str, offset: int, end: int | None = None):
    if store.kind == "s3":
        return _Closing(store.open(key, offset, end))
    return store.open(key, offset)


class _Closing:
    def __init__(self, body) -> None:
        self.body = body

    def __enter__(self):
        return self.body

    def __exit__(self, *exc) -> None:
        self.body.close()


def local_file(blob: Blob) -> Path | None:
    """The file holding the blob's bytes as they are (for sendfile, X-Accel-Redirect):
    only for plain blobs on local disk; sealed ones must be opened by Berth."""
    if blob.sealed_key:
        return None
    store = blob_store()
    return store.local_path(Digest(*blob.digest.split(":", 1)).storage_key)


def url(blob: Blob) -> str:
    return blob_store().url(Digest(*blob.digest.split(":", 1)).storage_key)


def verify(blob: Blob) -> bool:
    """Read the whole blob back and check it against its digest (tests, repairs)."""
    algorithm, _, encoded = blob.digest.partition(":")
    hasher = hashlib.new(algorithm)
    for data in read(blob):
        hasher.update(data)
    return hasher.hexdigest() == encoded


class _Reader(io.RawIOBase):
    """A read-only file over a blob's plaintext (for callers that want a file)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces, self._buffer = pieces, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            self._buffer = next(self._pieces, b"")
            if not self._buffer:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def open_blob(digest) -> io.BufferedReader:
    """The plaintext of a stored blob as a file; FileNotFoundError if there is none."""
    blob = Blob.objects.filter(digest=str(digest)).first()
    if blob is None:
        raise FileNotFoundError(str(digest))
    return io.BufferedReader(_Reader(read(blob)), buffer_size=READ_SIZE)
