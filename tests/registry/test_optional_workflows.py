"""The spec's optional workflows: tags pushed with a manifest by digest (`?tag=`, sha256
and sha512 alike) and sparse manifests (BERTH_SPARSE_MANIFESTS)."""

import hashlib
import json

import pytest

from registry import mediatypes
from registry.models import Manifest, PendingReference
from registry.storage import gc
from tests.oci import error_codes, image_manifest, sha256

pytestmark = pytest.mark.django_db


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def small_image(client, name: str) -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = image_manifest(
        config=(client.push_blob(name, config), len(config)),
        layers=[(client.push_blob(name, b"a layer"), 7)],
    )
    return json.dumps(manifest).encode()


def test_a_manifest_pushed_by_digest_with_tag_parameters_is_tagged_and_says_so(as_alice):
    body = small_image(as_alice, "alice/app")
    response = as_alice.push_manifest("alice/app", f"{sha256(body)}?tag=1.0&tag=latest", body)
    assert response.status_code == 201
    assert [t.strip() for t in response["OCI-Tag"].split(",")] == ["1.0", "latest"]
    for tag in ("1.0", "latest"):
        pulled = as_alice.get(f"/v2/alice/app/manifests/{tag}")
        assert pulled.content == body
        assert pulled["Docker-Content-Digest"] == sha256(body)


def test_a_sha512_manifest_pushed_with_a_tag_is_answered_by_tag_with_its_sha512_digest(as_alice):
    body = small_image(as_alice, "alice/app")
    response = as_alice.push_manifest("alice/app", f"{sha512(body)}?tag=v512", body)
    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == sha512(body)
    assert response["Location"] == f"/v2/alice/app/manifests/{sha512(body)}"
    for reference in ("v512", sha512(body)):
        pulled = as_alice.get(f"/v2/alice/app/manifests/{reference}")
        assert pulled.status_code == 200
        assert pulled.content == body
        assert pulled["Docker-Content-Digest"] == sha512(body)
    head = as_alice.head("/v2/alice/app/manifests/v512")
    assert head["Docker-Content-Digest"] == sha512(body)


def test_an_invalid_tag_parameter_refuses_the_whole_push(as_alice):
    body = small_image(as_alice, "alice/app")
    response = as_alice.push_manifest("alice/app", f"{sha256(body)}?tag=ok&tag=-bad", body)
    assert error_codes(response) == ["MANIFEST_INVALID"]
    assert not Manifest.objects.filter(repository__name="alice/app").exists()


def test_too_many_tag_parameters_answer_414(as_alice):
    body = small_image(as_alice, "alice/app")
    query = "&".join(f"tag=t{n}" for n in range(101))
    response = as_alice.push_manifest("alice/app", f"{sha256(body)}?{query}", body)
    assert response.status_code == 414


def test_a_push_by_tag_ignores_tag_parameters(as_alice):
    body = small_image(as_alice, "alice/app")
    response = as_alice.push_manifest("alice/app", "v1?tag=other", body)
    assert response.status_code == 201
    assert "OCI-Tag" not in response
    assert as_alice.get("/v2/alice/app/manifests/other").status_code == 404


def sparse_image(client, name: str) -> tuple[bytes, str]:
    """An image manifest whose layer was never pushed; returns (body, the layer's digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = b"a layer pushed later"
    manifest = image_manifest(
        config=(client.push_blob(name, config), len(config)), layers=[(sha256(layer), len(layer))]
    )
    return json.dumps(manifest).encode(), sha256(layer)


def test_sparse_manifests_are_refused_when_turned_off(as_alice, settings):
    settings.BERTH_SPARSE_MANIFESTS = False
    body, _ = sparse_image(as_alice, "alice/app")
    assert error_codes(as_alice.push_manifest("alice/app", "v1", body)) == ["MANIFEST_BLOB_UNKNOWN"]


def test_a_sparse_image_is_accepted_and_completed_when_its_layer_arrives(as_alice):
    body, layer = sparse_image(as_alice, "alice/app")
    assert as_alice.push_manifest("alice/app", "v1", body).status_code == 201
    assert as_alice.get("/v2/alice/app/manifests/v1").content == body
    assert as_alice.get(f"/v2/alice/app/blobs/{layer}").status_code == 404
    manifest = Manifest.objects.get(digest=sha256(body))
    assert list(manifest.pending_references.values_list("digest", flat=True)) == [layer]

    as_alice.push_blob("alice/app", b"a layer pushed later")
    assert layer in set(manifest.blobs.values_list("digest", flat=True))
    assert not PendingReference.objects.exists()


def test_a_blob_completing_a_sparse_manifest_is_kept_by_garbage_collection(as_alice, settings):
    settings.BERTH_SPARSE_MANIFESTS = True
    body, layer = sparse_image(as_alice, "alice/app")
    as_alice.push_manifest("alice/app", "v1", body)
    as_alice.push_blob("alice/app", b"a layer pushed later")
    gc.collect(grace=0)
    assert as_alice.get(f"/v2/alice/app/blobs/{layer}").status_code == 200


def test_a_sparse_index_gains_its_children_as_they_are_pushed(as_alice, settings):
    settings.BERTH_SPARSE_MANIFESTS = True
    child = small_image(as_alice, "alice/multi")
    missing = {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(b"never"), "size": 5}
    index = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(child), "size": len(child)},
            missing,
        ],
    }
    response = as_alice.push_manifest("alice/multi", "all", index, mediatypes.OCI_INDEX)
    assert response.status_code == 201
    stored = Manifest.objects.get(digest=response["Docker-Content-Digest"])
    assert not stored.children.exists()

    as_alice.push_manifest("alice/multi", sha256(child), child)
    assert list(stored.children.values_list("digest", flat=True)) == [sha256(child)]
    assert list(stored.pending_references.values_list("digest", flat=True)) == [sha256(b"never")]


def test_a_sparse_manifest_still_refuses_a_held_blob_of_another_size(as_alice, settings):
    settings.BERTH_SPARSE_MANIFESTS = True
    config = as_alice.push_blob("alice/app", b"config")
    response = as_alice.push_manifest("alice/app", "v1", image_manifest((config, 99), []))
    assert error_codes(response) == ["MANIFEST_INVALID"]
