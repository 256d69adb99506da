"""podman against a live Berth: anonymous pulls and multi-architecture indexes."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.clients.cli import run
from tests.conftest import require_tool

pytestmark = pytest.mark.clients


@pytest.fixture
def podman(client_env, tmp_path):
    """podman(store, *args): podman with its own image store, named `store`, for this test."""
    require_tool("podman")
    # podman refuses a runroot longer than 50 characters; tmp_path is longer.
    runroots = Path(tempfile.mkdtemp(prefix="berth-podman-", dir="/tmp"))

    def podman(store: str, *args: str):
        storage = ["--root", f"{tmp_path}/podman/{store}", "--runroot", f"{runroots}/{store}"]
        storage += ["--tmpdir", f"{tmp_path}/podman/{store}-tmp", "--storage-driver", "vfs"]
        return run(["podman", *storage, *args], env=client_env)

    yield podman
    shutil.rmtree(runroots)


def inspect(podman, store: str, reference: str) -> dict:
    return json.loads(podman(store, "image", "inspect", reference).stdout)[0]


def test_anonymous_pull_stores_the_pushed_image(build_image, push_image, podman):
    image = build_image()
    reference = push_image(image, "alice/podman-pull:v1")
    podman("pull", "pull", "--tls-verify=false", reference)
    pulled = inspect(podman, "pull", reference)
    assert pulled["Digest"] == image.digest
    assert pulled["RepoTags"] == [reference]


def test_pull_of_a_multi_arch_index_picks_the_requested_architecture(
    live_registry, build_image, push_image, podman
):
    images = [build_image(architecture=arch) for arch in ("amd64", "arm64")]
    children = [push_image(image, f"alice/podman-multi@{image.digest}") for image in images]
    podman("build", "manifest", "create", "multi-list")
    for child in children:
        podman("build", "manifest", "add", "--tls-verify=false", "multi-list", f"docker://{child}")
    reference = f"{live_registry.host}/alice/podman-multi:1.0"
    podman(
        "build", "manifest", "push", "--all", "--tls-verify=false",
        "--creds", live_registry.alice.creds, "multi-list", f"docker://{reference}",
    )  # fmt: skip
    podman("pull", "pull", "--tls-verify=false", "--arch", "arm64", reference)
    pulled = inspect(podman, "pull", reference)
    assert pulled["Architecture"] == "arm64"
    # podman's "Digest" is the index's; the arm64 manifest's is among the RepoDigests.
    assert f"{live_registry.host}/alice/podman-multi@{images[1].digest}" in pulled["RepoDigests"]
