"""Blob uploads: bytes streamed in, hashed and sealed as they arrive, never whole in memory.

Two shapes (the spec's):

- **monolithic** (`write_blob`): the whole blob in one request whose digest is known (POST
  `?digest=`, or a PUT carrying every byte of a fresh session, as oras and helm send).
  Staged straight towards its final place: a temporary file in the staging directory
  renamed into place, or an S3 multipart upload to the final key completed only after
  the digest matched.
- **session** (`append`, `finish`): chunks in PATCH requests that may land on any web
  process. Staged bytes: whole sealed chunks in the staging file (local disk) or in the
  session's S3 multipart upload plus one pending object (under `_uploads/<session>/`,
  at most a part's worth), and the last, partial chunk sealed in the session's record
  (`Upload.tail`). The record says how far the upload got; anything staged past it is
  from a request that died and is dropped. One request at a time holds the session
  (`Upload.holder`, a lease renewed while it streams, taken over once it expires).

Either way the digest is verified before `blobs.commit` makes the blob visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import secrets
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..digests import Digest
from ..errors import BlobUploadUnknown, DigestInvalid, RangeInvalid
from ..models import Blob, Repository, Upload
from . import blobs, crypto
from .stores import UPLOADS_PREFIX, ObjectStore, blob_store, staging_dir

RENEW_FRACTION = 3  # a lease is renewed when a third of it has passed


# -- sealing as bytes stream in -----------------------------------------------------------------


class Sealer:
    """Plaintext in; stored bytes out to `sink`: whole chunks sealed as they fill.

    The last, partial chunk stays `pending` (plaintext) until `final_chunk()` seals it.
    Bytes handed to `sink` are valid only during the call.
    """

    def __init__(self, codec, sink, *, index: int = 0, pending: bytes = b"") -> None:
        self.codec, self.sink, self.index = codec, sink, index
        self.pending = bytearray(pending)
        self.sealed = codec.sealed
        self._out = bytearray()

    def write(self, data) -> None:
        if not self.sealed:
            self.sink(data)
            return
        view = memoryview(data)
        if self.pending:
            take = crypto.CHUNK - len(self.pending)
            self.pending += view[:take]
            view = view[take:]
            if len(self.pending) < crypto.CHUNK:
                return
            self.sink(self.codec.seal(self.index, self.pending, False))
            self.index += 1
            self.pending.clear()
        whole = len(view) // crypto.CHUNK
        if whole:
            size = whole * crypto.SEALED_CHUNK
            if len(self._out) < size:
                self._out = bytearray(size)
            out = memoryview(self._out)
            for n in range(whole):
                self.codec.seal_into(
                    self.index,
                    view[n * crypto.CHUNK : (n + 1) * crypto.CHUNK],
                    False,
                    out[n * crypto.SEALED_CHUNK : (n + 1) * crypto.SEALED_CHUNK],
                )
                self.index += 1
            self.sink(out[:size])
        if len(view) % crypto.CHUNK:
            self.pending += view[whole * crypto.CHUNK :]

    def final_chunk(self) -> bytes:
        """The pending bytes sealed as the last chunk (b"" for plain content)."""
        if not self.sealed:
            return b""
        return self.codec.seal(self.index, self.pending, True)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# Threads that write uploads behind the requests (one per upload at a time; kept, so that
# their memory arenas are reused rather than made anew for each upload).
_writers = ThreadPoolExecutor(max_workers=32, thread_name_prefix="berth-upload-writer")


class _Behind:
    """A sink that writes in a thread of its own, behind the request's thread: hashing and
    sealing (here) overlap writing (there), each releasing the GIL. At most DEPTH pieces
    wait, so memory stays bounded; `close()` waits for the writes and raises their error."""

    DEPTH = 2
    BATCH = 256 * 1024

    def __init__(self, write) -> None:
        self._write = write
        self._gathered = bytearray()
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._error: BaseException | None = None
        self._done = _writers.submit(self._run)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(data)
                except BaseException as exc:  # handed to the request's thread by close()
                    self._error = exc

    def __call__(self, data) -> None:
        if self._error is not None:
            self.close()
        # Gathered into pieces of about BATCH bytes: few hand-overs between the threads.
        self._gathered += data  # a copy: the caller reuses its buffer
        if len(self._gathered) >= self.BATCH:
            self._queue.put(self._gathered)
            self._gathered = bytearray()

    def close(self) -> None:
        if not self._done.done():
            if self._gathered:
                self._queue.put(self._gathered)
                self._gathered = bytearray()
            self._queue.put(None)
            self._done.result()
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def _writing_behind(fd: int):
    behind = _Behind(lambda data: _write_all(fd, data))
    try:
        yield behind
    except BaseException:
        with contextlib.suppress(BaseException):
            behind.close()
        raise
    behind.close()


class _Feed:
    """Stream `chunks` through a hasher into a sealer, renewing a lease on the way."""

    def __init__(self, hasher=None, lease=None) -> None:
        self.hasher, self.lease, self.received = hasher, lease, 0

    def run(self, chunks: Iterable, sealer: Sealer) -> int:
        update = self.hasher.update if self.hasher is not None else None
        every = settings.BERTH_UPLOAD_LEASE_SECONDS / RENEW_FRACTION
        renew_at = time.monotonic() + every
        for chunk in chunks:
            # Renewed before writing: a request that stalled past its lease, and lost the
            # session to another, stops here instead of writing into it.
            if self.lease is not None and time.monotonic() > renew_at:
                self.lease.renew()
                renew_at = time.monotonic() + every
            if update is not None:
                update(chunk)
            sealer.write(chunk)
            self.received += len(chunk)
        return self.received


# -- staged bytes, ready to commit --------------------------------------------------------------


class _StagedFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, key: str) -> None:
        blob_store().put_file(self.path, key)

    def discard(self) -> None:
        discard(self.path)


class _StagedObject:
    """Bytes in an S3 object or a multipart upload, verified, not yet under the digest."""

    def __init__(self, store: ObjectStore, key: str, *, upload_id="", parts=(), data=None):
        self.store, self.key = store, key
        self.upload_id, self.parts, self.data = upload_id, list(parts), data

    def commit(self, key: str) -> None:
        if self.data is not None:  # small: one PUT
            self.store.put_bytes(key, self.data)
        elif self.key == key:  # a multipart upload to the final key: completing shows it
            self.store.complete_multipart(key, self.upload_id, self.parts)
        else:
            self.store.copy(self.key, key)
            self.store.delete(self.key)

    def discard(self) -> None:
        if self.data is not None:
            return
        if self.key.startswith(UPLOADS_PREFIX):
            self.store.delete(self.key)
        else:
            self.store.abort_multipart(self.key, self.upload_id)


class _Parts:
    """A sink that gathers stored bytes into S3 parts of PART_SIZE, uploaded as they fill."""

    def __init__(self, store: ObjectStore, key: str, state: dict | None = None) -> None:
        state = state or {}
        self.store, self.key = store, key
        self.upload_id = state.get("mpu", "")
        self.parts = [tuple(part) for part in state.get("parts", [])]
        self.buffer = bytearray()

    def write(self, data) -> None:
        self.buffer += data
        if len(self.buffer) >= self.store.PART_SIZE:
            self._upload(self.store.PART_SIZE)

    def _upload(self, size: int) -> None:
        if not self.upload_id:
            self.upload_id = self.store.start_multipart(self.key)
        number = len(self.parts) + 1
        etag = self.store.upload_part(
            self.key, self.upload_id, number, bytes(memoryview(self.buffer)[:size])
        )
        self.parts.append((number, etag))
        del self.buffer[:size]

    def finish(self, *, complete: bool) -> _StagedObject:
        """Everything written: the last part uploaded (or all of it kept for one PUT), and
        with `complete` the multipart upload completed (a staging key: readable, not
        visible under any digest)."""
        if not self.upload_id:
            return _StagedObject(self.store, self.key, data=bytes(self.buffer))
        if self.buffer:
            self._upload(len(self.buffer))
        if complete:
            self.store.complete_multipart(self.key, self.upload_id, self.parts)
            return _StagedObject(self.store, self.key)
        return _StagedObject(self.store, self.key, upload_id=self.upload_id, parts=self.parts)

    def abort(self) -> None:
        if self.upload_id:
            self.store.abort_multipart(self.key, self.upload_id)


# -- monolithic uploads -------------------------------------------------------------------------


@dataclass
class Staged:
    """Verified bytes, staged, ready for `blobs.commit` (or `discard()`)."""

    place: _StagedFile | _StagedObject
    size: int
    sealed_key: bytes | None
    key_id: str

    def discard(self) -> None:
        self.place.discard()


def stage(*, digest: Digest, chunks: Iterable, lease=None) -> Staged:
    """A whole blob in one stream, hashed, sealed and staged; DigestInvalid (and nothing
    left behind) unless it matches `digest`. Nothing is visible until committed."""
    codec, sealed_key, key_id = blobs.new_sealing()
    store = blob_store()
    feed = _Feed(digest.hasher(), lease)
    if isinstance(store, ObjectStore):
        parts = _Parts(store, digest.storage_key)  # invisible until completed
        try:
            parts.write(codec.header)
            sealer = Sealer(codec, parts.write)
            size = feed.run(chunks, sealer)
            parts.write(sealer.final_chunk())
            _check(feed.hasher, digest)
            place = parts.finish(complete=False)
        except BaseException:
            parts.abort()
            raise
    else:
        path = new_staged_file()
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                _write_all(fd, codec.header)
                with _writing_behind(fd) as sink:
                    sealer = Sealer(codec, sink)
                    size = feed.run(chunks, sealer)
                _write_all(fd, sealer.final_chunk())
            finally:
                os.close(fd)
            _check(feed.hasher, digest)
        except BaseException:
            discard(path)
            raise
        place = _StagedFile(path)
    return Staged(place, size, sealed_key, key_id)


def commit_staged(*, repository: Repository, digest: Digest, staged: Staged) -> Blob:
    """Make staged, verified bytes visible under `digest` (blobs.commit); discarded if that
    fails."""
    try:
        return blobs.commit(
            repository=repository,
            digest=digest,
            size=staged.size,
            staged=staged.place,
            sealed_key=staged.sealed_key,
            key_id=staged.key_id,
        )
    except BaseException:
        staged.discard()
        raise


def write_blob(*, repository: Repository, digest: Digest, chunks: Iterable, lease=None) -> Blob:
    """A whole blob in one stream, verified against `digest` before it is committed."""
    staged = stage(digest=digest, chunks=chunks, lease=lease)
    return commit_staged(repository=repository, digest=digest, staged=staged)


class Stager:
    """`stage()` fed piece by piece from the caller's thread: the hashing, sealing and
    writing run in a thread of their own (they release the GIL), so that a caller passing
    bytes on (the pull-through cache, streaming to its client) is not slowed by them.

    `write(data)` hands a piece over (at most DEPTH wait); `finish()` waits for the stage
    and returns it (DigestInvalid if the bytes do not match); `abort()` drops everything.
    No database work happens in the thread: the caller commits.
    """

    DEPTH = 8
    _END, _ABORT = object(), object()

    class Aborted(Exception):
        pass

    def __init__(self, digest: Digest) -> None:
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._done = _stagers.submit(stage, digest=digest, chunks=self._pieces())

    def _pieces(self):
        while True:
            data = self._queue.get()
            if data is self._END:
                return
            if data is self._ABORT:
                raise self.Aborted()
            yield data

    def _put(self, item) -> None:
        while True:
            if self._done.done():
                self._done.result()  # the stage failed: raise its error here
                raise self.Aborted()
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def write(self, data: bytes) -> None:
        self._put(data)

    def finish(self) -> Staged:
        self._put(self._END)
        return self._done.result()

    def abort(self) -> None:
        if self._done.done():
            with contextlib.suppress(BaseException):
                self._done.result().discard()
            return
        with contextlib.suppress(BaseException):
            self._put(self._ABORT)
        with contextlib.suppress(BaseException):
            self._done.result().discard()


_stagers = ThreadPoolExecutor(max_workers=32, thread_name_prefix="berth-stager")


def _check(hasher, digest: Digest) -> None:
    if hasher.hexdigest() != digest.encoded:
        raise DigestInvalid(detail={"digest": str(digest)})


def new_staged_file() -> Path:
    fd, name = tempfile.mkstemp(prefix="mono-", dir=staging_dir())
    os.close(fd)
    return Path(name)


# -- sessions -----------------------------------------------------------------------------------


def start(*, repository: Repository, user_id: int | None) -> Upload:
    _, sealed_key, key_id = blobs.new_sealing()
    upload = Upload.objects.create(
        repository=repository, user_id=user_id, sealed_key=sealed_key, key_id=key_id
    )
    if blob_store().stages_locally:
        fd = os.open(session_path(upload.id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, blobs.codec_of(upload).header)
        finally:
            os.close(fd)
    return upload


def session_path(upload_id) -> Path:
    return staging_dir() / str(upload_id)


def upload_range(upload: Upload) -> str:
    """The Range header of an upload: the inclusive byte range received so far."""
    return f"0-{max(upload.offset - 1, 0)}"


class Lease:
    """The one request working on an upload session, whichever process it runs in."""

    def __init__(self, upload: Upload) -> None:
        self.upload, self.token = upload, secrets.token_hex(8)

    def _until(self):
        return timezone.now() + timedelta(seconds=settings.BERTH_UPLOAD_LEASE_SECONDS)

    def take(self) -> None:
        now = timezone.now()
        taken = (
            Upload.objects.filter(pk=self.upload.pk)
            .filter(Q(holder="") | Q(held_until__lt=now))
            .update(holder=self.token, held_until=self._until())
        )
        if not taken:
            if not Upload.objects.filter(pk=self.upload.pk).exists():
                raise BlobUploadUnknown()
            raise RangeInvalid(
                "another request for this upload is still in progress",
                headers={"Range": upload_range(self.upload)},
            )
        try:
            self.upload.refresh_from_db(
                fields=["offset", "sha256", "tail", "staging", "sealed_key", "key_id"]
            )
        except Upload.DoesNotExist:
            raise BlobUploadUnknown() from None

    def renew(self) -> None:
        if not self.mine().update(held_until=self._until()):
            raise BlobUploadUnknown("the upload was cancelled or taken over meanwhile")

    def mine(self):
        return Upload.objects.filter(pk=self.upload.pk, holder=self.token)

    def release(self) -> None:
        self.mine().update(holder="", held_until=None)


@contextlib.contextmanager
def held(upload: Upload):
    lease = Lease(upload)
    lease.take()
    try:
        yield lease
    finally:
        lease.release()


def _pending_plaintext(upload: Upload, codec) -> bytes:
    """The plaintext of the session's last, partial chunk (sealed in its record)."""
    if not codec.sealed:
        return b""
    tail = bytes(upload.tail)
    if not tail:  # nothing received yet
        return b""
    return codec.open(upload.offset // crypto.CHUNK, tail, True)


def _stored_prefix(upload: Upload, codec) -> int:
    """Stored bytes before the pending chunk: header and whole chunks (or all, if plain)."""
    if not codec.sealed:
        return upload.offset
    return len(crypto.HEADER) + (upload.offset // crypto.CHUNK) * crypto.SEALED_CHUNK


def _save(lease: Lease, upload: Upload, **fields) -> None:
    if not lease.mine().update(updated_at=timezone.now(), **fields):
        raise BlobUploadUnknown()  # cancelled meanwhile


def append(*, upload: Upload, chunks: Iterable, start: int | None = None) -> Upload:
    """Append a chunk. `start` is where the client says it begins (from Content-Range)."""
    with held(upload) as lease:
        _append(lease, upload, chunks, start, last=False)
    return upload


def _append(lease: Lease, upload: Upload, chunks, start, *, last: bool):
    """Stream `chunks` into the session. When `last`, return the staged bytes (everything,
    the final chunk included) and their sha256 if known, instead of keeping a pending
    chunk for later."""
    if start is not None and start != upload.offset:
        raise RangeInvalid(headers={"Range": upload_range(upload)})
    codec = blobs.codec_of(upload)
    pending = _pending_plaintext(upload, codec)
    feed = _Feed(hashlib.sha256() if upload.offset == 0 else None, lease)
    store = blob_store()
    index = upload.offset // crypto.CHUNK
    if isinstance(store, ObjectStore):
        state = dict(upload.staging)
        parts = _Parts(store, state.get("key") or f"{UPLOADS_PREFIX}{upload.id}/data", state)
        if state.get("pending"):
            parts.buffer += store.read(state["pending"])
        elif upload.offset == 0 and not parts.parts:
            parts.buffer += codec.header
        sealer = Sealer(codec, parts.write, index=index, pending=pending)
        feed.run(chunks, sealer)
        final = sealer.final_chunk()
        offset = upload.offset + feed.received
        if last:
            parts.write(final)
            staged = parts.finish(complete=True)
            _save(lease, upload, offset=offset, tail=b"", staging={"key": parts.key})
            upload.offset, upload.staging = offset, {"key": parts.key}
            return staged, _known_sha256(upload, feed)
        new_pending = ""
        if parts.buffer:
            new_pending = f"{UPLOADS_PREFIX}{upload.id}/pending-{secrets.token_hex(6)}"
            store.put_bytes(new_pending, bytes(parts.buffer))
        new_state = {
            "key": parts.key,
            "mpu": parts.upload_id,
            "parts": parts.parts,
            "pending": new_pending,
        }
    else:
        path = session_path(upload.id)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            raise BlobUploadUnknown() from None
        try:
            prefix = _stored_prefix(upload, codec)
            # Bytes past the recorded state are from a request that died half-way: drop
            # them. (Only then: truncating a file makes ext4 flush it on close.)
            if os.fstat(fd).st_size != prefix:
                os.ftruncate(fd, prefix)
            os.lseek(fd, prefix, os.SEEK_SET)
            with _writing_behind(fd) as sink:
                sealer = Sealer(codec, sink, index=index, pending=pending)
                feed.run(chunks, sealer)
            final = sealer.final_chunk()
            if last:
                _write_all(fd, final)
        finally:
            os.close(fd)
        offset = upload.offset + feed.received
        if last:
            _save(lease, upload, offset=offset, tail=b"")
            upload.offset = offset
            return _StagedFile(path), _known_sha256(upload, feed)
        new_state = {}
    sha256 = feed.hasher.hexdigest() if feed.hasher is not None else ""
    previous_pending = upload.staging.get("pending") if upload.staging else ""
    _save(lease, upload, offset=offset, sha256=sha256, tail=final, staging=new_state)
    if previous_pending:
        store.delete(previous_pending)
    upload.offset, upload.sha256, upload.tail, upload.staging = offset, sha256, final, new_state
    return None


def _known_sha256(upload: Upload, feed: _Feed) -> str:
    """The sha256 of everything staged, when it came in one stream (else "")."""
    if feed.hasher is not None:
        return feed.hasher.hexdigest()
    return upload.sha256 if feed.received == 0 else ""


def finish(
    *, upload: Upload, digest: Digest, chunks: Iterable = (), start: int | None = None
) -> Blob:
    """Append the last chunk (if any), verify the digest and commit the blob."""
    with held(upload) as lease:
        if upload.offset == 0 and not upload.staging and start in (None, 0):
            # The whole blob in this one request (oras, helm): the monolithic path.
            blob = write_blob(
                repository=upload.repository, digest=digest, chunks=chunks, lease=lease
            )
            _forget(upload)
            return blob
        staged, sha256 = _append(lease, upload, chunks, start, last=True)
        codec = blobs.codec_of(upload)
        try:
            if digest.algorithm == "sha256" and sha256:
                actual = sha256
            else:  # chunks from several requests: read the staged bytes back
                actual = _hash_staged(staged, codec, upload.offset, digest)
        except BaseException:
            staged.discard()
            raise
        if actual != digest.encoded:
            staged.discard()
            _forget(upload)
            raise DigestInvalid(detail={"digest": str(digest)})
        blob = blobs.commit(
            repository=upload.repository,
            digest=digest,
            size=upload.offset,
            staged=staged,
            sealed_key=bytes(upload.sealed_key) if upload.sealed_key else None,
            key_id=upload.key_id,
        )
        _forget(upload)
    return blob


def _hash_staged(staged, codec, size: int, digest: Digest) -> str:
    hasher = digest.hasher()
    if isinstance(staged, _StagedFile):
        source = open(staged.path, "rb")  # noqa: SIM115 (closed below)
    elif staged.data is not None:
        source = io.BytesIO(staged.data)
    else:
        source = staged.store.open(staged.key)
    with contextlib.closing(source):
        if codec.sealed:
            source.read(len(crypto.HEADER))
            for data in crypto.open_range(codec, source, size, 0, max(size - 1, 0)):
                hasher.update(data)
        else:
            while data := source.read(blobs.READ_SIZE):
                hasher.update(data)
    return hasher.hexdigest()


def _forget(upload: Upload) -> None:
    """The session is over (its bytes committed or refused): remove its record and leftovers."""
    Upload.objects.filter(pk=upload.pk).delete()
    _discard_staging(upload.id, upload.staging)


def _discard_staging(upload_id, staging: dict | None) -> None:
    store = blob_store()
    if isinstance(store, ObjectStore):
        if staging and staging.get("mpu"):
            store.abort_multipart(staging["key"], staging["mpu"])
        store.delete_prefix(f"{UPLOADS_PREFIX}{upload_id}/")
    else:
        discard(session_path(upload_id))


def cancel(*, upload: Upload) -> None:
    upload.refresh_from_db(fields=["staging"])
    _forget(upload)


def purge_expired() -> int:
    """Delete sessions idle for longer than BERTH_UPLOAD_TTL with their staged bytes, and
    whatever crashed requests left behind."""
    cutoff = timezone.now() - timedelta(seconds=settings.BERTH_UPLOAD_TTL)
    expired = list(Upload.objects.filter(updated_at__lt=cutoff).values_list("id", "staging"))
    for upload_id, staging in expired:
        _discard_staging(upload_id, staging)
    Upload.objects.filter(id__in=[upload_id for upload_id, _ in expired]).delete()
    # Provisional repositories whose uploads are all gone: the push never finished.
    Repository.objects.filter(is_provisional=True, created_at__lt=cutoff).exclude(
        pk__in=Upload.objects.values("repository_id")
    ).delete()
    horizon = time.time() - settings.BERTH_UPLOAD_TTL
    store = blob_store()
    if isinstance(store, ObjectStore):
        _purge_object_store(store, horizon)
    # Monolithic uploads stage under "mono-*"; a crash can leave one behind.
    for path in staging_dir().glob("mono-*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < horizon:
                discard(path)
    return len(expired)


def _purge_object_store(store: ObjectStore, horizon: float) -> None:
    """Staged objects of sessions that no longer exist, and multipart uploads that a
    crashed request never completed nor aborted."""
    live = {str(upload_id) for upload_id in Upload.objects.values_list("id", flat=True)}
    for key, _, modified in store.listing(UPLOADS_PREFIX):
        session = key[len(UPLOADS_PREFIX) :].split("/", 1)[0]
        if session not in live and modified < horizon:
            store.delete(key)
    location = store.name("")
    location = location.rstrip("/") + "/" if location else ""
    paginator = store.client.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=store.bucket, Prefix=location):
        for item in page.get("Uploads", []):
            if item["Initiated"].timestamp() < horizon:
                store.abort_multipart(item["Key"][len(location) :], item["UploadId"])


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
