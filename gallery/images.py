"""One image or index as its page and the API show it, read from the registry on request.

Per platform: the config a runtime would use (entrypoint, command, environment variable
names but never their values, exposed ports, working directory, user), the layers with
their sizes and the history lines that made them, labels and annotations. An index's
children are paged: an index may hold thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from registry import manifests
from registry.errors import RegistryError
from registry.memo import DigestMemo
from registry.models import Manifest
from registry.text import storable_json

from .describe import DOCKER_REFERENCE_TYPE, kind_of, labels_of, read_config
from .models import AttachmentKind, CatalogEntry

CHILDREN_PER_PAGE = 20


@dataclass
class Layer:
    digest: str
    size: int
    media_type: str
    created_by: str = ""  # the history line that made it


@dataclass
class PlatformImage:
    """One image manifest: a platform of an index, or the image itself."""

    digest: str
    media_type: str
    size: int
    os: str = ""
    architecture: str = ""
    variant: str = ""
    entrypoint: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)  # names only
    ports: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    created: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    config_digest: str = ""
    config_media_type: str = ""

    @property
    def created_at(self) -> datetime | None:
        """`created` as a moment, if it is an RFC 3339 time (the config's own text otherwise)."""
        try:
            moment = datetime.fromisoformat(self.created)
        except ValueError:
            return None
        return moment if moment.tzinfo else None

    @property
    def platform(self) -> str:
        if not self.os or not self.architecture:
            return ""
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass
class ImageDetails:
    digest: str
    media_type: str
    kind: str
    artifact_type: str
    size: int
    annotations: dict[str, str]
    tags: list[str]
    is_index: bool
    platforms: list[PlatformImage]  # this page of an index's children, or the image itself
    child_count: int = 0
    page: int = 1
    pages: int = 1
    attachments: dict[str, list] = field(default_factory=dict)  # kind label -> attachments
    subject: str = ""


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int | float)]
    return []


def _platform_image(row: Manifest, parsed: manifests.Manifest) -> PlatformImage:
    size = (parsed.config.size if parsed.config else 0) + sum(x.size for x in parsed.layers)
    image = PlatformImage(
        digest=row.digest,
        media_type=row.media_type,
        size=size,
        annotations=storable_json(dict(parsed.annotations)),
        config_digest=str(parsed.config.digest) if parsed.config else "",
        config_media_type=parsed.config.media_type if parsed.config else "",
    )
    config = read_config(parsed.config)
    runtime = config.get("config") if isinstance(config.get("config"), dict) else {}
    image.os = str(config.get("os") or "")
    image.architecture = str(config.get("architecture") or "")
    image.variant = str(config.get("variant") or "")
    image.created = str(config.get("created") or "")[:40]
    image.entrypoint = _strings(runtime.get("Entrypoint"))
    image.command = _strings(runtime.get("Cmd"))
    image.environment = [
        item.partition("=")[0] for item in _strings(runtime.get("Env")) if item.partition("=")[0]
    ]
    ports = runtime.get("ExposedPorts")
    image.ports = sorted(str(port) for port in ports) if isinstance(ports, dict) else []
    image.working_dir = str(runtime.get("WorkingDir") or "")
    image.user = str(runtime.get("User") or "")
    image.labels = labels_of(config)
    history = [
        entry for entry in config.get("history") or [] if isinstance(entry, dict)
    ] if isinstance(config.get("history"), list) else []  # fmt: skip
    made = [str(h.get("created_by") or "") for h in history if not h.get("empty_layer")]
    image.layers = [
        Layer(str(layer.digest), layer.size, layer.media_type, made[i] if i < len(made) else "")
        for i, layer in enumerate(parsed.layers)
    ]
    return image


_LARGE = 64 * 1024  # bytes: smaller manifests parse in well under a millisecond
_PARSED: DigestMemo[manifests.Manifest] = DigestMemo(32)


def _parsed(row: Manifest) -> manifests.Manifest | None:
    """The parsed manifest of `row`. A large index (thousands of children: 0.5 s to parse and
    check) is kept per digest in this process, since a manifest never changes, so that its
    page costs that once, not on every view of every page of its children."""
    large = row.size > _LARGE
    if large and (known := _PARSED.get(row.digest)) is not None:
        return known
    try:
        parsed = manifests.parse(bytes(row.body), row.media_type)
    except RegistryError:
        return None
    return _PARSED.put(row.digest, parsed) if large else parsed


def image_details(
    *, entry: CatalogEntry, digest: str, page: int = 1, per_page: int = CHILDREN_PER_PAGE
) -> ImageDetails | None:
    """The image or index `digest` of the entry's repository, or None if it holds none."""
    row = Manifest.objects.filter(repository_id=entry.pk, digest=digest).first()
    if row is None:
        return None
    parsed = _parsed(row)
    if parsed is None:
        return None
    tags = sorted(entry.tags.filter(image__digest=digest).values_list("name", flat=True))
    details = ImageDetails(
        digest=row.digest,
        media_type=row.media_type,
        kind=kind_of(parsed) if not parsed.is_index else "image",
        artifact_type=parsed.referrer_artifact_type,
        size=row.size,
        annotations=storable_json(dict(parsed.annotations)),
        tags=tags,
        is_index=parsed.is_index,
        platforms=[],
        subject=str(parsed.subject.digest) if parsed.subject else "",
    )
    subjects = [row.digest]
    if parsed.is_index:
        children = [
            child
            for child in parsed.manifests
            if child.annotations.get(DOCKER_REFERENCE_TYPE) != "attestation-manifest"
        ]
        details.child_count = len(children)
        details.pages = max(1, -(-len(children) // per_page))
        details.page = min(max(page, 1), details.pages)
        shown = children[(details.page - 1) * per_page : details.page * per_page]
        rows = {
            m.digest: m
            for m in Manifest.objects.filter(
                repository_id=entry.pk, digest__in=[str(c.digest) for c in shown]
            )
        }
        for child in shown:
            child_row = rows.get(str(child.digest))
            image = _child(child, child_row)
            if image is not None:
                details.platforms.append(image)
        subjects += [str(c.digest) for c in children]
        sizes = [p.size for p in details.platforms]
        details.size = max(sizes) if sizes else 0
    else:
        image = _platform_image(row, parsed)
        details.platforms = [image]
        details.size = image.size
        if details.kind != "image":
            details.kind = kind_of(parsed)
    details.attachments = attachments_of(entry, subjects)
    return details


def _child(descriptor: manifests.Descriptor, row: Manifest | None) -> PlatformImage | None:
    if row is None:
        return PlatformImage(str(descriptor.digest), descriptor.media_type, descriptor.size)
    try:
        parsed = manifests.parse(bytes(row.body), row.media_type)
    except RegistryError:
        return None
    if parsed.is_index:
        return PlatformImage(row.digest, row.media_type, row.size)
    image = _platform_image(row, parsed)
    given = descriptor.platform
    if given and not image.os:
        image.os, image.architecture, image.variant = given.os, given.architecture, given.variant
    return image


def attachments_of(entry: CatalogEntry, subjects: list[str]) -> dict[str, list]:
    """The entry's attachments of these digests, grouped by kind label (Signed, SBOM, …)."""
    grouped: dict[str, list] = {}
    labels = dict(AttachmentKind.choices)
    rows = entry.attachments.filter(subject__in=subjects).order_by("kind", "-pushed_at")
    for attachment in rows:
        grouped.setdefault(labels[attachment.kind], []).append(attachment)
    return grouped
