"""Sparse manifests (accepted by default) through the gallery, the API and the scanner: what
is missing is shown as missing, never as a 500."""

import json

import pytest
from django.test import Client

from gallery import services
from registry import mediatypes
from registry.models import Repository
from registry.scanning import services as scanning
from tests.oci import image_manifest, sha256

pytestmark = pytest.mark.django_db


@pytest.fixture
def sparse(as_alice):
    """alice/sparse: an image with neither its config nor its layer, and an index with one
    child held and one missing."""
    nothing = image_manifest(config=(sha256(b"no config"), 9), layers=[(sha256(b"no layer"), 8)])
    body = json.dumps(nothing).encode()
    assert as_alice.push_manifest("alice/sparse", "bare", body).status_code == 201
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    held = image_manifest(
        config=(as_alice.push_blob("alice/sparse", config), len(config)),
        layers=[(sha256(b"a layer never pushed"), 20)],
    )
    held_body = json.dumps(held).encode()
    as_alice.push_manifest("alice/sparse", sha256(held_body), held_body)
    index = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(held_body),
             "size": len(held_body), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(b"never"), "size": 5,
             "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }  # fmt: skip
    response = as_alice.push_manifest("alice/sparse", "multi", index, mediatypes.OCI_INDEX)
    assert response.status_code == 201
    repository = Repository.objects.get(name="alice/sparse")
    services.index_repository(repository_id=repository.pk)
    return {"bare": sha256(body), "multi": response["Docker-Content-Digest"]}


def test_pages_and_the_api_show_a_sparse_repository(sparse):
    client = Client()
    for path in [
        "/r/alice/sparse",
        "/r/alice/sparse/-/tags",
        "/r/alice/sparse/-/tags/bare",
        "/r/alice/sparse/-/tags/multi",
        f"/r/alice/sparse/-/images/{sparse['bare']}",
        f"/r/alice/sparse/-/images/{sparse['multi']}",
        "/api/v1/repositories/alice/sparse",
        "/api/v1/repositories/alice/sparse/-/tags",
        f"/api/v1/repositories/alice/sparse/-/images/{sparse['bare']}",
        f"/api/v1/repositories/alice/sparse/-/images/{sparse['multi']}",
    ]:
        assert client.get(path).status_code == 200, path


def test_pulling_what_is_missing_is_blob_unknown(sparse, as_alice):
    response = as_alice.get(f"/v2/alice/sparse/blobs/{sha256(b'no layer')}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    response = as_alice.get(f"/v2/alice/sparse/manifests/{sha256(b'never')}")
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


@pytest.mark.django_db(transaction=True)  # scan_manifest runs outside any transaction
def test_scanning_a_sparse_image_fails_with_a_reason(sparse):
    from registry.models import Manifest

    [scan] = scanning.scan_manifest(manifest_id=Manifest.objects.get(digest=sparse["bare"]).pk)
    assert scan.status == "failed"
    assert "cannot be read" in scan.reason
