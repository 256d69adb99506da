"""skopeo against a live Berth: push with credentials, pull, inspect, list tags, delete."""

import json

import pytest

from tests.clients.cli import layout_manifest_digest, run
from tests.conftest import require_tool

pytestmark = pytest.mark.clients


@pytest.fixture(autouse=True)
def _skopeo():
    require_tool("skopeo")


def test_pushed_image_pulls_back_anonymously_with_the_same_manifest_digest(
    live_registry, client_env, build_image, push_image, tmp_path
):
    image = build_image()
    reference = push_image(image, "alice/skopeo-roundtrip:v1")
    pulled = tmp_path / "pulled"
    run(
        [
            "skopeo", "copy", "--src-tls-verify=false", "--src-no-creds",
            f"docker://{reference}", f"oci:{pulled}:v1",
        ],
        env=client_env,
    )  # fmt: skip
    assert layout_manifest_digest(pulled, "v1") == image.digest


def test_anonymous_inspect_shows_the_tag_and_the_digest(
    live_registry, client_env, build_image, push_image
):
    image = build_image(architecture="arm64")
    reference = push_image(image, "alice/skopeo-inspect:v1")
    result = run(
        ["skopeo", "inspect", "--tls-verify=false", "--no-creds", f"docker://{reference}"],
        env=client_env,
    )
    inspected = json.loads(result.stdout)
    assert inspected["Digest"] == image.digest
    assert inspected["RepoTags"] == ["v1"]
    assert inspected["Architecture"] == "arm64"


def test_list_tags_lists_every_pushed_tag(live_registry, client_env, build_image, push_image):
    image = build_image()
    for tag in ("1.0", "1.1", "latest"):
        push_image(image, f"alice/skopeo-tags:{tag}")
    result = run(
        [
            "skopeo", "list-tags", "--tls-verify=false", "--no-creds",
            f"docker://{live_registry.host}/alice/skopeo-tags",
        ],
        env=client_env,
    )  # fmt: skip
    assert sorted(json.loads(result.stdout)["Tags"]) == ["1.0", "1.1", "latest"]


def test_delete_with_credentials_removes_the_image(
    live_registry, client_env, build_image, push_image
):
    reference = push_image(build_image(), "alice/skopeo-delete:v1")
    run(
        [
            "skopeo", "delete", "--tls-verify=false",
            "--creds", live_registry.alice.creds, f"docker://{reference}",
        ],
        env=client_env,
    )  # fmt: skip
    inspect = ["skopeo", "inspect", "--tls-verify=false", "--no-creds", f"docker://{reference}"]
    result = run(inspect, env=client_env, check=False)
    assert result.returncode != 0
    assert "manifest unknown" in result.stderr


def test_anonymous_push_is_refused_and_stores_nothing(live_registry, client_env, build_image):
    destination = f"docker://{live_registry.host}/alice/skopeo-anonymous:v1"
    result = run(
        [
            "skopeo", "copy", "--dest-tls-verify=false", "--dest-no-creds",
            build_image().reference, destination,
        ],
        env=client_env,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "denied" in result.stderr
    assert "alice/skopeo-anonymous" not in live_registry.catalog(live_registry.alice)


def test_alice_cannot_push_into_bobs_namespace(live_registry, client_env, build_image):
    destination = f"docker://{live_registry.host}/bob/skopeo-intruder:v1"
    result = run(
        [
            "skopeo", "copy", "--dest-tls-verify=false",
            "--dest-creds", live_registry.alice.creds,
            build_image().reference, destination,
        ],
        env=client_env,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "denied" in result.stderr
    assert "bob/skopeo-intruder" not in live_registry.catalog(live_registry.bob)


def test_copy_between_repositories_keeps_the_manifest_digest(
    live_registry, client_env, build_image, push_image
):
    image = build_image()
    source = push_image(image, "alice/skopeo-mount-source:v1")
    destination = f"{live_registry.host}/alice/skopeo-mount-destination:v1"
    run(
        [
            "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
            "--dest-creds", live_registry.alice.creds,
            f"docker://{source}", f"docker://{destination}",
        ],
        env=client_env,
    )  # fmt: skip
    inspect = ["skopeo", "inspect", "--tls-verify=false", "--no-creds", f"docker://{destination}"]
    assert json.loads(run(inspect, env=client_env).stdout)["Digest"] == image.digest


def test_push_converted_to_docker_schema_2_pulls_back_as_docker_schema_2(
    live_registry, client_env, build_image
):
    reference = f"docker://{live_registry.host}/alice/skopeo-docker-v2:v1"
    run(
        [
            "skopeo", "copy", "--format", "v2s2", "--dest-tls-verify=false",
            "--dest-creds", live_registry.alice.creds, build_image().reference, reference,
        ],
        env=client_env,
    )  # fmt: skip
    inspect = ["skopeo", "inspect", "--raw", "--tls-verify=false", "--no-creds", reference]
    manifest = json.loads(run(inspect, env=client_env).stdout)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
