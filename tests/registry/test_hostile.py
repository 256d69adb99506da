"""Inputs that once made the registry fail: each gets a clear 4xx now, and nothing breaks."""

import base64
import json
import os

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from registry import mediatypes
from registry.digests import parse
from registry.models import Upload
from registry.storage import stores, uploads
from tests.oci import error_codes, image_manifest, sha256

pytestmark = pytest.mark.django_db
DATA = b"0123456789" * 10


@pytest.mark.parametrize("header", ["bytes=²-", "bytes=-²", "bytes=" + "9" * 5000 + "-", "bytes=-"])
def test_odd_range_headers_are_ignored(as_alice, header):
    digest = as_alice.push_blob("alice/app", DATA)
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == DATA


@pytest.mark.parametrize("header", ["¹-¹", "0-" + "9" * 5000, "1-0", "x-y"])
def test_odd_content_range_headers_are_416(as_alice, header):
    location = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")["Location"]
    response = as_alice.request("PATCH", location, b"x", headers={"Content-Range": header})
    assert response.status_code == 416


def test_a_suffix_range_of_an_empty_blob_is_416(as_alice):
    digest = as_alice.push_blob("alice/app", b"")
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}", headers={"Range": "bytes=-5"})
    assert response.status_code == 416


@pytest.mark.parametrize("path", ["/v2/alice/app/tags/list?last=%00", "/v2/al%00ice/x/tags/list"])
def test_nul_bytes_in_registry_urls_are_400(as_alice, path):
    response = as_alice.get(path)
    assert response.status_code == 400
    assert error_codes(response) == ["UNSUPPORTED"]


@pytest.mark.parametrize("path", ["/search?arch=%00", "/u/al%00ice", "/r/a/b/-/tags?name=%00"])
def test_nul_bytes_in_page_urls_are_400(db, path):
    assert Client().get(path).status_code == 400


@pytest.mark.parametrize("query", [{"scope": "repository:alice/app:pull\x00"}, {"account": "\x00"}])
def test_nul_bytes_in_a_token_request_are_an_oauth_error(db, query):
    response = Client().get("/token", query)
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/v2/alice/app/tags/list", "/v2/_catalog", "/token"])
def test_a_query_of_too_many_parameters_is_refused_in_json(as_alice, path):
    as_alice.push_image("alice/app")
    response = as_alice.get(path + "?" + "&".join(["x=1"] * 1001))
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/v2/", "/v2/alice/app/tags/list"])
def test_a_host_header_not_allowed_is_refused_in_json(db, path):
    response = Client().get(path, headers={"Host": "elsewhere.example"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_basic_credentials_with_nul_are_refused(alice):
    header = "Basic " + base64.b64encode(b"al\x00ice:x").decode()
    assert Client().get("/v2/", headers={"Authorization": header}).status_code == 401
    assert Client().get("/token", headers={"Authorization": header}).status_code == 401


def test_token_scopes_with_invalid_names_are_skipped(db):
    response = Client().get("/token", {"scope": "repository:Not Valid:pull"})
    assert response.status_code == 200


def test_descriptor_sizes_beyond_int64_are_invalid(as_alice):
    config = as_alice.push_blob("alice/app", b"{}")
    manifest = image_manifest((config, 2), [])
    manifest["layers"] = [
        {
            "mediaType": mediatypes.OCI_LAYER_GZIP,
            "digest": sha256(b"x"),
            "size": 2**63,
            "urls": ["https://example.test/x"],
        }
    ]
    assert error_codes(as_alice.push_manifest("alice/app", "v1", manifest)) == ["MANIFEST_INVALID"]


def test_a_token_of_a_deleted_user_cannot_push(alice):
    token = json.loads(
        Client()
        .get(
            "/token",
            {"scope": "repository:alice/app:pull,push"},
            headers={
                "Authorization": "Basic "
                + base64.b64encode(b"alice:correct-horse-battery").decode()
            },
        )
        .content
    )["token"]
    get_user_model().objects.filter(username="alice").delete()
    response = Client().post(
        "/v2/alice/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401  # the token no longer speaks for anyone
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_a_chunk_arriving_while_another_request_holds_the_upload_is_416(as_alice, settings):
    location = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")["Location"]
    with uploads.held(Upload.objects.get(pk=location.rsplit("/", 1)[1])):
        response = as_alice.request("PATCH", location, DATA)
    assert response.status_code == 416
    assert as_alice.request("PATCH", location, DATA).status_code == 202


def test_a_second_upload_of_a_stored_blob_leaves_the_stored_file_alone(as_alice, local_blobs):
    digest = as_alice.push_blob("alice/one", DATA)
    stored = stores.blob_store().path(parse(digest).storage_key)
    before = os.stat(stored).st_ino
    as_alice.push_blob("alice/two", DATA)
    assert os.stat(stored).st_ino == before
