"""Content digests (`algorithm:encoded`), as in the OCI image spec's descriptor section.

Pure: no Django. sha256 and sha512 are the registered algorithms Berth accepts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import DigestInvalid

ALGORITHMS = {"sha256": 64, "sha512": 128}
_ENCODED = re.compile(r"[a-f0-9]+")
# The spec's general grammar; used to tell "not a digest" (a tag) from "a bad digest".
_GENERAL = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @property
    def storage_key(self) -> str:
        """Content-addressed key: `sha256/ab/abcdef…`. Built only from a validated digest."""
        return f"{self.algorithm}/{self.encoded[:2]}/{self.encoded}"

    def hasher(self):
        return hashlib.new(self.algorithm)


def parse(value: str) -> Digest:
    """Parse and validate a digest, raising DigestInvalid for anything Berth cannot verify."""
    algorithm, sep, encoded = value.partition(":")
    if not sep:
        raise DigestInvalid("invalid digest", detail={"digest": value[:200]})
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise DigestInvalid(
            f"unsupported digest algorithm (use one of {', '.join(ALGORITHMS)})",
            detail={"digest": value[:200]},
        )
    if len(encoded) != length or not _ENCODED.fullmatch(encoded):
        raise DigestInvalid("invalid digest", detail={"digest": value[:200]})
    return Digest(algorithm, encoded)


def looks_like_digest(value: str) -> bool:
    """True when `value` has a digest's shape (so a manifest reference is not a tag)."""
    return ":" in value and _GENERAL.fullmatch(value) is not None


def compute(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


EMPTY_JSON = compute(b"{}")  # the OCI empty descriptor's blob (application/vnd.oci.empty.v1+json)
