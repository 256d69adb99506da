"""Reading an uploaded archive into what the registry stores: blobs, manifests and tags.

Four kinds of archive are understood, told apart by what they hold:

- an OCI image layout (`oci-layout`, `index.json`, `blobs/…`), as a tar or a tar.gz, of one
  image or several, single- or multi-platform (also what `docker save` writes since 25);
- the older `docker save` tar (`manifest.json`, `<id>.json` configs, `<id>/layer.tar`);
  its layers are kept byte for byte (uncompressed), in an OCI manifest;
- a Helm chart `.tgz` (`<chart>/Chart.yaml`): stored as `helm push` stores it, config
  `application/vnd.cncf.helm.config.v1+json` (the chart's metadata as JSON), one layer
  `application/vnd.cncf.helm.chart.content.v1.tar+gzip` (the .tgz itself), tagged with the
  chart's version (`+` written `_`, as helm does);
- an Open Policy Agent bundle `.tar.gz` (`.manifest`, `*.rego`, `data.json`): stored as OPA's
  OCI downloader reads it, config `application/vnd.oci.image.config.v1+json`, one layer
  `application/vnd.oci.image.layer.v1.tar+gzip` (the bundle itself), with artifactType
  `application/vnd.cncf.openpolicyagent.bundle.v1.tar+gzip` so that the gallery knows it.

`read` does all the checking before anything is stored: the archive is read once with the
scanning module's careful tar reader (no path leaves the archive, caps on entries and
bytes, so bombs and hostile headers fail fast), its files are staged under names of our
own, every digest and size is verified and every reference resolved. Only then does
`gallery.publishing.imports` hand the result to the registry's services.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from registry import digests, manifests, mediatypes, names
from registry.errors import RegistryError
from registry.scanning import layers

HELM_CONFIG = mediatypes.HELM_CONFIG
HELM_CHART = mediatypes.HELM_CHART
OPA_BUNDLE = mediatypes.OPA_BUNDLE
JSON_MAX = 4 * 1024 * 1024  # index.json, manifest.json, configs and manifests
CHART_YAML_MAX = 1024 * 1024
REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(ValueError):
    """An archive refused, with a reason a person can act on."""


@dataclass
class Blob:
    digest: str
    size: int
    path: Path  # the staged file


@dataclass
class Plan:
    """What an archive holds, checked: blobs to store, then manifests in order (children
    before their index), then tags."""

    kind: str  # "oci", "docker", "helm", "opa"
    blobs: dict[str, Blob] = field(default_factory=dict)
    manifests: list[tuple[str, bytes, str]] = field(default_factory=list)  # digest, body, type
    tags: dict[str, str] = field(default_factory=dict)  # tag -> manifest digest

    @property
    def size(self) -> int:
        return sum(blob.size for blob in self.blobs.values())


def limits() -> layers.Limits:
    return layers.Limits(
        max_bytes=settings.BERTH_IMPORT_MAX_BYTES,
        max_entries=settings.BERTH_IMPORT_MAX_ENTRIES,
        max_file_bytes=JSON_MAX,
        max_kept_bytes=JSON_MAX,
    )


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
    return f"sha256:{hasher.hexdigest()}"


def _stage(archive: Path, work: Path, progress=None) -> tuple[dict[str, Path], dict[str, str]]:
    """Every regular file of the archive copied under a name of our own: (path -> file,
    link path -> target path). Links must stay inside the archive."""
    files: dict[str, Path] = {}
    links: dict[str, str] = {}
    total = max(archive.stat().st_size, 1)
    with open(archive, "rb") as source:
        try:
            for number, entry in enumerate(layers.read_archive(source, limits())):
                if entry.kind == layers.SYMLINK or entry.hardlink:
                    target = entry.link
                    if not entry.hardlink:
                        if target.startswith("/"):
                            raise ArchiveError(f"{entry.path}: a link leaves the archive")
                        target = layers.normalize(str(Path(entry.path).parent / target))
                    links[entry.path] = target
                    continue
                if entry.kind != layers.FILE or entry.sparse:
                    continue
                staged = work / f"f{number}"
                with open(staged, "wb") as output:
                    while chunk := entry.read():
                        output.write(chunk)
                files[entry.path] = staged
                if progress is not None:
                    progress(min(source.tell() / total, 1.0))
        except layers.LayerError as error:
            reason = str(error).replace("the layers", "it").replace("the layer", "it")
            raise ArchiveError(f"the archive cannot be read: {reason}") from None
    return files, links


def _resolve(path: str, files: dict[str, Path], links: dict[str, str]) -> Path | None:
    for _ in range(8):
        if path in files:
            return files[path]
        if path not in links:
            return None
        path = links[path]
    return None


def _json(path: Path | None, what: str):
    if path is None:
        raise ArchiveError(f"the archive has no {what}")
    if path.stat().st_size > JSON_MAX:
        raise ArchiveError(f"{what} is larger than {JSON_MAX} bytes")
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        raise ArchiveError(f"{what} is not valid JSON") from None


def read(archive: Path, work: Path, *, progress=None, tag: str = "") -> Plan:
    """Check an uploaded archive and plan its import (files staged in `work`)."""
    with archive.open("rb") as handle:
        head = handle.read(2)
    files, links = _stage(archive, work, progress)
    if "index.json" in files and "oci-layout" in files:
        return _oci_layout(files, links, tag)
    if "manifest.json" in files:
        return _docker_save(files, links, tag)
    charts = [p for p in files if p.count("/") == 1 and p.endswith("/Chart.yaml")]
    if charts and head == layers.GZIP_MAGIC:
        return _helm_chart(archive, files[charts[0]], work)
    if head == layers.GZIP_MAGIC and (
        ".manifest" in files or any(p.endswith(".rego") for p in files)
    ):
        return _opa_bundle(archive, files, work, tag)
    raise ArchiveError(
        "this is not an archive Berth imports: a docker save tar, an OCI image layout "
        "(tar or tar.gz), a Helm chart .tgz or an OPA bundle .tar.gz"
    )


# -- OCI image layouts --------------------------------------------------------------------------


def _blob_path(digest: str, files, links) -> Path | None:
    parsed = digests.parse(digest)
    return _resolve(f"blobs/{parsed.algorithm}/{parsed.encoded}", files, links)


def _add_blob(plan: Plan, descriptor: manifests.Descriptor, files, links) -> None:
    digest = str(descriptor.digest)
    if digest in plan.blobs or descriptor.is_foreign:
        return
    if descriptor.digest == digests.EMPTY_JSON and _blob_path(digest, files, links) is None:
        return  # the well-known empty config needs no blob (the registry has it)
    path = _blob_path(digest, files, links)
    if path is None:
        raise ArchiveError(f"a manifest references {digest}, which the archive lacks")
    _verify(path, descriptor.digest, descriptor.size)
    plan.blobs[digest] = Blob(digest, descriptor.size, path)


def _verify(path: Path, digest: digests.Digest, size: int) -> None:
    actual_size = path.stat().st_size
    if actual_size != size:
        raise ArchiveError(f"{digest} is {actual_size} bytes, but {size} are declared")
    hasher = digest.hasher()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
    if hasher.hexdigest() != digest.encoded:
        raise ArchiveError(f"the content of {digest} does not match its digest")


def _manifest(plan: Plan, descriptor: manifests.Descriptor, files, links, depth: int = 0) -> None:
    """Plan a manifest (and, for an index, its children first), once."""
    digest = str(descriptor.digest)
    if any(d == digest for d, _, _ in plan.manifests):
        return
    if depth > 2:
        raise ArchiveError("indexes nest too deeply")
    path = _blob_path(digest, files, links)
    if path is None:
        raise ArchiveError(f"the archive lacks the manifest {digest}")
    if path.stat().st_size > JSON_MAX:
        raise ArchiveError(f"the manifest {digest} is larger than {JSON_MAX} bytes")
    _verify(path, descriptor.digest, descriptor.size)
    body = path.read_bytes()
    try:
        parsed = manifests.parse(body, descriptor.media_type)
    except RegistryError as error:
        raise ArchiveError(f"the manifest {digest} is invalid: {error.text}") from None
    for child in parsed.manifests:
        _manifest(plan, child, files, links, depth + 1)
    for blob in parsed.required_blobs:
        _add_blob(plan, blob, files, links)
    plan.manifests.append((digest, body, parsed.media_type))


def _tag_of(annotations: dict, fallback: str) -> str:
    name = annotations.get(REF_NAME, "")
    tag = name.rsplit(":", 1)[-1] if ":" in name else name
    if "/" in tag:  # a full reference without a tag
        tag = ""
    return tag or fallback


def _oci_layout(files, links, tag: str) -> Plan:
    index = _json(files.get("index.json"), "index.json")
    try:
        parsed = manifests.parse(json.dumps(index).encode(), mediatypes.OCI_INDEX)
    except RegistryError as error:
        raise ArchiveError(f"index.json is invalid: {error.text}") from None
    if not parsed.manifests:
        raise ArchiveError("index.json lists no image")
    plan = Plan(kind="oci")
    for descriptor in parsed.manifests:
        _manifest(plan, descriptor, files, links)
    named = [(d, _tag_of(d.annotations, "")) for d in parsed.manifests]
    platforms = [d for d in parsed.manifests if d.platform is not None]
    untagged_platforms = len(platforms) > 1 and len({t for _, t in named}) == 1
    if untagged_platforms:
        # Several platforms listed side by side under one name: one multi-platform index.
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_INDEX,
                "manifests": [_descriptor_json(d) for d in parsed.manifests],
            },
            separators=(",", ":"),
        ).encode()
        digest = str(digests.compute(body))
        plan.manifests.append((digest, body, mediatypes.OCI_INDEX))
        plan.tags[tag or named[0][1] or "latest"] = digest
    else:
        for descriptor, name in named:
            plan.tags[tag or name or "latest"] = str(descriptor.digest)
    return plan


def _descriptor_json(descriptor: manifests.Descriptor) -> dict:
    item = {
        "mediaType": descriptor.media_type,
        "digest": str(descriptor.digest),
        "size": descriptor.size,
    }
    if descriptor.platform is not None:
        platform = {
            "architecture": descriptor.platform.architecture,
            "os": descriptor.platform.os,
        }
        if descriptor.platform.variant:
            platform["variant"] = descriptor.platform.variant
        item["platform"] = platform
    return item


# -- docker save --------------------------------------------------------------------------------


def _docker_save(files, links, tag: str) -> Plan:
    listing = _json(files.get("manifest.json"), "manifest.json")
    if not isinstance(listing, list) or not listing:
        raise ArchiveError("manifest.json lists no image")
    plan = Plan(kind="docker")
    for image in listing:
        if not isinstance(image, dict) or not isinstance(image.get("Layers"), list):
            raise ArchiveError("manifest.json is not what docker save writes")
        config_path = _resolve(layers.normalize(str(image.get("Config", ""))), files, links)
        config = _json(config_path, "an image config")
        diff_ids = (
            ((config.get("rootfs") or {}).get("diff_ids")) if isinstance(config, dict) else None
        )
        if not isinstance(diff_ids, list) or len(diff_ids) != len(image["Layers"]):
            raise ArchiveError("an image config does not list one diff_id per layer")
        config_digest = _sha256_file(config_path)
        plan.blobs[config_digest] = Blob(config_digest, config_path.stat().st_size, config_path)
        descriptors = []
        for name, diff_id in zip(image["Layers"], diff_ids, strict=True):
            path = _resolve(layers.normalize(str(name)), files, links)
            if path is None:
                raise ArchiveError(f"manifest.json names a layer the archive lacks: {name}")
            digest = _sha256_file(path)
            if digest != diff_id:
                raise ArchiveError(f"the layer {name} does not match its diff_id {diff_id}")
            size = path.stat().st_size
            plan.blobs[digest] = Blob(digest, size, path)
            descriptors.append({"mediaType": mediatypes.OCI_LAYER, "digest": digest, "size": size})
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "config": {
                    "mediaType": mediatypes.OCI_CONFIG,
                    "digest": config_digest,
                    "size": config_path.stat().st_size,
                },
                "layers": descriptors,
            },
            separators=(",", ":"),
        ).encode()
        digest = str(digests.compute(body))
        plan.manifests.append((digest, body, mediatypes.OCI_MANIFEST))
        repo_tags = [str(t) for t in image.get("RepoTags") or [] if isinstance(t, str)]
        for name in repo_tags or ["latest"]:
            plan.tags[tag or name.rsplit(":", 1)[-1]] = digest
    return plan


# -- Helm charts and OPA bundles ----------------------------------------------------------------


def _whole_archive(plan: Plan, archive: Path, work: Path) -> Blob:
    copy = work / "archive"
    shutil.copyfile(archive, copy)
    digest = _sha256_file(copy)
    blob = Blob(digest, copy.stat().st_size, copy)
    plan.blobs[digest] = blob
    return blob


def _config_blob(plan: Plan, work: Path, data: bytes) -> tuple[str, int]:
    path = work / f"config-{len(plan.blobs)}"
    path.write_bytes(data)
    digest = str(digests.compute(data))
    plan.blobs[digest] = Blob(digest, len(data), path)
    return digest, len(data)


def _helm_chart(archive: Path, chart_yaml: Path, work: Path) -> Plan:
    if chart_yaml.stat().st_size > CHART_YAML_MAX:
        raise ArchiveError("Chart.yaml is too large")
    try:
        metadata = yaml.safe_load(chart_yaml.read_text(errors="replace"))
    except yaml.YAMLError:
        raise ArchiveError("Chart.yaml is not valid YAML") from None
    if not isinstance(metadata, dict) or not metadata.get("name") or not metadata.get("version"):
        raise ArchiveError("Chart.yaml needs a name and a version")
    version = str(metadata["version"])
    tag = version.replace("+", "_")
    if not registry_tag(tag):
        raise ArchiveError(f"the chart's version {version!r} cannot be a tag")
    plan = Plan(kind="helm")
    config = {k: v for k, v in metadata.items() if v not in (None, "", [], {})}
    config_digest, config_size = _config_blob(
        plan, work, json.dumps(config, separators=(",", ":"), default=str).encode()
    )
    chart = _whole_archive(plan, archive, work)
    annotations = {
        "org.opencontainers.image.title": str(metadata["name"]),
        "org.opencontainers.image.version": version,
    }
    if metadata.get("description"):
        annotations["org.opencontainers.image.description"] = str(metadata["description"])
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": HELM_CHART, "digest": chart.digest, "size": chart.size}],
            "annotations": annotations,
        },
        separators=(",", ":"),
    ).encode()
    digest = str(digests.compute(body))
    plan.manifests.append((digest, body, mediatypes.OCI_MANIFEST))
    plan.tags[tag] = digest
    return plan


def _opa_bundle(archive: Path, files, work: Path, tag: str) -> Plan:
    revision = ""
    if ".manifest" in files:
        manifest = _json(files[".manifest"], "the bundle's .manifest")
        revision = str(manifest.get("revision", "")) if isinstance(manifest, dict) else ""
    with gzip.open(archive, "rb") as check:  # a bundle is one gzip stream, as OPA writes it
        try:
            check.read(1)
        except OSError:
            raise ArchiveError("the bundle is not a valid tar.gz") from None
    plan = Plan(kind="opa")
    config_digest, config_size = _config_blob(plan, work, b"{}")
    bundle = _whole_archive(plan, archive, work)
    annotations = {"org.opencontainers.image.title": "bundle.tar.gz"}
    if revision:
        annotations["org.opencontainers.image.revision"] = revision
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": OPA_BUNDLE,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": mediatypes.OCI_LAYER_GZIP,
                    "digest": bundle.digest,
                    "size": bundle.size,
                    "annotations": {"org.opencontainers.image.title": "bundle.tar.gz"},
                }
            ],
            "annotations": annotations,
        },
        separators=(",", ":"),
    ).encode()
    digest = str(digests.compute(body))
    plan.manifests.append((digest, body, mediatypes.OCI_MANIFEST))
    chosen = tag or (revision if registry_tag(revision) else "") or "latest"
    plan.tags[chosen] = digest
    return plan


def registry_tag(text: str) -> bool:
    return bool(text) and names.is_valid_tag(text)
