"""The one client Berth uses to speak to other registries: the pull-through cache's
upstreams and replication's destinations. See README.md in this folder.

    from registry import upstream
    registry = upstream.Registry("https://registry-1.docker.io")
    registry.get_manifest("library/alpine", "3.20")
"""

from .client import BlobDownload, Fetched, ManifestInfo, Registry, RetryPolicy
from .errors import (
    AuthFailed,
    BadResponse,
    DigestMismatch,
    NotFound,
    Refused,
    ServerError,
    Throttled,
    Unreachable,
    UpstreamError,
)

__all__ = [
    "AuthFailed",
    "BadResponse",
    "BlobDownload",
    "DigestMismatch",
    "Fetched",
    "ManifestInfo",
    "NotFound",
    "Refused",
    "Registry",
    "RetryPolicy",
    "ServerError",
    "Throttled",
    "Unreachable",
    "UpstreamError",
]
