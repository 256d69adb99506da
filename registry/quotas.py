"""Storage limits: the largest blob, and the bytes each namespace may hold.

A namespace's usage is the size of every distinct blob its repositories hold (a blob shared
by two of its repositories counts once) plus the bytes staged in its unfinished uploads.
It is computed from the rows themselves, never kept as a running total, so it is exact
after any delete: removing a blob from a repository, or the repository, frees its bytes at
once. (Deleting a manifest leaves its blobs in the repository, as the spec has it; they
count until they are deleted or garbage-collected.) Top-level repositories belong to no
namespace and have no quota.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Sum

from .access import namespaces
from .errors import QuotaExceeded, SizeInvalid
from .models import Blob, Namespace, Repository, RepositoryBlob, Upload


def namespace_usage(namespace: str) -> int:
    """Bytes held by the namespace: distinct blobs of its repositories and staged uploads."""
    held = RepositoryBlob.objects.filter(repository__namespace=namespace).values("blob_id")
    blobs = Blob.objects.filter(pk__in=held).aggregate(total=Sum("size"))["total"] or 0
    staged = (
        Upload.objects.filter(repository__namespace=namespace).aggregate(total=Sum("offset"))[
            "total"
        ]
        or 0
    )
    return blobs + staged


def quota_for(repository: Repository) -> int:
    """The namespace quota that applies to `repository` (0: none)."""
    if not repository.namespace:
        return 0
    record = Namespace.objects.filter(name=repository.namespace).first()
    return namespaces.quota_of(record) if record else settings.BERTH_NAMESPACE_QUOTA_BYTES


def _exceeded(repository: Repository, quota: int, used: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"storage quota exceeded: namespace {repository.namespace!r} may hold {quota} bytes "
        f"and holds {used}; delete tags, images or repositories to free space",
        detail={"namespace": repository.namespace, "quota": quota, "used": used},
    )


def upload_allowance(repository: Repository, *, offset: int = 0) -> tuple[int | None, type]:
    """How many more bytes an upload already `offset` bytes long may receive (None: no
    limit), and the error to raise past it: SizeInvalid for the blob limit, QuotaExceeded
    for the namespace's quota. Raises QuotaExceeded when the namespace is already full."""
    limits = []
    if settings.BERTH_BLOB_MAX_BYTES:
        limits.append((max(settings.BERTH_BLOB_MAX_BYTES - offset, 0), SizeInvalid))
    quota = quota_for(repository)
    if quota:
        used = namespace_usage(repository.namespace)  # includes this upload's staged bytes
        if used >= quota:
            raise _exceeded(repository, quota, used)
        limits.append((quota - used, QuotaExceeded))
    if not limits:
        return None, SizeInvalid
    return min(limits, key=lambda item: item[0])


def check_addition(repository: Repository, size: int) -> None:
    """Refuse adding a blob of `size` bytes the namespace does not hold yet (a mount)."""
    quota = quota_for(repository)
    if not quota:
        return
    used = namespace_usage(repository.namespace)
    if used + size > quota:
        raise _exceeded(repository, quota, used)
