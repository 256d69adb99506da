"""Manifest parsing: bytes in, frozen dataclasses out. Pure: no Django, no storage.

Covers the OCI image manifest and index (image-spec v1.1, with `artifactType` and
`subject`) and Docker's image manifest v2 schema 2 and manifest list. Schema 1 is refused,
as the reference registry refuses it by default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import digests, mediatypes
from .digests import Digest
from .errors import DigestInvalid, ManifestInvalid

MAX_SIZE = 2**63 - 1  # descriptor sizes are int64 in the image spec
# RFC 6838 media type grammar, as the image spec asks of descriptors.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


@dataclass(frozen=True, slots=True)
class Platform:
    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str = ""
    platform: Platform | None = None

    @property
    def is_foreign(self) -> bool:
        """A layer the registry need not hold: non-distributable, or fetched from its `urls`."""
        return bool(self.urls) or self.media_type in mediatypes.FOREIGN_LAYERS


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mediatypes.INDEXES

    @property
    def required_blobs(self) -> tuple[Descriptor, ...]:
        """The blobs that must be in the repository before this manifest is accepted."""
        blobs = (self.config,) if self.config else ()
        return blobs + tuple(layer for layer in self.layers if not layer.is_foreign)

    @property
    def referrer_artifact_type(self) -> str:
        """The artifact type the referrers API reports (image-spec: else the config's type)."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else ""


def parse(body: bytes, content_type: str = "") -> Manifest:
    """Validate a manifest and return what the registry needs to know of it."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise ManifestInvalid("manifest is not valid JSON") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")

    media_type = _media_type(document, content_type)
    # An int (image-spec): not 2.0, which Python's == would take, nor true.
    if type(document.get("schemaVersion")) is not int or document["schemaVersion"] != 2:
        raise ManifestInvalid("schemaVersion must be 2")

    subject = _optional_descriptor(document, "subject")
    artifact_type = _optional_media_type(document, "artifactType")
    annotations = _annotations(document.get("annotations"), "annotations")

    if media_type in mediatypes.INDEXES:
        children = document.get("manifests")
        if not isinstance(children, list):
            raise ManifestInvalid("an index must have a manifests array")
        return Manifest(
            media_type=media_type,
            manifests=tuple(
                _descriptor(item, f"manifests[{i}]") for i, item in enumerate(children)
            ),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )

    if "config" not in document:
        raise ManifestInvalid("an image manifest must have a config descriptor")
    config = _descriptor(document["config"], "config")
    layers = document.get("layers", [])
    if not isinstance(layers, list):
        raise ManifestInvalid("layers must be an array")
    if media_type == mediatypes.DOCKER_MANIFEST and (subject or artifact_type):
        raise ManifestInvalid("subject and artifactType are OCI fields, not Docker schema 2")
    return Manifest(
        media_type=media_type,
        config=config,
        layers=tuple(_descriptor(item, f"layers[{i}]") for i, item in enumerate(layers)),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def normalize_content_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _media_type(document: dict[str, Any], content_type: str) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    header = normalize_content_type(content_type)
    if header in {mediatypes.DOCKER_SCHEMA1, mediatypes.DOCKER_SCHEMA1_SIGNED} or declared in {
        mediatypes.DOCKER_SCHEMA1,
        mediatypes.DOCKER_SCHEMA1_SIGNED,
    }:
        raise ManifestInvalid("Docker manifest schema 1 is not supported; push schema 2 or OCI")
    if declared and header in mediatypes.MANIFESTS and header != declared:
        raise ManifestInvalid(
            "the manifest's mediaType does not match the Content-Type header",
            detail={"mediaType": declared[:200], "contentType": header[:200]},
        )
    media_type = declared or header
    if not media_type and "manifests" in document:
        media_type = mediatypes.OCI_INDEX
    elif not media_type and "config" in document:
        media_type = mediatypes.OCI_MANIFEST
    if media_type not in mediatypes.MANIFESTS:
        raise ManifestInvalid(
            "unsupported manifest media type", detail={"mediaType": str(media_type)[:200]}
        )
    if media_type in {mediatypes.DOCKER_MANIFEST, mediatypes.DOCKER_MANIFEST_LIST} and not declared:
        raise ManifestInvalid("Docker manifests must declare their mediaType")
    return media_type


def _descriptor(item: Any, where: str) -> Descriptor:
    if not isinstance(item, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = item.get("mediaType")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise ManifestInvalid(f"{where}.mediaType is missing or invalid")
    raw_digest = item.get("digest")
    if not isinstance(raw_digest, str):
        raise ManifestInvalid(f"{where}.digest is missing")
    try:
        digest = digests.parse(raw_digest)
    except DigestInvalid:
        raise ManifestInvalid(
            f"{where}.digest is invalid", detail={"digest": raw_digest[:200]}
        ) from None
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise ManifestInvalid(f"{where}.size must be a non-negative 64-bit integer")
    urls = item.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise ManifestInvalid(f"{where}.urls must be an array of strings")
    platform = item.get("platform")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        urls=tuple(urls),
        annotations=_annotations(item.get("annotations"), f"{where}.annotations"),
        artifact_type=_optional_media_type(item, "artifactType", where),
        platform=_platform(platform, f"{where}.platform") if platform is not None else None,
    )


def _optional_descriptor(document: dict[str, Any], key: str) -> Descriptor | None:
    return _descriptor(document[key], key) if document.get(key) is not None else None


def _optional_media_type(document: dict[str, Any], key: str, where: str = "") -> str:
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
        raise ManifestInvalid(f"{where + '.' if where else ''}{key} must be a media type")
    return value


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid(f"{where} must map strings to strings")
    return value


def _platform(value: Any, where: str) -> Platform:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be an object")
    parts = {}
    for key, attr in (
        ("architecture", "architecture"),
        ("os", "os"),
        ("variant", "variant"),
        ("os.version", "os_version"),
    ):
        item = value.get(key, "")
        if not isinstance(item, str):
            raise ManifestInvalid(f"{where}.{key} must be a string")
        parts[attr] = item
    if not parts["architecture"] or not parts["os"]:
        raise ManifestInvalid(f"{where} needs architecture and os")
    return Platform(**parts)
