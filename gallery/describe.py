"""What the gallery shows of a manifest: read from the manifest, its children and configs.

`describe` gives the catalog's summary of one tagged manifest (kind, size, platforms,
description, links) when the indexer first sees it. `attachment_kind` tells signatures,
SBOMs and attestations apart from images: a manifest with a `subject`, or one tagged in the
scheme older tools use (`sha256-<digest>.sig`, `.att`, `.sbom`), belongs to the image it
points at and is never counted as an image, a platform or a repository type.
`image_details` reads everything the image page and the API show of one image or index.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from registry import manifests, mediatypes, storage
from registry.errors import RegistryError
from registry.models import Manifest
from registry.text import may_hold_unstorable, storable, storable_json

from .models import ArtifactType, AttachmentKind

PLATFORMS_KEPT = 64  # children of an index kept for the Tags tab
CONFIG_MAX_BYTES = 1024 * 1024  # image configs larger than this are not read
DESCRIPTION_ANNOTATION = "org.opencontainers.image.description"
# Standard labels and annotations the repository header links to, in this order.
LINK_KEYS = {
    "source": "org.opencontainers.image.source",
    "url": "org.opencontainers.image.url",
    "documentation": "org.opencontainers.image.documentation",
    "licenses": "org.opencontainers.image.licenses",
    "version": "org.opencontainers.image.version",
}
# The tag scheme of cosign and the tools that followed it: sha256-<hex>.sig|.att|.sbom.
ATTACHMENT_TAG = re.compile(
    r"(?P<alg>sha256|sha512)-(?P<hex>[0-9a-f]{64}|[0-9a-f]{128})\.(?P<suffix>sig|att|sbom)"
)
_SUFFIX_KINDS = {
    "sig": AttachmentKind.SIGNATURE,
    "att": AttachmentKind.ATTESTATION,
    "sbom": AttachmentKind.SBOM,
}
# Words in artifact and layer media types that say what an attachment is.
_SIGNATURE_WORDS = (
    "signature",
    "cosign.artifact.sig",
    "simplesigning",
    "notary",
    "sigstore.bundle",
)
_SBOM_WORDS = ("spdx", "cyclonedx", "sbom", "syft")
_ATTESTATION_WORDS = ("in-toto", "intoto", "attestation", "provenance", "dsse", "vex")
# Config media types that say nothing about what an artifact is.
GENERIC_CONFIGS = frozenset(
    {
        mediatypes.OCI_CONFIG,
        mediatypes.OCI_EMPTY,
        mediatypes.DOCKER_CONFIG,
        "application/vnd.unknown.config.v1+json",
        "",
    }
)
# BuildKit stores attestations as children of an index with this annotation.
DOCKER_REFERENCE_TYPE = "vnd.docker.reference.type"


@dataclass
class Description:
    media_type: str
    kind: str
    artifact_type: str = ""
    size: int = 0
    platforms: list[dict] = field(default_factory=list)
    description: str = ""
    child_count: int = 0  # platform children of an index (`platforms` keeps PLATFORMS_KEPT)
    links: dict[str, str] = field(default_factory=dict)
    subject: str = ""  # the digest this manifest is an attachment of ("" for an image)
    attachment: str = ""  # an AttachmentKind when it is an attachment


def subject_of_tag(tag: str) -> str:
    """The digest a `sha256-<hex>.sig`-style tag attaches to, or ""."""
    match = ATTACHMENT_TAG.fullmatch(tag)
    return f"{match['alg']}:{match['hex']}" if match else ""


def attachment_kind(artifact_type: str, layer_types=(), tag: str = "") -> str:
    """Signature, SBOM, attestation or other, from the media types and the tag scheme."""
    match = ATTACHMENT_TAG.fullmatch(tag)
    if match:
        return _SUFFIX_KINDS[match["suffix"]]
    text = " ".join([artifact_type, *layer_types]).lower()
    for words, kind in (
        (_SIGNATURE_WORDS, AttachmentKind.SIGNATURE),
        (_SBOM_WORDS, AttachmentKind.SBOM),
        (_ATTESTATION_WORDS, AttachmentKind.ATTESTATION),
    ):
        if any(word in text for word in words):
            return kind
    return AttachmentKind.OTHER


def read_config(descriptor: manifests.Descriptor | None) -> dict:
    """An image's or a Helm chart's JSON config (small ones only); {} if unreadable."""
    readable = mediatypes.IMAGE_CONFIGS | {mediatypes.HELM_CONFIG}
    if descriptor is None or descriptor.size > CONFIG_MAX_BYTES:
        return {}
    if descriptor.media_type not in readable:
        return {}
    try:
        with storage.open_blob(descriptor.digest) as handle:
            raw = handle.read(CONFIG_MAX_BYTES + 1)
        config = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(config, dict):
        return {}
    return storable_json(config) if may_hold_unstorable(raw) else config


def labels_of(config: dict) -> dict[str, str]:
    labels = (config.get("config") or {}).get("Labels") if isinstance(config, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {str(k): str(v) for k, v in labels.items() if isinstance(v, str | int | float)}


def links_of(*sources: dict[str, str]) -> dict[str, str]:
    """The header's links from labels and annotations (earlier sources win)."""
    links = {}
    for key, name in LINK_KEYS.items():
        for source in sources:
            value = (source.get(name) or "").strip()
            if value:
                links[key] = value[:500]
                break
    return links


def kind_of(parsed: manifests.Manifest) -> str:
    config_type = parsed.config.media_type if parsed.config else ""
    layer_types = {layer.media_type for layer in parsed.layers}
    if config_type == mediatypes.HELM_CONFIG or mediatypes.HELM_CHART in layer_types:
        return ArtifactType.HELM
    if (
        config_type in mediatypes.POLICY_CONFIGS
        or layer_types & mediatypes.POLICY_LAYERS
        or parsed.artifact_type in mediatypes.POLICY_ARTIFACTS
    ):
        return ArtifactType.POLICY
    if config_type in mediatypes.IMAGE_CONFIGS and not parsed.artifact_type:
        return ArtifactType.IMAGE
    return ArtifactType.ARTIFACT


def _platform(os_name, architecture, variant, digest: str, size: int) -> dict | None:
    """A platform row, or None when the OS or architecture is empty or unknown."""
    os_name, architecture = str(os_name or "").strip(), str(architecture or "").strip()
    if not os_name or not architecture or "unknown" in (os_name, architecture):
        return None
    return {
        "os": os_name,
        "architecture": architecture,
        "variant": str(variant or ""),
        "digest": digest,
        "size": size,
    }


def describe(
    manifest: Manifest, children: dict[str, Manifest], depth: int = 0, tag: str = ""
) -> Description:
    """What the gallery shows of one manifest: kind, size, platforms, description, links."""
    try:
        parsed = manifests.parse(bytes(manifest.body), manifest.media_type)
    except RegistryError:
        return Description(manifest.media_type, ArtifactType.ARTIFACT, size=manifest.size)
    subject = str(parsed.subject.digest) if parsed.subject else subject_of_tag(tag)
    if parsed.is_index:
        described = _describe_index(manifest, parsed, children, depth)
    else:
        described = _describe_image(manifest, parsed)
    if subject:
        described.subject = subject
        described.attachment = attachment_kind(
            parsed.referrer_artifact_type, [layer.media_type for layer in parsed.layers], tag
        )
        described.platforms = []
    # Annotations are the manifest's JSON, which may escape what no database holds.
    described.description = storable(described.description)
    described.links = storable_json(described.links)
    described.platforms = storable_json(described.platforms)
    return described


def _describe_image(manifest: Manifest, parsed: manifests.Manifest) -> Description:
    size = parsed.config.size + sum(layer.size for layer in parsed.layers)
    kind = kind_of(parsed)
    described = Description(
        manifest.media_type,
        kind,
        parsed.referrer_artifact_type,
        size,
        description=parsed.annotations.get(DESCRIPTION_ANNOTATION, ""),
    )
    if kind == ArtifactType.HELM:
        config = read_config(parsed.config)
        described.description = described.description or str(config.get("description", ""))
        described.links = links_of(
            parsed.annotations, {LINK_KEYS["url"]: str(config.get("home", ""))}
        )
    elif kind == ArtifactType.IMAGE:
        config = read_config(parsed.config)
        labels = labels_of(config)
        described.description = described.description or labels.get(DESCRIPTION_ANNOTATION, "")
        described.links = links_of(parsed.annotations, labels)
        platform = _platform(
            config.get("os"), config.get("architecture"), config.get("variant"),
            manifest.digest, size,
        )  # fmt: skip
        described.platforms = [platform] if platform else []
    else:
        described.links = links_of(parsed.annotations)
    return described


def _describe_index(manifest, parsed, children, depth) -> Description:
    platforms, kinds, sizes = [], set(), [0]
    first_child = None
    for child in parsed.manifests:
        if child.annotations.get(DOCKER_REFERENCE_TYPE) == "attestation-manifest":
            continue  # BuildKit's provenance and SBOM: not a platform
        row = children.get(str(child.digest))
        described = describe(row, children, depth + 1) if row is not None and depth < 2 else None
        size = described.size if described else child.size
        if described:
            kinds.add(described.kind)
            first_child = first_child or described
        given = child.platform
        platform = (
            _platform(given.os, given.architecture, given.variant, str(child.digest), size)
            if given
            else None
        )
        if platform:
            platforms.append(platform)
            sizes.append(size)
        elif described and described.platforms and described.kind == ArtifactType.IMAGE:
            platforms += [{**p, "digest": str(child.digest)} for p in described.platforms]
            sizes.append(size)
        elif described is None:
            sizes.append(size)
    kind = (
        ArtifactType.IMAGE
        if ArtifactType.IMAGE in kinds or platforms
        else (next(iter(kinds)) if len(kinds) == 1 else ArtifactType.ARTIFACT)
    )
    # A multi-platform image often describes itself only in its platform images.
    text = parsed.annotations.get(DESCRIPTION_ANNOTATION, "")
    if not text and first_child:
        text = first_child.description
    links = links_of(parsed.annotations)
    if first_child:
        links = {**first_child.links, **links}
    return Description(
        manifest.media_type,
        kind,
        parsed.artifact_type,
        max(sizes),
        _kept(platforms),
        text,
        child_count=len(platforms),
        links=links,
    )


def _kept(platforms: list[dict]) -> list[dict]:
    """At most PLATFORMS_KEPT children of an index: one of each distinct platform first (so
    that facets see them all), then the rest in order. An index may hold thousands."""
    if len(platforms) <= PLATFORMS_KEPT:
        return platforms
    seen, first, rest = set(), [], []
    for platform in platforms:
        key = (platform["os"], platform["architecture"], platform["variant"])
        (rest if key in seen else first).append(platform)
        seen.add(key)
    return (first + rest)[:PLATFORMS_KEPT]
