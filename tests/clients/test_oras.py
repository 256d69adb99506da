"""The oras Python library against a live Berth: artifacts, artifactType, referrers.

oras-py's default ("token") auth backend takes the scope from the first 401 only and then
reuses that pull-only token for the upload, so publishers use auth_backend="basic", which
sends HTTP Basic credentials straight to /v2/ (Berth accepts them there).
"""

import json
import uuid
from pathlib import Path

import oras.client
import oras.oci
import pytest

from tests.clients.cli import layout_blob

pytestmark = pytest.mark.clients

ARTIFACT_TYPE = "application/vnd.berth.test.artifact.v1"
FILE_TYPE = "application/vnd.berth.test.file.v1+text"
CONFIG_TYPE = "application/vnd.berth.test.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}


@pytest.fixture
def publisher(live_registry, tmp_path, monkeypatch):
    """An oras client logged in as alice; its docker config lives in tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path))  # oras reads and writes ~/.docker/config.json
    client = oras.client.OrasClient(
        hostname=live_registry.host, insecure=True, auth_backend="basic"
    )
    account = live_registry.alice
    client.login(account.username, account.password, hostname=live_registry.host)
    return client


@pytest.fixture
def visitor(tmp_path, monkeypatch):
    """An anonymous oras client with the default settings."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return oras.client.OrasClient(insecure=True)


@pytest.fixture
def artifact(tmp_path) -> Path:
    path = tmp_path / "policy.rego"
    path.write_text(f"package berth\n# {uuid.uuid4().hex}\n")
    return path


@pytest.fixture
def config(tmp_path) -> Path:
    """The empty JSON object: the config of artifacts that need none."""
    path = tmp_path / "config.json"
    path.write_text("{}")
    return path


def test_pushed_artifact_pulls_back_anonymously_with_the_same_content(
    live_registry, publisher, visitor, artifact, config, tmp_path
):
    target = f"{live_registry.host}/alice/oras-artifact:v1"
    publisher.push(
        target,
        files=[f"{artifact}:{FILE_TYPE}"],
        manifest_config=f"{config}:{CONFIG_TYPE}",
        disable_path_validation=True,
    )
    pulled = visitor.pull(target, outdir=str(tmp_path / "pulled"))
    assert [Path(path).read_bytes() for path in pulled] == [artifact.read_bytes()]
    assert visitor.get_manifest(target)["config"]["mediaType"] == CONFIG_TYPE


def test_artifact_type_and_file_survive_the_round_trip(
    live_registry, publisher, visitor, artifact, config, tmp_path
):
    target = f"{live_registry.host}/alice/oras-artifact-type:v1"
    container = publisher.get_container(target)
    layer = oras.oci.NewLayer(str(artifact), media_type=FILE_TYPE)
    layer["annotations"] = {"org.opencontainers.image.title": artifact.name}
    for path, descriptor in ((artifact, layer), (config, EMPTY)):
        assert publisher.upload_blob(str(path), container, descriptor).ok
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE}
    manifest |= {"config": EMPTY, "layers": [layer]}
    assert publisher.upload_manifest(manifest, container).status_code == 201
    assert visitor.get_manifest(target)["artifactType"] == ARTIFACT_TYPE
    pulled = visitor.pull(target, outdir=str(tmp_path / "pulled"))
    assert [Path(path).read_bytes() for path in pulled] == [artifact.read_bytes()]


def test_artifact_pushed_with_an_image_as_subject_is_listed_by_the_referrers_api(
    live_registry, publisher, artifact, config, build_image, push_image
):
    image = build_image()
    push_image(image, "alice/oras-subject:v1")
    size = len(layout_blob(image.layout, image.digest))
    publisher.push(
        f"{live_registry.host}/alice/oras-subject:sbom",
        files=[f"{artifact}:{FILE_TYPE}"],
        manifest_config=f"{config}:{CONFIG_TYPE}",
        subject=oras.oci.Subject(OCI_MANIFEST, image.digest, size),
        disable_path_validation=True,
    )
    status, body = live_registry.get(f"/v2/alice/oras-subject/referrers/{image.digest}")
    assert status == 200
    assert [referrer["artifactType"] for referrer in json.loads(body)["manifests"]] == [CONFIG_TYPE]


def test_push_and_pull_with_an_access_token_as_the_password(
    live_registry, artifact, config, tmp_path, monkeypatch
):
    """A CI job: oras with basic auth and a token in place of the password."""
    monkeypatch.setenv("HOME", str(tmp_path))
    status, body = live_registry.api(
        "POST", "/api/v1/tokens", {"name": "oras", "scopes": ["pull", "push"]},
        account=live_registry.alice,
    )  # fmt: skip
    assert status == 201, body
    client = oras.client.OrasClient(
        hostname=live_registry.host, insecure=True, auth_backend="basic"
    )
    client.login("alice", body["token"], hostname=live_registry.host)
    target = f"{live_registry.host}/alice/oras-token:v1"
    response = client.push(
        target,
        files=[f"{artifact}:{FILE_TYPE}"],
        manifest_config=f"{config}:{CONFIG_TYPE}",
        disable_path_validation=True,
    )
    assert response.status_code == 201
    status, _ = live_registry.api(
        "PATCH", "/api/v1/repositories/alice/oras-token", {"visibility": "private"},
        account=live_registry.alice,
    )  # fmt: skip
    assert status == 200
    assert live_registry.get("/v2/alice/oras-token/manifests/v1")[0] == 401  # to the anonymous
    pulled = client.pull(target, outdir=str(tmp_path / "pulled"))
    assert [Path(path).read_bytes() for path in pulled] == [artifact.read_bytes()]
    status, body = live_registry.api("GET", "/api/v1/tokens", account=live_registry.alice)
    assert next(t for t in body if t["name"] == "oras")["last_used"]
