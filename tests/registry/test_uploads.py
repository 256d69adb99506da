from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import Upload
from tests.oci import error_codes, sha256

pytestmark = pytest.mark.django_db
DATA = b"0123456789" * 100


def start(client, name="alice/app"):
    response = client.request("POST", f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.content
    return response["Location"]


def patch(client, location, chunk, first=None):
    headers = {}
    if first is not None:
        headers["Content-Range"] = f"{first}-{first + len(chunk) - 1}"
    return client.request("PATCH", location, chunk, headers=headers)


def test_post_opens_a_session_with_location_and_uuid(as_alice):
    response = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")
    assert response.status_code == 202
    assert response["Location"].startswith("/v2/alice/app/blobs/uploads/")
    assert response["Location"].endswith(response["Docker-Upload-UUID"])


def test_post_then_put_with_the_whole_blob(as_alice):
    location = start(as_alice)
    response = as_alice.request("PUT", f"{location}?digest={sha256(DATA)}", DATA)
    assert response.status_code == 201
    assert response["Location"] == f"/v2/alice/app/blobs/{sha256(DATA)}"


def test_chunked_upload_in_three_parts(as_alice):
    location = start(as_alice)
    assert patch(as_alice, location, DATA[:300], 0)["Range"] == "0-299"
    assert patch(as_alice, location, DATA[300:600], 300).status_code == 202
    response = as_alice.request(
        "PUT",
        f"{location}?digest={sha256(DATA)}",
        DATA[600:],
        headers={"Content-Range": f"600-{len(DATA) - 1}"},
    )
    assert response.status_code == 201
    blob = as_alice.get(f"/v2/alice/app/blobs/{sha256(DATA)}")
    assert b"".join(blob.streaming_content) == DATA


def test_streamed_patch_without_content_range_then_empty_put(as_alice):
    location = start(as_alice)
    patch(as_alice, location, DATA)
    response = as_alice.request("PUT", f"{location}?digest={sha256(DATA)}")
    assert response.status_code == 201


def test_chunk_out_of_order_is_416_and_the_session_stays_usable(as_alice):
    location = start(as_alice)
    patch(as_alice, location, DATA[:100], 0)
    response = patch(as_alice, location, DATA[200:300], 200)
    assert response.status_code == 416
    assert response["Range"] == "0-99"
    assert error_codes(response) == ["BLOB_UPLOAD_INVALID"]
    assert patch(as_alice, location, DATA[100:], 100).status_code == 202
    assert as_alice.request("PUT", f"{location}?digest={sha256(DATA)}").status_code == 201


def test_status_reports_the_range_received(as_alice):
    location = start(as_alice)
    patch(as_alice, location, DATA[:250], 0)
    response = as_alice.get(location)
    assert response.status_code == 204
    assert response["Range"] == "0-249"
    assert response["Location"] == location


def test_final_put_with_the_wrong_digest_is_digest_invalid(as_alice):
    location = start(as_alice)
    patch(as_alice, location, DATA)
    response = as_alice.request("PUT", f"{location}?digest={sha256(b'else')}")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


def test_put_without_digest_is_digest_invalid(as_alice):
    location = start(as_alice)
    assert error_codes(as_alice.request("PUT", location, DATA)) == ["DIGEST_INVALID"]


def test_sha512_digest_of_a_chunked_upload_is_verified(as_alice):
    import hashlib

    location = start(as_alice)
    patch(as_alice, location, DATA[:500], 0)
    patch(as_alice, location, DATA[500:], 500)
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    assert as_alice.request("PUT", f"{location}?digest={digest}").status_code == 201


def test_cancel_deletes_the_session(as_alice):
    location = start(as_alice)
    assert as_alice.request("DELETE", location).status_code == 204
    response = as_alice.get(location)
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


def test_sessions_belong_to_their_user(as_alice, as_bob, alice):
    from registry.models import Repository

    Repository.objects.create(name="bob/app", namespace="bob", owner=None)
    location = start(as_bob, "bob/app")
    alice.is_superuser = True  # even someone who may push there cannot use bob's session
    alice.save()
    assert as_alice.get(location).status_code == 404


def test_unknown_and_malformed_session_ids_are_blob_upload_unknown(as_alice):
    start(as_alice)
    for upload_id in ["0" * 32, "not-a-uuid"]:
        response = as_alice.get(f"/v2/alice/app/blobs/uploads/{upload_id}")
        assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


def test_expired_sessions_are_unknown_and_purged(as_alice, settings):
    from registry import services

    location = start(as_alice)
    Upload.objects.update(
        updated_at=timezone.now() - timedelta(seconds=settings.BERTH_UPLOAD_TTL + 1)
    )
    assert as_alice.get(location).status_code == 404
    assert services.purge_expired_uploads() == 1
    assert not Upload.objects.exists()


def test_mount_links_a_blob_the_caller_may_pull(as_alice):
    digest = as_alice.push_blob("alice/source", DATA)
    response = as_alice.request(
        "POST", f"/v2/alice/target/blobs/uploads/?mount={digest}&from=alice/source"
    )
    assert response.status_code == 201
    assert response["Location"] == f"/v2/alice/target/blobs/{digest}"
    assert as_alice.head(f"/v2/alice/target/blobs/{digest}").status_code == 200


def test_mount_of_a_blob_absent_from_the_source_opens_a_session(as_alice):
    as_alice.push_blob("alice/source", DATA)
    response = as_alice.request(
        "POST", f"/v2/alice/target/blobs/uploads/?mount={sha256(b'absent')}&from=alice/source"
    )
    assert response.status_code == 202


def test_mount_from_a_private_repository_the_caller_cannot_pull_falls_back(as_alice, as_bob):
    from registry.models import Repository

    digest = as_alice.push_blob("alice/secret", DATA)
    Repository.objects.filter(name="alice/secret").update(is_private=True)
    response = as_bob.request(
        "POST", f"/v2/bob/mine/blobs/uploads/?mount={digest}&from=alice/secret"
    )
    assert response.status_code == 202
    assert as_bob.head(f"/v2/bob/mine/blobs/{digest}").status_code == 404


def test_content_range_that_disagrees_with_content_length_is_416(as_alice):
    location = start(as_alice)
    response = as_alice.request("PATCH", location, DATA[:10], headers={"Content-Range": "0-99"})
    assert response.status_code == 416


def test_blob_size_limit_is_enforced(as_alice, settings):
    settings.BERTH_BLOB_MAX_BYTES = 100
    location = start(as_alice)
    response = patch(as_alice, location, DATA)
    assert response.status_code == 413
    assert error_codes(response) == ["SIZE_INVALID"]


def test_mount_without_from_finds_a_blob_in_the_same_namespace(as_alice):
    digest = as_alice.push_blob("alice/source", DATA)
    response = as_alice.request("POST", f"/v2/alice/target/blobs/uploads/?mount={digest}")
    assert response.status_code == 201


def test_mount_without_from_never_reaches_another_users_private_blob(as_alice, as_bob):
    from registry.models import Repository

    digest = as_alice.push_blob("alice/secret", DATA)
    Repository.objects.filter(name="alice/secret").update(is_private=True)
    response = as_bob.request("POST", f"/v2/bob/mine/blobs/uploads/?mount={digest}")
    assert response.status_code == 202


def test_an_upload_alone_creates_no_listed_repository(as_alice, anonymous):
    start = as_alice.request("POST", "/v2/alice/abandoned/blobs/uploads/")
    as_alice.request("DELETE", start["Location"])
    as_alice.push_blob("alice/halfway", b"a blob and then nothing")
    assert as_alice.get("/v2/_catalog").json()["repositories"] == []
    assert anonymous.get("/v2/alice/halfway/tags/list").status_code == 401


def test_the_first_manifest_makes_the_repository_exist(as_alice, anonymous):
    as_alice.push_image("alice/app", "v1")
    assert as_alice.get("/v2/_catalog").json()["repositories"] == ["alice/app"]
    assert anonymous.get("/v2/alice/app/manifests/v1").status_code == 200


def test_purging_removes_repositories_whose_push_never_finished(as_alice, settings):
    from datetime import timedelta

    from django.utils import timezone

    from registry import services
    from registry.models import Repository, Upload

    start = as_alice.request("POST", "/v2/alice/abandoned/blobs/uploads/")
    as_alice.push_image("alice/kept", "v1")
    past = timezone.now() - timedelta(seconds=settings.BERTH_UPLOAD_TTL + 60)
    Upload.objects.update(updated_at=past)
    Repository.objects.update(created_at=past)
    services.purge_expired_uploads()
    assert list(Repository.objects.values_list("name", flat=True)) == ["alice/kept"]
    assert as_alice.request("PATCH", start["Location"], b"x").status_code == 404
