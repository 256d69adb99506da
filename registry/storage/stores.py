"""Where stored bytes live: the "blobs" storage alias, seen through one small interface.

- `FileStore`: Django's FileSystemStorage (the embedded default): files, atomic renames,
  sendfile and X-Accel-Redirect.
- `ObjectStore`: django-storages' S3Storage, on any S3-compatible store: ranged GETs,
  multipart uploads, server-side copies, pre-signed URLs. Its client and bucket come from
  the storage's own configuration (BERTH_S3_* or BERTH_BLOB_STORAGE_OPTIONS).
- `GenericStore`: any other Django storage (open/save/delete/url), staged on local disk.

Keys are the blobs' storage keys (`sha256/ab/abcdef…`) and, for uploads in progress on an
object store, `_uploads/<session>/…`; never anything a client chose.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages

READ_SIZE = 1024 * 1024
UPLOADS_PREFIX = "_uploads/"


class FileStore:
    kind = "file"
    stages_locally = True

    def __init__(self, storage: FileSystemStorage) -> None:
        self.storage = storage

    def path(self, key: str) -> Path:
        return Path(self.storage.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def open(self, key: str, offset: int = 0):
        handle = open(self.path(key), "rb")  # noqa: SIM115 (the caller closes it)
        if offset:
            handle.seek(offset)
        return handle

    def local_path(self, key: str) -> Path:
        return self.path(key)

    def url(self, key: str) -> str:
        return self.storage.url(key)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def put_file(self, staged: Path, key: str) -> None:
        """Move a staged file into place: atomic, readers see nothing or all of it."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.storage.file_permissions_mode is not None:
            os.chmod(staged, self.storage.file_permissions_mode)
        try:
            os.replace(staged, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another filesystem: copy under a temporary name there, then rename.
            with (
                open(staged, "rb") as source,
                tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as copy,
            ):
                while chunk := source.read(READ_SIZE):
                    copy.write(chunk)
            os.replace(copy.name, target)
            os.unlink(staged)

    def listing(self) -> Iterator[tuple[str, int, float]]:
        """(key, stored size, modification time) of every stored blob."""
        root = Path(self.storage.location)
        for algorithm in ("sha256", "sha512"):
            for path in (root / algorithm).glob("*/*"):
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    yield f"{algorithm}/{path.parent.name}/{path.name}", stat.st_size, stat.st_mtime

    def check(self) -> None:
        location = Path(self.storage.location)
        location.mkdir(parents=True, exist_ok=True)
        if not os.access(location, os.W_OK):
            raise OSError(f"{location} is not writable")


class GenericStore(FileStore):
    """Any other Django storage: staged on local disk, saved whole once verified."""

    kind = "generic"

    def exists(self, key: str) -> bool:
        return self.storage.exists(key)

    def open(self, key: str, offset: int = 0):
        handle = self.storage.open(key, "rb")
        if offset:
            handle.seek(offset)
        return handle

    def local_path(self, key: str) -> None:
        return None

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    def put_file(self, staged: Path, key: str) -> None:
        with contextlib.suppress(Exception):
            self.storage.delete(key)  # a leftover without a record: replace it
        with open(staged, "rb") as handle:
            self.storage.save(key, File(handle))
        os.unlink(staged)

    def listing(self) -> Iterator[tuple[str, int, float]]:
        return iter(())

    def check(self) -> None:
        self.storage.exists("sha256")


class ObjectStore:
    kind = "s3"
    stages_locally = False
    # S3 refuses parts under 5 MiB (except the last); 8 MiB parts allow 80 GB per blob.
    PART_SIZE = 8 * 1024 * 1024

    def __init__(self, storage) -> None:
        self.storage = storage

    @property
    def client(self):
        return self.storage.connection.meta.client

    @property
    def bucket(self) -> str:
        return self.storage.bucket_name

    def name(self, key: str) -> str:
        """The object's name in the bucket (the storage's `location` prefix applied)."""
        return self.storage._normalize_name(key)

    def write_args(self) -> dict:
        """Parameters of every object Berth writes (server-side encryption, if chosen)."""
        args = dict(getattr(self.storage, "object_parameters", {}) or {})
        if settings.BERTH_ENCRYPTION == "sse-kms":
            args["ServerSideEncryption"] = "aws:kms"
            if settings.BERTH_SSE_KMS_KEY_ID:
                args["SSEKMSKeyId"] = settings.BERTH_SSE_KMS_KEY_ID
        return args

    # -- reading -----------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def open(self, key: str, offset: int = 0, end: int | None = None):
        """A file-like reader of the object from `offset` (to `end`, inclusive)."""
        span = f"bytes={offset}-{'' if end is None else end}"
        answer = self.client.get_object(Bucket=self.bucket, Key=self.name(key), Range=span)
        return answer["Body"]

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.name(key))["Body"].read()

    def local_path(self, key: str) -> None:
        return None

    def url(self, key: str) -> str:
        return self.storage.url(key, expire=settings.BERTH_REDIRECT_SECONDS)

    # -- writing -----------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.name(key), Body=data, **self.write_args()
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def delete_prefix(self, prefix: str) -> None:
        for key, _, _ in self.listing(prefix):
            self.delete(key)

    def copy(self, source: str, target: str) -> None:
        """A server-side copy (multipart copy above 5 GiB, as S3 requires)."""
        self.client.copy(
            {"Bucket": self.bucket, "Key": self.name(source)},
            self.bucket,
            self.name(target),
            ExtraArgs=self.write_args() or None,
        )

    def start_multipart(self, key: str) -> str:
        answer = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.name(key), **self.write_args()
        )
        return answer["UploadId"]

    def upload_part(self, key: str, upload_id: str, number: int, data) -> str:
        answer = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.name(key),
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return answer["ETag"]

    def complete_multipart(self, key: str, upload_id: str, parts: list) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.name(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):  # already completed or aborted
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.name(key), UploadId=upload_id
            )

    def listing(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        """(key, stored size, modification time) of the objects under `prefix`."""
        location = self.name("")
        location = location.rstrip("/") + "/" if location else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=location + prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(location) :]
                yield key, item["Size"], item["LastModified"].timestamp()

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def _is_s3(storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # boto3 not installed: not S3 then
        return False
    return isinstance(storage, S3Storage)


_current: list = [None, None]  # [storage, its store]


def blob_store() -> FileStore | ObjectStore:
    """The store behind the "blobs" alias (follows settings changes, as tests make them)."""
    storage = storages["blobs"]
    if _current[0] is not storage:
        if isinstance(storage, FileSystemStorage):
            store = FileStore(storage)
        elif _is_s3(storage):
            store = ObjectStore(storage)
        else:
            store = GenericStore(storage)
        _current[:] = [storage, store]
    return _current[1]


def staging_dir() -> Path:
    path = Path(settings.BERTH_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path
