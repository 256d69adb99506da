"""Blobs at rest: sealed by default, readable whatever their age, never served if tampered."""

import hashlib
import logging
import os

import pytest

from registry.digests import parse
from registry.models import Blob
from registry.storage import blobs, crypto, stores
from tests.oci import sha256

pytestmark = pytest.mark.django_db
DATA = os.urandom(crypto.CHUNK * 3 + 1234)


def stored_bytes(digest: str) -> bytes:
    store = stores.blob_store()
    key = parse(digest).storage_key
    if store.kind == "s3":
        return store.read(key)
    return store.path(key).read_bytes()


def pull(client, digest: str, **headers):
    response = client.get(f"/v2/alice/app/blobs/{digest}", headers=headers)
    return response, b"".join(response.streaming_content)


def test_blobs_are_sealed_at_rest_by_default(as_alice):
    digest = as_alice.push_blob("alice/app", DATA)
    stored = stored_bytes(digest)
    assert stored.startswith(crypto.HEADER)
    assert DATA[:1000] not in stored
    assert Blob.objects.get(digest=digest).key_id.startswith("local:")


def test_the_digest_is_the_digest_of_the_plain_content(as_alice):
    digest = as_alice.push_blob("alice/app", DATA)
    response, body = pull(as_alice, digest)
    assert response["Docker-Content-Digest"] == digest == sha256(body)
    assert body == DATA


@pytest.mark.parametrize(
    ("start", "end"),
    [(crypto.CHUNK - 3, crypto.CHUNK + 3), (0, crypto.CHUNK * 2), (crypto.CHUNK * 3, None)],
)
def test_range_requests_across_chunk_boundaries(as_alice, start, end):
    digest = as_alice.push_blob("alice/app", DATA)
    spec = f"bytes={start}-{'' if end is None else end}"
    response, body = pull(as_alice, digest, Range=spec)
    last = len(DATA) - 1 if end is None else end
    assert response.status_code == 206
    assert body == DATA[start : last + 1]
    assert response["Content-Length"] == str(last - start + 1)


def test_blobs_stored_before_encryption_stay_readable(as_alice, settings):
    settings.BERTH_ENCRYPTION = "off"
    digest = as_alice.push_blob("alice/app", DATA)
    assert stored_bytes(digest) == DATA
    settings.BERTH_ENCRYPTION = "on"
    assert pull(as_alice, digest)[1] == DATA
    assert Blob.objects.get(digest=digest).sealed_key is None


def test_a_tampered_chunk_is_never_served_and_is_logged(as_alice, caplog, local_blobs):
    digest = as_alice.push_blob("alice/app", DATA)
    path = stores.blob_store().path(parse(digest).storage_key)
    tampered = bytearray(path.read_bytes())
    tampered[crypto.Sealed.chunk_offset(2) + 7] ^= 0x40
    path.write_bytes(bytes(tampered))
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    received = []
    with caplog.at_level(logging.ERROR), pytest.raises(crypto.Tampered):
        received.extend(response.streaming_content)
    assert DATA[crypto.CHUNK * 2 : crypto.CHUNK * 3] not in b"".join(received)
    assert "chunk 2 failed authentication" in caplog.text


def test_encryption_off_stores_content_as_it_comes(as_alice, settings):
    settings.BERTH_ENCRYPTION = "off"
    digest = as_alice.push_blob("alice/app", DATA)
    assert stored_bytes(digest) == DATA
    assert pull(as_alice, digest)[1] == DATA


def test_a_record_whose_bytes_are_gone_is_repaired_by_the_next_upload(as_alice):
    digest = as_alice.push_blob("alice/one", DATA)
    stores.blob_store().delete(parse(digest).storage_key)
    as_alice.push_blob("alice/two", DATA)
    assert blobs.verify(Blob.objects.get(digest=digest))


def test_the_empty_config_blob_is_sealed_too(as_alice):
    from registry import digests

    as_alice.push_image("alice/app")  # stores nothing empty; the artifact below does
    body = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example+type",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": str(digests.EMPTY_JSON),
            "size": 2,
        },
        "layers": [],
    }
    assert as_alice.push_manifest("alice/app", "artifact", body).status_code == 201
    blob = Blob.objects.get(digest=str(digests.EMPTY_JSON))
    assert blob.sealed_key is not None
    assert b"".join(blobs.read(blob)) == b"{}"
    assert hashlib.sha256(b"{}").hexdigest() == digests.EMPTY_JSON.encoded
