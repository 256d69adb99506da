"""Publishing with real clients for the browser tests: umoci builds, skopeo, podman and oras push.

The fixtures in tests/live.py are per test (they live in tmp_path); the browser tests publish
once per package, so this module does the same steps in a directory of its own.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import oras.client
import oras.oci
import pytest

from tests.clients.cli import layout_manifest_digest, run
from tests.live import Image, LiveRegistry, make_client_env

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
INDEX_TIMEOUT = 15.0  # catalog indexing runs on a Celery worker when REDIS_URL is set


@dataclass
class Clients:
    """alice's real clients, working in `base`."""

    registry: LiveRegistry
    base: Path
    env: dict[str, str]
    runroot: Path  # podman refuses a runroot longer than 50 characters

    def build(
        self, *, architecture: str = "amd64", tag: str = "latest", labels: dict | None = None
    ) -> Image:
        """A one-layer image with unique content, as tests.live.build_image makes it."""
        name = uuid.uuid4().hex
        layout, image = self.base / f"layout-{name}", f"{self.base}/layout-{name}:{tag}"
        payload = f"berth browser test {name}\n"
        source = self.base / f"payload-{name}.txt"
        source.write_text(payload)
        run(["umoci", "init", "--layout", str(layout)], env=self.env)
        run(["umoci", "new", "--image", image], env=self.env)
        run(["umoci", "insert", "--image", image, str(source), "/berth-test.txt"], env=self.env)
        config = ["--config.cmd", "/bin/true", "--architecture", architecture, "--os", "linux"]
        for key, value in (labels or {}).items():
            config += ["--config.label", f"{key}={value}"]
        run(["umoci", "config", "--image", image, *config], env=self.env)
        return Image(layout, tag, layout_manifest_digest(layout, tag), architecture, payload)

    def build_from(self, trees: list[tuple[Path, str]], *, architecture: str = "amd64") -> Image:
        """An image of one umoci layer per (directory, where it goes in the image)."""
        name = uuid.uuid4().hex
        layout, tag = self.base / f"layout-{name}", "latest"
        image = f"{layout}:{tag}"
        run(["umoci", "init", "--layout", str(layout)], env=self.env)
        run(["umoci", "new", "--image", image], env=self.env)
        for source, target in trees:
            run(["umoci", "insert", "--image", image, str(source), target], env=self.env)
        config = ["--config.cmd", "/bin/sh", "--architecture", architecture, "--os", "linux"]
        run(["umoci", "config", "--image", image, *config], env=self.env)
        return Image(layout, tag, layout_manifest_digest(layout, tag), architecture, "")

    def push(self, image: Image, destination: str) -> str:
        """skopeo copy to `destination` (alice/repo:tag or alice/repo@digest)."""
        reference = f"{self.registry.host}/{destination}"
        run(
            [
                "skopeo", "copy", "--dest-tls-verify=false",
                "--dest-creds", self.registry.alice.creds,
                image.reference, f"docker://{reference}",
            ],
            env=self.env,
        )  # fmt: skip
        return reference

    def podman(self, *args: str):
        storage = ["--root", f"{self.base}/podman", "--runroot", str(self.runroot)]
        storage += ["--tmpdir", f"{self.base}/podman-tmp", "--storage-driver", "vfs"]
        return run(["podman", *storage, *args], env=self.env)

    def push_index(self, children: list[str], destination: str) -> str:
        """podman manifest create/add/push --all: an index of `children`; its digest."""
        listname = f"list-{uuid.uuid4().hex[:8]}"
        self.podman("manifest", "create", listname)
        for child in children:
            self.podman("manifest", "add", "--tls-verify=false", listname, f"docker://{child}")
        digestfile = self.base / f"{listname}.digest"
        self.podman(
            "manifest", "push", "--all", "--tls-verify=false",
            "--creds", self.registry.alice.creds, "--digestfile", str(digestfile),
            listname, f"docker://{self.registry.host}/{destination}",
        )  # fmt: skip
        return digestfile.read_text().strip()

    def oras(self):
        """The oras library logged in as alice (Basic on /v2/; its token flow cannot push)."""
        account = self.registry.alice
        client = oras.client.OrasClient(
            hostname=self.registry.host, insecure=True, auth_backend="basic"
        )
        client.login(
            account.username,
            account.password,
            hostname=self.registry.host,
            config_path=str(self.base / "oras-config.json"),
        )
        return client

    def push_signature(self, repository: str, digest: str) -> None:
        """What `cosign sign` pushes in its tag scheme: an image config with an empty platform
        and a simplesigning layer, tagged sha256-<hex>.sig (cosign is not on these machines)."""
        config = self.base / f"sig-config-{uuid.uuid4().hex}.json"
        config.write_text(json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers"}}))
        payload = self.base / f"sig-{uuid.uuid4().hex}.json"
        payload.write_text(json.dumps({"critical": {"image": {"docker-manifest-digest": digest}}}))
        tag = digest.replace(":", "-") + ".sig"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", self.env["HOME"])
            response = self.oras().push(
                f"{self.registry.host}/{repository}:{tag}",
                files=[f"{payload}:{COSIGN_SIMPLESIGNING}"],
                manifest_config=f"{config}:application/vnd.oci.image.config.v1+json",
                disable_path_validation=True,
            )
        assert response.status_code == 201, response.text

    def attach_sbom(self, repository: str, digest: str) -> None:
        """An SPDX SBOM attached to `digest` with a subject, as `oras attach` does."""
        sbom = self.base / f"sbom-{uuid.uuid4().hex}.spdx.json"
        sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": repository}))
        status, body = self.registry.get(
            f"/v2/{repository}/manifests/{digest}", account=self.registry.alice
        )
        assert status == 200, body
        media_type = (
            json.loads(body).get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
        )
        subject = oras.oci.Subject(media_type, digest, len(body))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", self.env["HOME"])
            response = self.oras().push(
                f"{self.registry.host}/{repository}:sbom",
                files=[f"{sbom}:application/spdx+json"],
                subject=subject,
                disable_path_validation=True,
            )
        assert response.status_code == 201, response.text

    def push_chart(self, name: str, version: str, description: str) -> None:
        """A Helm chart as `helm push` stores it, pushed with the oras library."""
        chart = self.base / f"{name}-{version}.tgz"
        chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()
        with tarfile.open(chart, "w:gz") as archive:
            info = tarfile.TarInfo(f"{name}/Chart.yaml")
            info.size = len(chart_yaml)
            archive.addfile(info, io.BytesIO(chart_yaml))
        config = self.base / f"{name}-config.json"
        config.write_text(
            json.dumps(
                {"apiVersion": "v2", "name": name, "version": version, "description": description}
            )
        )
        account = self.registry.alice
        # oras reads ~/.docker/config.json: keep it away from the developer's.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", self.env["HOME"])
            client = oras.client.OrasClient(
                hostname=self.registry.host, insecure=True, auth_backend="basic"
            )
            client.login(
                account.username,
                account.password,
                hostname=self.registry.host,
                config_path=str(self.base / "oras-config.json"),
            )
            response = client.push(
                f"{self.registry.host}/{account.username}/{name}:{version}",
                files=[f"{chart}:{HELM_CHART}"],
                manifest_config=f"{config}:{HELM_CONFIG}",
                disable_path_validation=True,
            )
        assert response.status_code == 201, response.text


@contextmanager
def real_clients(registry: LiveRegistry, base: Path) -> Iterator[Clients]:
    runroot = Path(tempfile.mkdtemp(prefix="berth-browser-", dir="/tmp"))
    try:
        yield Clients(registry, base, make_client_env(base), runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def wait_for_page(
    registry: LiveRegistry, path: str, ready: Callable[[str], bool], timeout: float = INDEX_TIMEOUT
) -> str:
    """GET `path` until `ready(html)`: the catalog is indexed in the background."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = registry.get(path)
        html = body.decode(errors="replace")
        if status == 200 and ready(html):
            return html
        if time.monotonic() > deadline:
            pytest.fail(f"{path} not ready after {timeout} s (status {status})", pytrace=False)
        time.sleep(0.25)
