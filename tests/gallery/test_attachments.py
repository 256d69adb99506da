"""Signatures, SBOMs and attestations are attachments of images, never images themselves."""

import json

import pytest

from gallery import services
from gallery.models import AttachmentKind, CatalogEntry
from registry import mediatypes
from registry.models import Repository
from tests.oci import image_manifest, push_platform_image

pytestmark = pytest.mark.django_db
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX = "application/spdx+json"


def index(name: str) -> CatalogEntry:
    return services.index_repository(repository_id=Repository.objects.get(name=name).pk)


def push_cosign_signature(client, name: str, subject: str) -> str:
    """What `cosign sign` (tag scheme) pushes: an image config with an empty platform and
    one simplesigning layer, tagged sha256-<hex>.sig."""
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers"}}).encode()
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": subject}}}).encode()
    manifest = image_manifest(
        (client.push_blob(name, config), len(config)),
        [(client.push_blob(name, payload), len(payload))],
    )
    manifest["layers"][0]["mediaType"] = SIMPLESIGNING
    tag = subject.replace(":", "-") + ".sig"
    response = client.push_manifest(name, tag, manifest)
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]


def push_sbom(client, name: str, subject: str, body: bytes, tag: str | None = None) -> str:
    """An SBOM attached with `subject` (as `oras attach` does), optionally also tagged."""
    manifest = image_manifest(
        (client.push_blob(name, b"{}"), 2),
        [(client.push_blob(name, body), len(body))],
        config_type=mediatypes.OCI_EMPTY,
        artifactType=SPDX,
        subject={"mediaType": mediatypes.OCI_MANIFEST, "digest": subject, "size": 1},
    )
    manifest["layers"][0]["mediaType"] = SPDX
    digest = json.dumps(manifest).encode()
    response = client.push_manifest(name, tag or f"sbom-{len(body)}", digest)
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]


def test_a_cosign_signature_is_not_an_image_and_has_no_blank_platform(as_alice):
    digest, _ = push_platform_image(as_alice, "alice/app", "1.0", "amd64")
    push_cosign_signature(as_alice, "alice/app", digest)
    entry = index("alice/app")
    assert entry.images.count() == 1
    assert entry.tag_count == 1
    assert entry.platform_list == ["linux/amd64"]
    assert entry.artifact_type == "image"
    assert entry.is_signed
    attachment = entry.attachments.get()
    assert (attachment.subject, attachment.kind) == (digest, AttachmentKind.SIGNATURE)


def test_a_tagged_sbom_leaves_an_image_repository_an_image_repository(as_alice):
    digest, _ = push_platform_image(as_alice, "alice/app", "1.0", "amd64")
    push_sbom(as_alice, "alice/app", digest, b'{"spdxVersion": "SPDX-2.3"}', tag="sbom")
    entry = index("alice/app")
    assert entry.artifact_type == "image"
    assert list(entry.images.values_list("digest", flat=True)) == [digest]
    assert entry.attachments.get().kind == AttachmentKind.SBOM
    assert not entry.is_signed


def test_the_type_is_what_the_repository_mostly_holds(as_alice):
    for version in ("1.0", "1.1", "1.2"):
        push_platform_image(as_alice, "alice/app", version, "amd64")
    config = b'{"name": "chart", "version": "0.1.0"}'
    chart = b"chart bytes"
    manifest = image_manifest(
        (as_alice.push_blob("alice/app", config), len(config)),
        [(as_alice.push_blob("alice/app", chart), len(chart))],
        config_type=mediatypes.HELM_CONFIG,
    )
    manifest["layers"][0]["mediaType"] = mediatypes.HELM_CHART
    assert as_alice.push_manifest("alice/app", "chart", manifest).status_code == 201
    assert index("alice/app").artifact_type == "image"


def test_a_multi_arch_image_takes_its_description_from_its_platform_images(as_alice):
    children = []
    for architecture in ("amd64", "arm64"):
        config = json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "config": {"Labels": {"org.opencontainers.image.description": "A web server"}},
            }
        ).encode()
        digest, body = as_alice.push_image(
            "alice/web", f"1.0-{architecture}", layer=architecture.encode(), config=config
        )
        children.append(
            {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    index_body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": children}
    response = as_alice.push_manifest("alice/web", "1.0", index_body, mediatypes.OCI_INDEX)
    assert response.status_code == 201
    Repository.objects.filter(name="alice/web").first().tags.exclude(name="1.0").delete()
    assert index("alice/web").description == "A web server"


def test_labels_give_the_repository_its_links(as_alice):
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Labels": {
                    "org.opencontainers.image.source": "https://git.example/app",
                    "org.opencontainers.image.licenses": "Apache-2.0",
                }
            },
        }
    ).encode()
    as_alice.push_image("alice/app", "1.0", config=config)
    assert index("alice/app").links == {
        "source": "https://git.example/app",
        "licenses": "Apache-2.0",
    }
