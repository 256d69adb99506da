"""Upload sessions: sealed as they stream, resumable from any process, safe against crashes."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from registry import services
from registry.digests import parse
from registry.errors import SizeInvalid
from registry.models import Blob, Upload
from registry.storage import blobs, crypto
from tests.oci import sha256

pytestmark = pytest.mark.django_db
DATA = os.urandom(crypto.CHUNK * 2 + 999)


def start(client, name="alice/app"):
    response = client.request("POST", f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    return response["Location"]


def patch(client, location, chunk, first):
    headers = {"Content-Range": f"{first}-{first + len(chunk) - 1}"}
    return client.request("PATCH", location, chunk, headers=headers)


@pytest.mark.parametrize("cuts", [[1], [crypto.CHUNK], [100, crypto.CHUNK + 1, 70_000]])
def test_chunks_of_any_size_store_exactly_the_bytes_sent(as_alice, cuts):
    location = start(as_alice)
    position = 0
    for cut in [*cuts, len(DATA)]:
        assert patch(as_alice, location, DATA[position:cut], position).status_code == 202
        position = cut
    assert as_alice.request("PUT", f"{location}?digest={sha256(DATA)}").status_code == 201
    assert b"".join(blobs.read(Blob.objects.get(digest=sha256(DATA)))) == DATA


def test_the_pending_chunk_is_kept_sealed_in_the_session_record(as_alice):
    location = start(as_alice)
    marker = b"plaintext that must not be at rest " * 100
    patch(as_alice, location, marker, 0)
    upload = Upload.objects.get()
    assert upload.offset == len(marker)
    assert marker[:40] not in bytes(upload.tail)
    assert upload.sealed_key is not None


def test_a_request_that_died_half_way_leaves_nothing_that_counts(as_alice):
    location = start(as_alice)
    patch(as_alice, location, DATA[:1000], 0)
    upload = Upload.objects.get()

    def dies():
        yield DATA[1000 : crypto.CHUNK * 2]
        raise SizeInvalid("the request body ended early")

    with pytest.raises(SizeInvalid):
        services.append_upload(upload=upload, chunks=dies(), start=1000)
    assert Upload.objects.get().offset == 1000
    assert patch(as_alice, location, DATA[1000:], 1000).status_code == 202
    assert as_alice.request("PUT", f"{location}?digest={sha256(DATA)}").status_code == 201
    assert blobs.verify(Blob.objects.get(digest=sha256(DATA)))


def test_a_session_held_by_a_request_that_died_is_free_again_after_its_lease(as_alice):
    location = start(as_alice)
    Upload.objects.update(holder="dead", held_until=timezone.now() + timedelta(seconds=30))
    assert patch(as_alice, location, DATA[:10], 0).status_code == 416
    Upload.objects.update(held_until=timezone.now() - timedelta(seconds=1))
    assert patch(as_alice, location, DATA[:10], 0).status_code == 202


def test_a_whole_blob_in_the_final_put_takes_the_monolithic_path(as_alice, tmp_path):
    location = start(as_alice)
    response = as_alice.request("PUT", f"{location}?digest={sha256(DATA)}", DATA)
    assert response.status_code == 201
    assert not Upload.objects.exists()
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_a_failed_final_digest_leaves_no_blob_and_no_session(as_alice):
    location = start(as_alice)
    patch(as_alice, location, DATA[:500], 0)
    patch(as_alice, location, DATA[500:], 500)
    response = as_alice.request("PUT", f"{location}?digest={sha256(b'else')}")
    assert response.status_code == 400
    assert not Blob.objects.exists()
    assert not Upload.objects.exists()


def test_sha512_sessions_are_verified_by_reading_the_sealed_bytes_back(as_alice):
    import hashlib

    location = start(as_alice)
    patch(as_alice, location, DATA, 0)
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    assert as_alice.request("PUT", f"{location}?digest={digest}").status_code == 201
    blob = Blob.objects.get(digest=digest)
    assert b"".join(blobs.read(blob)) == DATA
    assert parse(digest).algorithm == "sha512"
