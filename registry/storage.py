"""Blob bytes: staged on local disk while they arrive, then moved into the "blobs" storage.

The "blobs" storage alias is any Django storage (the local filesystem by default,
django-storages for S3 and friends). Keys are built from validated digests only
(`sha256/ab/abcdef…`). A blob becomes visible only after its digest has been verified:
on the local filesystem by an atomic rename of the staged file, elsewhere by the storage's
own upload (an S3 object appears only once complete).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages

from .digests import Digest

CHUNK = 1024 * 1024


def blob_storage():
    return storages["blobs"]


def staging_dir() -> Path:
    path = Path(settings.BERTH_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_path(upload_id) -> Path:
    return staging_dir() / str(upload_id)


def new_staged_file() -> Path:
    fd, name = tempfile.mkstemp(prefix="mono-", dir=staging_dir())
    os.close(fd)
    return Path(name)


def write_chunks(fd: int, chunks: Iterable[bytes], hasher=None) -> int:
    """Write every chunk to `fd` (hashing it on the way); return the number of bytes."""
    written = 0
    for chunk in chunks:
        if hasher is not None:
            hasher.update(chunk)
        view = memoryview(chunk)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        written += len(chunk)
    return written


def hash_file(path: Path, hasher, *, length: int | None = None):
    """Feed the first `length` bytes of `path` (all when None) to `hasher`."""
    with open(path, "rb", buffering=0) as handle:
        remaining = length
        while remaining is None or remaining > 0:
            chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not chunk:
                break
            hasher.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return hasher


def exists(digest: Digest) -> bool:
    return blob_storage().exists(digest.storage_key)


def promote(staged: Path, digest: Digest) -> None:
    """Move a verified staged file into place under its digest (idempotent)."""
    storage = blob_storage()
    key = digest.storage_key
    if isinstance(storage, FileSystemStorage):
        target = Path(storage.path(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # stored already: the bytes there were verified when they came
            discard(staged)
            return
        if storage.file_permissions_mode is not None:
            os.chmod(staged, storage.file_permissions_mode)
        try:
            os.replace(staged, target)  # atomic: readers see the old name or the whole file
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another filesystem: copy under a temporary name there, then rename.
            with (
                open(staged, "rb") as source,
                tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as copy,
            ):
                while chunk := source.read(CHUNK):
                    copy.write(chunk)
            os.replace(copy.name, target)
            discard(staged)
        return
    if not storage.exists(key):
        with open(staged, "rb") as handle:
            storage.save(key, File(handle))
    discard(staged)


def store_bytes(data: bytes, digest: Digest) -> None:
    staged = new_staged_file()
    staged.write_bytes(data)
    promote(staged, digest)


def open_blob(digest: Digest):
    return blob_storage().open(digest.storage_key, "rb")


def blob_url(digest: Digest) -> str:
    return blob_storage().url(digest.storage_key)


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
