"""Archives made in tests: docker save output, OCI image layouts, Helm charts, OPA bundles."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(files: dict[str, bytes], *, gz: bool = False) -> bytes:
    output = io.BytesIO()
    with tarfile.open(fileobj=output, mode="w:gz" if gz else "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return output.getvalue()


def layer(content: str) -> bytes:
    return tar_bytes({"hello.txt": content.encode()})


def docker_save(
    tag: str = "app:1.0", layers: tuple[str, ...] = ("one", "two")
) -> tuple[bytes, list[bytes]]:
    """A `docker save` tar (the layout before Docker 25) and its layers."""
    blobs = [layer(text) for text in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
         "rootfs": {"type": "layers", "diff_ids": [sha(b) for b in blobs]}}
    ).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    files = {config_name: config}
    names = []
    for i, blob in enumerate(blobs):
        files[f"layer{i}/layer.tar"] = blob
        names.append(f"layer{i}/layer.tar")
    files["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
    ).encode()
    return tar_bytes(files), blobs


def oci_image(architecture: str, content: str) -> tuple[dict[str, bytes], dict]:
    """The blobs of one image and its descriptor (with its platform)."""
    blob = gzip.compress(layer(content), mtime=0)
    config = json.dumps(
        {"architecture": architecture, "os": "linux",
         "rootfs": {"type": "layers", "diff_ids": [sha(layer(content))]}}
    ).encode()  # fmt: skip
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": sha(blob), "size": len(blob)}],
        }
    ).encode()
    blobs = {sha(b): b for b in (blob, config, manifest)}
    descriptor = {
        "mediaType": MANIFEST,
        "digest": sha(manifest),
        "size": len(manifest),
        "platform": {"architecture": architecture, "os": "linux"},
    }
    return blobs, descriptor


def oci_layout(
    architectures=("amd64",), *, ref: str = "1.0", gz: bool = False, nested: bool = True
) -> bytes:
    """An OCI image layout: one image, or a multi-platform index (nested in index.json, or
    the platforms listed side by side with `nested=False`)."""
    blobs: dict[str, bytes] = {}
    descriptors = []
    for architecture in architectures:
        image_blobs, descriptor = oci_image(architecture, f"{architecture} {ref}")
        blobs.update(image_blobs)
        descriptors.append(descriptor)
    annotations = {"org.opencontainers.image.ref.name": ref}
    if len(descriptors) > 1 and nested:
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": INDEX, "manifests": descriptors}
        ).encode()
        blobs[sha(index)] = index
        top = [
            {
                "mediaType": INDEX,
                "digest": sha(index),
                "size": len(index),
                "annotations": annotations,
            }
        ]
    else:
        top = [{**d, "annotations": annotations} for d in descriptors]
    files = {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "index.json": json.dumps({"schemaVersion": 2, "manifests": top}).encode(),
    }
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.split(":")[1]] = data
    return tar_bytes(files, gz=gz)


def helm_chart(name: str = "mychart", version: str = "0.1.0") -> bytes:
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\ndescription: A chart\n"
    return tar_bytes({f"{name}/Chart.yaml": chart_yaml.encode(),
                      f"{name}/values.yaml": b"replicas: 1\n"}, gz=True)  # fmt: skip


def opa_bundle(revision: str = "r1") -> bytes:
    return tar_bytes({".manifest": json.dumps({"revision": revision}).encode(),
                      "policy.rego": b"package example\nallow := true\n"}, gz=True)  # fmt: skip


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
