import json

import pytest

from registry import mediatypes, pulls, services
from registry.models import PullCount, Repository, Tag
from tests.oci import RegistryClient, error_codes, image_manifest, sha256
from tests.races import finish, meanwhile, needs_two_connections

pytestmark = pytest.mark.django_db


def test_get_by_tag_and_by_digest_returns_exactly_the_pushed_bytes(as_alice):
    digest, body = as_alice.push_image("alice/app", "v1")
    for reference in ("v1", digest):
        response = as_alice.get(f"/v2/alice/app/manifests/{reference}")
        assert response.status_code == 200
        assert response.content == body
        assert response["Content-Type"] == mediatypes.OCI_MANIFEST
        assert response["Docker-Content-Digest"] == digest == sha256(body)


def test_put_answers_201_with_location_and_digest(as_alice):
    config, layer = as_alice.push_blob("alice/app", b"{}x"), as_alice.push_blob("alice/app", b"l")
    body = json.dumps(image_manifest((config, 3), [(layer, 1)])).encode()
    response = as_alice.push_manifest("alice/app", "latest", body)
    assert response.status_code == 201
    assert response["Location"] == f"/v2/alice/app/manifests/{sha256(body)}"


def test_head_returns_length_and_digest_without_a_body(as_alice):
    digest, body = as_alice.push_image("alice/app", "v1")
    response = as_alice.head("/v2/alice/app/manifests/v1")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(body))
    assert response["Docker-Content-Digest"] == digest
    assert response.content == b""


def test_unknown_tag_is_manifest_unknown_and_unknown_repository_is_name_unknown(as_alice):
    as_alice.push_image("alice/app", "v1")
    assert error_codes(as_alice.get("/v2/alice/app/manifests/v2")) == ["MANIFEST_UNKNOWN"]
    assert error_codes(as_alice.get("/v2/alice/none/manifests/v1")) == ["NAME_UNKNOWN"]


def test_each_missing_blob_is_reported_as_manifest_blob_unknown(as_alice, settings):
    settings.BERTH_SPARSE_MANIFESTS = False  # the strict mode; sparse manifests are the default
    missing = [sha256(b"config"), sha256(b"layer")]
    manifest = image_manifest((missing[0], 6), [(missing[1], 5)])
    response = as_alice.push_manifest("alice/app", "v1", manifest)
    assert response.status_code == 400
    details = [e["detail"]["digest"] for e in json.loads(response.content)["errors"]]
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"] * 2
    assert details == missing


def test_descriptor_size_must_match_the_blob(as_alice):
    config = as_alice.push_blob("alice/app", b"config")
    response = as_alice.push_manifest("alice/app", "v1", image_manifest((config, 99), []))
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_put_by_digest_whose_body_hashes_differently_is_digest_invalid(as_alice):
    _, body = as_alice.push_image("alice/app", "v1")
    response = as_alice.push_manifest("alice/app", sha256(b"other"), body)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


def test_put_by_digest_stores_an_untagged_manifest(as_alice):
    _, body = as_alice.push_image("alice/app", "v1", layer=b"a")
    assert as_alice.push_manifest("alice/app", sha256(body), body).status_code == 201


def test_media_type_must_agree_with_content_type(as_alice):
    _, body = as_alice.push_image("alice/app", "v1")
    response = as_alice.push_manifest("alice/app", "v2", body, media_type=mediatypes.OCI_INDEX)
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_malformed_json_is_manifest_invalid(as_alice):
    response = as_alice.push_manifest("alice/app", "v1", b"{not json")
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize("version", [2.0, "2", True, 1, None])
def test_a_schema_version_other_than_the_integer_2_is_manifest_invalid(as_alice, version):
    config = as_alice.push_blob("alice/app", b"{}")
    manifest = image_manifest((config, 2), [], schemaVersion=version)
    response = as_alice.push_manifest("alice/app", "v1", manifest)
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_invalid_tag_is_manifest_invalid(as_alice):
    _, body = as_alice.push_image("alice/app", "v1")
    response = as_alice.push_manifest("alice/app", "-bad", body)
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_manifest_over_the_size_limit_is_413(as_alice, settings):
    settings.BERTH_MANIFEST_MAX_BYTES = 4096
    response = as_alice.push_manifest("alice/app", "big", b" " * 5000)
    assert response.status_code == 413
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_docker_schema2_manifest_and_manifest_list(as_alice):
    config = b'{"architecture":"arm64","os":"linux"}'
    manifest = image_manifest(
        (as_alice.push_blob("alice/app", config), len(config)),
        [(as_alice.push_blob("alice/app", b"layer"), 5)],
        media_type=mediatypes.DOCKER_MANIFEST,
        config_type=mediatypes.DOCKER_CONFIG,
    )
    body = json.dumps(manifest).encode()
    child = as_alice.push_manifest("alice/app", "arm64", body, mediatypes.DOCKER_MANIFEST)
    assert child.status_code == 201
    manifest_list = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mediatypes.DOCKER_MANIFEST,
                "digest": sha256(body),
                "size": len(body),
                "platform": {"architecture": "arm64", "os": "linux"},
            }
        ],
    }
    response = as_alice.push_manifest(
        "alice/app", "multi", manifest_list, mediatypes.DOCKER_MANIFEST_LIST
    )
    assert response.status_code == 201
    assert (
        as_alice.get("/v2/alice/app/manifests/multi")["Content-Type"]
        == mediatypes.DOCKER_MANIFEST_LIST
    )


def test_index_with_a_missing_child_is_rejected(as_alice, settings):
    settings.BERTH_SPARSE_MANIFESTS = False
    index = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(b"child"), "size": 5}
        ],
    }
    response = as_alice.push_manifest("alice/app", "multi", index, mediatypes.OCI_INDEX)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


def test_artifact_with_empty_config_needs_no_config_upload(as_alice):
    layer = as_alice.push_blob("alice/art", b"payload")
    artifact = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": "application/vnd.example.policy.v1",
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": sha256(b"{}"), "size": 2},
        "layers": [
            {"mediaType": "application/vnd.example.policy.layer", "digest": layer, "size": 7}
        ],
    }
    assert as_alice.push_manifest("alice/art", "v1", artifact).status_code == 201
    assert as_alice.head(f"/v2/alice/art/blobs/{sha256(b'{}')}").status_code == 200


def test_manifest_with_a_subject_answers_with_oci_subject(as_alice):
    subject, body = as_alice.push_image("alice/app", "v1")
    _, _ = as_alice.push_image(
        "alice/app",
        "sig",
        layer=b"signature",
        subject={"mediaType": mediatypes.OCI_MANIFEST, "digest": subject, "size": len(body)},
    )
    response = as_alice.push_manifest(
        "alice/app", "sig2", json.loads(as_alice.get("/v2/alice/app/manifests/sig").content)
    )
    assert response["OCI-Subject"] == subject


def test_deleting_a_tag_removes_only_the_tag(as_alice):
    digest, _ = as_alice.push_image("alice/app", "v1")
    as_alice.push_manifest(
        "alice/app", "v1-alias", as_alice.get("/v2/alice/app/manifests/v1").content
    )
    assert as_alice.request("DELETE", "/v2/alice/app/manifests/v1").status_code == 202
    assert as_alice.head("/v2/alice/app/manifests/v1").status_code == 404
    assert as_alice.head(f"/v2/alice/app/manifests/{digest}").status_code == 200
    assert as_alice.head("/v2/alice/app/manifests/v1-alias").status_code == 200


def test_deleting_a_manifest_by_digest_removes_its_tags(as_alice):
    digest, _ = as_alice.push_image("alice/app", "v1")
    assert as_alice.request("DELETE", f"/v2/alice/app/manifests/{digest}").status_code == 202
    assert as_alice.head("/v2/alice/app/manifests/v1").status_code == 404
    assert as_alice.head(f"/v2/alice/app/manifests/{digest}").status_code == 404


def test_deleting_an_unknown_manifest_is_manifest_unknown(as_alice):
    as_alice.push_image("alice/app", "v1")
    response = as_alice.request("DELETE", "/v2/alice/app/manifests/nope")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


@pytest.mark.django_db(transaction=True)
def test_a_manifest_deleted_while_a_push_tags_it_ends_in_one_order(alice, monkeypatch):
    needs_two_connections()
    client = RegistryClient("alice")
    digest, body = client.push_image("alice/app", "v1")
    assert client.request("DELETE", "/v2/alice/app/manifests/v1").status_code == 202
    deletes = []

    def delete():
        deletes.append(
            RegistryClient("alice").request("DELETE", f"/v2/alice/app/manifests/{digest}")
        )

    # Another request deletes the manifest after this push found it, before its tag.
    threads = meanwhile(monkeypatch, Tag.objects, "update_or_create", delete)
    response = client.push_manifest("alice/app", "v1", body)
    finish(threads)
    assert (response.status_code, deletes[0].status_code) == (201, 202)
    assert client.get("/v2/alice/app/manifests/v1").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("moment", "status"),
    [("before the push takes the repository", 404), ("as the push points its tag", 201)],
)
def test_a_repository_deleted_during_a_push_ends_in_one_order(alice, monkeypatch, moment, status):
    needs_two_connections()
    client = RegistryClient("alice")
    _, body = client.push_image("alice/app", "v1")
    target, name = (
        (services.manifests, "parse")
        if moment.startswith("before")
        else (Tag.objects, "update_or_create")
    )

    def delete():
        services.delete_repository(repository=Repository.objects.get(name="alice/app"))

    threads = meanwhile(monkeypatch, target, name, delete)
    monkeypatch.setattr(services, "notify", lambda event: None)  # the registry's part only
    assert client.push_manifest("alice/app", "v2", body).status_code == status
    finish(threads)
    assert not Repository.objects.filter(name="alice/app").exists()


def test_retagging_moves_the_tag(as_alice):
    as_alice.push_image("alice/app", "latest", layer=b"one")
    second, _ = as_alice.push_image("alice/app", "latest", layer=b"two")
    assert as_alice.head("/v2/alice/app/manifests/latest")["Docker-Content-Digest"] == second


def test_manifest_gets_are_counted_as_pulls_in_batches(as_alice, settings):
    settings.BERTH_PULL_COUNT_WINDOW = 0  # every GET counts
    as_alice.push_image("alice/app", "v1")
    for _ in range(3):
        as_alice.get("/v2/alice/app/manifests/v1")
    as_alice.head("/v2/alice/app/manifests/v1")
    assert not PullCount.objects.exists()
    pulls.flush()
    assert PullCount.objects.get().count == 3


def test_pull_counts_are_written_once_enough_pulls_pile_up(as_alice, monkeypatch, settings):
    settings.BERTH_PULL_COUNT_WINDOW = 0  # every GET counts
    monkeypatch.setattr(pulls, "FLUSH_PULLS", 3)
    as_alice.push_image("alice/app", "v1")
    for _ in range(3):
        as_alice.get("/v2/alice/app/manifests/v1")
    assert PullCount.objects.get().count == 3


def test_a_loop_of_anonymous_gets_counts_as_one_pull(as_alice, anonymous):
    as_alice.push_image("alice/app", "v1")
    for _ in range(200):
        anonymous.get("/v2/alice/app/manifests/v1")
    pulls.flush()
    assert PullCount.objects.get().count == 1


def test_separate_client_sessions_each_count(as_alice, anonymous):
    import json

    as_alice.push_image("alice/app", "v1")
    for _ in range(3):  # each run of a client fetches its own token
        token = json.loads(anonymous.get("/token?scope=repository:alice/app:pull").content)["token"]
        anonymous.get("/v2/alice/app/manifests/v1", headers={"Authorization": f"Bearer {token}"})
    pulls.flush()
    assert PullCount.objects.get().count == 3


def test_an_index_and_its_child_fetched_by_one_client_are_one_pull(as_alice, anonymous):
    from tests.oci import push_index

    push_index(as_alice, "alice/multi", "v1", ["amd64", "arm64"])
    index = anonymous.get("/v2/alice/multi/manifests/v1").json()
    anonymous.get(f"/v2/alice/multi/manifests/{index['manifests'][0]['digest']}")
    pulls.flush()
    assert sum(PullCount.objects.values_list("count", flat=True)) == 1
