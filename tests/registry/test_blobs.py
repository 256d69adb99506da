import hashlib
from urllib.parse import urlsplit

import pytest

from registry import services
from registry.digests import parse
from registry.models import Repository
from registry.storage import blobs, stores
from tests.oci import RegistryClient, error_codes, sha256
from tests.races import finish, meanwhile, needs_two_connections

pytestmark = pytest.mark.django_db
DATA = bytes(range(256)) * 8  # 2,048 bytes


def test_monolithic_upload_stores_the_blob(as_alice):
    digest = sha256(DATA)
    response = as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?digest={digest}", DATA)
    assert response.status_code == 201
    assert response["Location"] == f"/v2/alice/app/blobs/{digest}"
    assert response["Docker-Content-Digest"] == digest


def test_monolithic_upload_with_the_wrong_digest_is_digest_invalid(as_alice):
    response = as_alice.request(
        "POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(b'other')}", DATA
    )
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert as_alice.head(f"/v2/alice/app/blobs/{sha256(b'other')}").status_code == 404


def test_get_returns_the_bytes_with_length_digest_and_octet_stream(as_alice):
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Docker-Content-Digest"] == digest
    assert response["Content-Type"] == "application/octet-stream"


def test_head_returns_headers_without_a_body(as_alice):
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.head(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA))
    assert response.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=2000-", 2000, 2047),
        ("bytes=-48", 2000, 2047),
        ("bytes=100-99999", 100, 2047),
    ],
)
def test_range_request_returns_206_with_the_slice(as_alice, header, start, end):
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == DATA[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/2048"
    assert response["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=5000-10000", "bytes=500-0", "bytes=-0"])
def test_unsatisfiable_range_is_416(as_alice, header):
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */2048"


def test_unknown_blob_is_blob_unknown(as_alice):
    as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{sha256(b'nope')}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


def test_blob_of_another_repository_is_not_served_here(as_alice):
    digest = as_alice.push_blob("alice/one", DATA)
    as_alice.push_blob("alice/two", b"something else")
    assert as_alice.head(f"/v2/alice/two/blobs/{digest}").status_code == 404


def test_malformed_digest_is_digest_invalid(as_alice):
    as_alice.push_blob("alice/app", DATA)
    response = as_alice.get("/v2/alice/app/blobs/sha256:nothex")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


def test_sha512_blobs_are_supported(as_alice):
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    response = as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?digest={digest}", DATA)
    assert response.status_code == 201
    assert as_alice.head(f"/v2/alice/app/blobs/{digest}").status_code == 200


def test_delete_removes_the_blob_from_the_repository_only(as_alice):
    digest = as_alice.push_blob("alice/one", DATA)
    as_alice.push_blob("alice/two", DATA)
    response = as_alice.request("DELETE", f"/v2/alice/one/blobs/{digest}")
    assert response.status_code == 202
    assert as_alice.head(f"/v2/alice/one/blobs/{digest}").status_code == 404
    assert as_alice.head(f"/v2/alice/two/blobs/{digest}").status_code == 200


def stored_keys() -> list[str]:
    return sorted(key for key, _, _ in stores.blob_store().listing())


def test_blobs_shared_between_repositories_are_stored_once(as_alice):
    digest = as_alice.push_blob("alice/one", DATA)
    as_alice.push_blob("alice/two", DATA)
    assert stored_keys() == [parse(digest).storage_key]


def test_no_staged_file_is_left_after_a_failed_upload(as_alice, tmp_path):
    as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(b'x')}", DATA)
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert stored_keys() == []


def test_x_accel_delivery_hands_a_plain_blob_to_nginx(as_alice, settings, local_blobs):
    settings.BERTH_ENCRYPTION = "off"
    settings.BERTH_BLOB_DELIVERY = "x-accel"
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/_blobs/sha256/{digest[7:9]}/{digest[7:]}"
    assert response.content == b""


def test_redirect_delivery_sends_clients_to_the_storage_url(as_alice, settings):
    settings.BERTH_ENCRYPTION = "off"
    settings.BERTH_BLOB_DELIVERY = "redirect"
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 307
    path = urlsplit(response["Location"]).path
    assert path.endswith(f"sha256/{digest[7:9]}/{digest[7:]}")
    assert response["Docker-Content-Digest"] == digest


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("hook", "status"), [("commit", 404), ("_record_link", 201)], ids=["before", "while linked"]
)
def test_a_repository_deleted_as_a_blob_arrives_ends_in_one_order(alice, monkeypatch, hook, status):
    needs_two_connections()
    client = RegistryClient("alice")
    client.push_image("alice/app", "v1")

    def delete():
        services.delete_repository(repository=Repository.objects.get(name="alice/app"))

    threads = meanwhile(monkeypatch, blobs, hook, delete)
    monkeypatch.setattr(services, "notify", lambda event: None)  # the registry's part only
    response = client.request("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(DATA)}", DATA)
    finish(threads)
    assert response.status_code == status
    assert not Repository.objects.filter(name="alice/app").exists()
