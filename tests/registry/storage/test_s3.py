"""Blobs on S3 (moto's server on loopback): multipart uploads, staging, redirects, SSE-KMS."""

import os
import urllib.request

import pytest

from registry.digests import parse
from registry.models import Blob, Upload
from registry.storage import blobs, stores
from tests.oci import sha256

pytestmark = pytest.mark.django_db
MIB = 1024 * 1024
BIG = os.urandom(13 * MIB)  # more than one 8 MiB part


def keys_under(prefix: str) -> list[str]:
    return [key for key, _, _ in stores.blob_store().listing(prefix)]


def open_multipart_uploads(server) -> list:
    store = stores.blob_store()
    return server.client().list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def test_a_monolithic_push_completes_a_multipart_upload_at_the_digest(as_alice, s3_blobs):
    digest = as_alice.push_blob("alice/app", BIG)
    assert keys_under("sha256/") == [parse(digest).storage_key]
    assert blobs.verify(Blob.objects.get(digest=digest))
    assert open_multipart_uploads(s3_blobs) == []


def test_a_chunked_push_is_staged_under_uploads_and_copied_into_place(as_alice, s3_blobs):
    location = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")["Location"]
    third = len(BIG) // 3
    for first in (0, third, 2 * third):
        chunk = BIG[first : first + third] if first < 2 * third else BIG[first:]
        headers = {"Content-Range": f"{first}-{first + len(chunk) - 1}"}
        assert as_alice.request("PATCH", location, chunk, headers=headers).status_code == 202
        assert keys_under("sha256/") == []  # nothing visible before the digest is verified
    assert as_alice.request("PUT", f"{location}?digest={sha256(BIG)}").status_code == 201
    assert keys_under("_uploads/") == []
    assert blobs.verify(Blob.objects.get(digest=sha256(BIG)))
    assert open_multipart_uploads(s3_blobs) == []


def test_a_wrong_digest_leaves_nothing_on_the_store(as_alice, s3_blobs):
    response = as_alice.request(
        "POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(b'other')}", BIG
    )
    assert response.status_code == 400
    assert keys_under("") == []
    assert open_multipart_uploads(s3_blobs) == []


def test_a_cancelled_session_leaves_nothing_on_the_store(as_alice, s3_blobs):
    location = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")["Location"]
    as_alice.request("PATCH", location, BIG)
    assert keys_under("_uploads/")
    assert as_alice.request("DELETE", location).status_code == 204
    assert keys_under("") == []
    assert open_multipart_uploads(s3_blobs) == []
    assert not Upload.objects.exists()


def test_redirect_delivery_hands_out_a_presigned_url_that_serves_ranges(
    as_alice, s3_blobs, settings
):
    settings.BERTH_ENCRYPTION = "off"
    settings.BERTH_BLOB_DELIVERY = "redirect"
    digest = as_alice.push_blob("alice/app", BIG)
    location = as_alice.get(f"/v2/alice/app/blobs/{digest}")["Location"]
    request = urllib.request.Request(location, headers={"Range": "bytes=100-199"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (moto on loopback)
        assert response.status == 206
        assert response.read() == BIG[100:200]


def test_sealed_blobs_are_streamed_even_with_redirect_delivery(as_alice, s3_blobs, settings):
    digest = as_alice.push_blob("alice/app", BIG[:1000])
    settings.BERTH_BLOB_DELIVERY = "redirect"  # (refused at start-up with encryption on)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == BIG[:1000]


def test_sse_kms_asks_the_store_to_encrypt_every_object(as_alice, s3_blobs, settings):
    key_id = s3_blobs.client("kms").create_key()["KeyMetadata"]["KeyId"]
    settings.BERTH_ENCRYPTION = "sse-kms"
    settings.BERTH_SSE_KMS_KEY_ID = key_id
    digest = as_alice.push_blob("alice/app", BIG)
    store = stores.blob_store()
    head = s3_blobs.client().head_object(
        Bucket=store.bucket, Key=store.name(parse(digest).storage_key)
    )
    assert head["ServerSideEncryption"] == "aws:kms"
    assert Blob.objects.get(digest=digest).sealed_key is None


def test_purging_removes_what_crashed_requests_left_on_the_store(s3_blobs, settings, monkeypatch):
    import time

    from registry.storage import uploads

    store = stores.blob_store()
    store.start_multipart("sha256/ab/abandoned")  # a monolithic upload that never finished
    store.put_bytes("_uploads/00000000-dead-session/pending-1", b"x")
    later = time.time() + settings.BERTH_UPLOAD_TTL + 60
    monkeypatch.setattr(uploads.time, "time", lambda: later)
    uploads.purge_expired()
    assert open_multipart_uploads(s3_blobs) == []
    assert keys_under("_uploads/") == []
