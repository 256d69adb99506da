"""The registry's errors, one class per code of the OCI Distribution Specification.

Pure Python: the parsing modules raise these, and `registry.views` renders them as the
spec's JSON body (`{"errors": [{"code", "message", "detail"}]}`) with the spec's status.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class RegistryError(Exception):
    code: ClassVar[str] = "UNKNOWN"
    status: ClassVar[int] = 500
    message: ClassVar[str] = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.text = message or self.message
        self.detail = detail
        self.headers = headers or {}
        if status is not None:
            self.status = status
        super().__init__(self.text)

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code, "message": self.text}
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry


class BlobUnknown(RegistryError):
    code, status, message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobUploadUnknown(RegistryError):
    code, status, message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, message = "DIGEST_INVALID", 400, "provided digest did not match uploaded content"


class ManifestBlobUnknown(RegistryError):
    code, status, message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a blob unknown to registry",
    )


class ManifestInvalid(RegistryError):
    code, status, message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestUnknown(RegistryError):
    code, status, message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, message = "SIZE_INVALID", 400, "provided length did not match content length"


class Unauthorized(RegistryError):
    code, status, message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, message = "DENIED", 403, "requested access to the resource is denied"


class RepositoryExists(RegistryError):
    """Creating a repository that exists (the REST API's create, not a /v2/ push)."""

    code, status, message = "NAME_EXISTS", 409, "a repository of that name exists"


class QuotaExceeded(Denied):
    """The namespace's storage quota would be exceeded (registry.quotas)."""

    status, message = 413, "the namespace's storage quota is exceeded"


class TooManyRequests(RegistryError):
    code, status, message = "TOOMANYREQUESTS", 429, "too many requests"


class Unavailable(RegistryError):
    # Not in the OCI list; the code the reference registry answers a moment's outage with.
    code, status, message = "UNAVAILABLE", 503, "the registry is unavailable for a moment"


class Unsupported(RegistryError):
    code, status, message = "UNSUPPORTED", 405, "the operation is unsupported"


class PaginationNumberInvalid(RegistryError):
    # Not in the OCI list; the code the reference registry (distribution) answers with.
    code, status, message = "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"


class ManifestTooLarge(ManifestInvalid):
    status, message = 413, "manifest exceeds the registry's size limit"


class RangeNotSatisfiable(RegistryError):
    """A blob `Range` outside the blob (the spec names no code; HTTP's 416 says it)."""

    code, status, message = "RANGE_NOT_SATISFIABLE", 416, "requested range not satisfiable"


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not continue where the upload stands (416, the session survives)."""

    status, message = 416, "content range does not continue the upload"


class ErrorList(RegistryError):
    """Several errors of one request in one response (e.g. each missing descriptor)."""

    def __init__(self, errors: list[RegistryError]) -> None:
        if not errors:
            raise ValueError("an ErrorList needs at least one error")
        self.errors = errors
        self.code = errors[0].code
        super().__init__(errors[0].text, status=errors[0].status)


def error_body(error: RegistryError) -> bytes:
    errors = error.errors if isinstance(error, ErrorList) else [error]
    return json.dumps({"errors": [e.as_dict() for e in errors]}).encode()
