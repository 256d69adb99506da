"""Real clients pull through the cache of a live Berth, from Debian's docker-registry behind a
proxy that counts what reaches it: skopeo and podman, one platform of a multi-arch image,
and concurrent misses of one blob fetching it once."""

import base64
import json
import secrets
import shutil
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.clients.cli import layout_blob, run
from tests.conftest import require_tool
from tests.live import CREATE_STAFF, Account, manage
from tests.peers import Fault, FaultProxy, push_image, sha256, unique

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def cache_rule(live_registry, peer):
    """A rule on the live Berth: <prefix>/… caches the session's docker-registry, through a
    proxy that counts. Returns (prefix, proxy)."""
    staff = Account(f"staff{secrets.token_hex(3)}", secrets.token_urlsafe(16))
    users = json.dumps({staff.username: staff.password})
    manage(live_registry.env | {"BERTH_CLIENT_TEST_USERS": users}, "shell", "-c", CREATE_STAFF)
    prefix = f"hub{secrets.token_hex(3)}"
    with FaultProxy(peer.url) as proxy:
        status, body = live_registry.api(
            "POST",
            "/api/v1/cache-rules",
            {"prefix": prefix, "upstream": proxy.url, "allow_private_networks": True},
            account=staff,
        )
        assert status == 201, body
        yield prefix, proxy


def skopeo_copy(client_env, *args):
    require_tool("skopeo")
    return run(
        ["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *args],
        env=client_env,
    )


def upstream_image(client_env, build_image, peer, name: str, tag: str, **kwargs):
    image = build_image(tag=tag, **kwargs)
    skopeo_copy(client_env, image.reference, f"docker://{peer.host}/{name}:{tag}")
    return image


def test_skopeo_copies_an_image_through_the_cache_and_the_second_copy_stays_in_berth(
    live_registry, cache_rule, peer, build_image, client_env, tmp_path
):
    prefix, proxy = cache_rule
    name = unique("library")
    image = upstream_image(client_env, build_image, peer, name, "1.0")
    source = f"docker://{live_registry.host}/{prefix}/{name}:1.0"
    skopeo_copy(client_env, source, f"oci:{tmp_path}/first:1.0")
    fetched = proxy.count("GET", f"/v2/{name}/blobs/")
    assert fetched >= 2  # the config and the layer
    skopeo_copy(client_env, source, f"oci:{tmp_path}/second:1.0")
    assert proxy.count("GET", f"/v2/{name}/blobs/") == fetched
    index = json.loads((tmp_path / "second" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.digest


@pytest.fixture
def podman(client_env, tmp_path):
    require_tool("podman")
    runroots = Path(tempfile.mkdtemp(prefix="berth-podman-", dir="/tmp"))

    def podman(*args: str):
        storage = ["--root", f"{tmp_path}/podman", "--runroot", f"{runroots}/r"]
        storage += ["--tmpdir", f"{tmp_path}/podman-tmp", "--storage-driver", "vfs"]
        return run(["podman", *storage, *args], env=client_env)

    yield podman
    shutil.rmtree(runroots)


def test_podman_pulls_through_the_cache(
    live_registry, cache_rule, peer, build_image, client_env, podman
):
    prefix, _ = cache_rule
    name = unique("library")
    image = upstream_image(client_env, build_image, peer, name, "2.0")
    reference = f"{live_registry.host}/{prefix}/{name}:2.0"
    podman("pull", "--tls-verify=false", reference)
    pulled = json.loads(podman("image", "inspect", reference).stdout)[0]
    assert pulled["Digest"] == image.digest


def test_pulling_one_platform_caches_that_platform_only(
    live_registry, cache_rule, peer, build_image, client_env, tmp_path
):
    prefix, proxy = cache_rule
    name = unique("library")
    images = {arch: build_image(architecture=arch) for arch in ("amd64", "arm64")}
    layout = tmp_path / "multi"
    for image in images.values():
        skopeo_copy(client_env, image.reference, f"docker://{peer.host}/{name}@{image.digest}")
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.digest,
                "size": len(_manifest(peer, name, image.digest)),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for arch, image in images.items()
        ],
    }
    from tests.peers import push_manifest

    push_manifest(peer.url, name, "multi", json.dumps(index).encode(), index["mediaType"])
    source = f"docker://{live_registry.host}/{prefix}/{name}:multi"
    run(
        ["skopeo", "copy", "--src-tls-verify=false", "--override-arch", "arm64", source,
         f"oci:{layout}:multi"],
        env=client_env,
    )  # fmt: skip
    assert proxy.count("GET", f"/v2/{name}/manifests/{images['arm64'].digest}") == 1
    assert proxy.count("GET", f"/v2/{name}/manifests/{images['amd64'].digest}") == 0


def _manifest(peer, name: str, digest: str) -> bytes:
    from tests.peers import get

    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    return get(peer.url, f"/v2/{name}/manifests/{digest}", accept)[2]


def test_concurrent_misses_of_one_blob_fetch_it_once(live_registry, cache_rule, peer):
    prefix, proxy = cache_rule
    name = unique("library")
    layer = secrets.token_bytes(8_000_000)
    push_image(peer.url, name, "1.0", [layer])
    url = f"{live_registry.url}/v2/{prefix}/{name}"
    with urllib.request.urlopen(f"{url}/manifests/1.0", timeout=30) as answer:  # noqa: S310
        answer.read()
    proxy.inject(Fault(path=f"/blobs/{sha256(layer)}", delay=1.5))
    bodies: list[bytes] = []

    def pull():
        with urllib.request.urlopen(f"{url}/blobs/{sha256(layer)}", timeout=60) as answer:  # noqa: S310
            bodies.append(answer.read())

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert [len(body) for body in bodies] == [len(layer)] * 3
    assert all(body == layer for body in bodies)
    assert proxy.count("GET", f"/blobs/{sha256(layer)}") == 1


def test_a_pull_of_a_cached_repository_is_refused_for_a_push(live_registry, cache_rule, peer):
    prefix, _ = cache_rule
    name = unique("library")
    push_image(peer.url, name, "1.0", [b"layer"])
    pair = base64.b64encode(live_registry.alice.creds.encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (our URL)
        f"{live_registry.url}/v2/{prefix}/{name}/blobs/uploads/",
        method="POST",
        headers={"Authorization": f"Basic {pair}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    refused.value.close()
    assert refused.value.code == 403


def test_oras_pulls_an_artifact_through_the_cache(
    live_registry, cache_rule, peer, tmp_path, monkeypatch
):
    """An OCI artifact (a policy file) pushed upstream with oras comes through the cache to
    an anonymous oras client byte for byte, and a second pull stays in Berth."""
    import oras.client

    prefix, proxy = cache_rule
    monkeypatch.setenv("HOME", str(tmp_path))  # oras keeps ~/.docker/config.json
    policy = tmp_path / "policy.rego"
    policy.write_text(f"package berth\n# {secrets.token_hex(8)}\n")
    config = tmp_path / "config.json"
    config.write_text("{}")
    name = unique("policies")
    oras.client.OrasClient(insecure=True).push(
        f"{peer.host}/{name}:v1",
        files=[f"{policy}:application/vnd.berth.test.file.v1+text"],
        manifest_config=f"{config}:application/vnd.berth.test.config.v1+json",
        disable_path_validation=True,
    )
    visitor = oras.client.OrasClient(insecure=True)
    target = f"{live_registry.host}/{prefix}/{name}:v1"
    first = visitor.pull(target, outdir=str(tmp_path / "first"))
    assert [Path(path).read_bytes() for path in first] == [policy.read_bytes()]
    fetched = proxy.count("GET", f"/v2/{name}/blobs/")
    second = visitor.pull(target, outdir=str(tmp_path / "second"))
    assert [Path(path).read_bytes() for path in second] == [policy.read_bytes()]
    assert proxy.count("GET", f"/v2/{name}/blobs/") == fetched


def test_docker_manifest_inspect_reads_a_cached_image(
    live_registry, cache_rule, peer, build_image, client_env
):
    """The docker CLI (no engine: the manifest commands) resolves a tag through the cache."""
    require_tool("docker")
    prefix, _ = cache_rule
    name = unique("library")
    image = upstream_image(client_env, build_image, peer, name, "2.0")
    reference = f"{live_registry.host}/{prefix}/{name}:2.0"
    result = run(["docker", "manifest", "inspect", "--insecure", reference], env=client_env)
    assert json.loads(result.stdout) == json.loads(layout_blob(image.layout, image.digest))
