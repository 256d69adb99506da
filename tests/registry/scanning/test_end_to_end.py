"""Real images, pushed with skopeo to a live Berth, scanned on push.

A Debian bookworm root filesystem made by `debootstrap --variant=minbase` (cached between
runs in ~/.cache/berth-debootstrap/<suite>, or BERTH_DEBOOTSTRAP_CACHE), with a Python
site-packages, an npm project and a Go binary (umoci itself) on top; and an Alpine-style
image with an apk database. Both are built with umoci (whose layers end without
end-of-archive blocks) and scanned against the real OSV records of osv/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clients.cli import run
from tests.conftest import IN_CI, require_tool

from .conftest import OSV
from .kit import ALPINE_OS_RELEASE, apk_entry, npm_package, python_metadata

pytestmark = pytest.mark.clients

ROOT = Path(__file__).resolve().parents[3]
SUITE = "bookworm"
MIRROR = os.environ.get("BERTH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("BERTH_DEBOOTSTRAP_CACHE", Path.home() / ".cache/berth-debootstrap"))
SCAN_TIMEOUT = 180


def debootstrap_rootfs(suite: str = SUITE) -> Path:
    """A minbase root filesystem of `suite`, made once and kept in the cache."""
    target = CACHE / suite
    if (target / "var/lib/dpkg/status").exists():
        return target
    require_tool("debootstrap")
    if os.geteuid() != 0:
        reason = "debootstrap needs root (CI runs as root)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    partial = CACHE / f"{suite}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    argv = ["debootstrap", "--variant=minbase", suite, str(partial), MIRROR]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    partial.rename(target)
    return target


def umoci_image(tmp_path: Path, env, name: str, inserts: list[tuple[Path, str]]) -> str:
    """An OCI layout with one umoci-made layer per insert; returns the skopeo reference."""
    layout = tmp_path / f"layout-{name}"
    image = f"{layout}:latest"
    run(["umoci", "init", "--layout", str(layout)], env=env)
    run(["umoci", "new", "--image", image], env=env)
    for source, target in inserts:
        run(["umoci", "insert", "--image", image, str(source), target], env=env)
    config = ["--architecture", "amd64", "--os", "linux", "--config.cmd", "/bin/sh"]
    run(["umoci", "config", "--image", image, *config], env=env)
    return f"oci:{image}"


def python_site(base: Path) -> Path:
    site = base / "site-packages"
    for name, version in (("requests", "2.31.0"), ("Jinja2", "3.1.2")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_bytes(python_metadata(name, version))
        (info / "RECORD").write_text("")
    return site


def npm_project(base: Path) -> Path:
    app = base / "app"
    for name, version in (("lodash", "4.17.20"), ("minimist", "1.2.5")):
        package = app / "node_modules" / name
        package.mkdir(parents=True)
        (package / "package.json").write_bytes(npm_package(name, version))
    (app / "package.json").write_bytes(npm_package("app", "1.0.0"))
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/lodash": {"version": "4.17.20"},
            "node_modules/minimist": {"version": "1.2.5"},
        },
    }
    (app / "package-lock.json").write_text(json.dumps(lock))
    return app


def alpine_root(base: Path) -> Path:
    root = base / "alpine"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_bytes(ALPINE_OS_RELEASE)
    (root / "etc/alpine-release").write_text("3.19.1\n")
    (root / "lib/apk/db").mkdir(parents=True)
    installed = "\n".join(
        [
            apk_entry("musl", "1.2.4_git20230717-r4"),
            apk_entry("busybox", "1.36.1-r15"),
            apk_entry("libcrypto3", "3.1.4-r1", "openssl"),
            apk_entry("libssl3", "3.1.4-r1", "openssl"),
        ]
    )
    (root / "lib/apk/db/installed").write_text(installed)
    return root


def manage(registry, *args: str) -> str:
    argv = [sys.executable, "manage.py", *args]
    result = subprocess.run(
        argv, cwd=ROOT, env=registry.env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def report(registry, reference: str) -> dict:
    """The image's scan, once its first platform is done or failed."""
    deadline = time.monotonic() + SCAN_TIMEOUT
    while time.monotonic() < deadline:
        document = json.loads(manage(registry, "scan_images", "--report", reference))
        if document["platforms"] and document["platforms"][0]["status"] in ("done", "failed"):
            return document
        time.sleep(0.5)
    pytest.fail(f"{reference} was not scanned within {SCAN_TIMEOUT} s")


def pairs(document: dict) -> dict[tuple[str, str], dict]:
    return {(f["package"], f["advisory_id"]): f for f in document["findings"]}


def push(registry, env, reference: str, destination: str) -> None:
    run(
        [
            "skopeo", "copy", "--dest-tls-verify=false",
            "--dest-creds", registry.alice.creds,
            reference, f"docker://{registry.host}/{destination}",
        ],
        env=env,
    )  # fmt: skip


def test_real_images_pushed_with_skopeo_are_scanned_on_push(live_registry, client_env, tmp_path):
    require_tool("umoci", "skopeo")
    rootfs = debootstrap_rootfs()
    manage(live_registry, "import_advisories", str(OSV))

    umoci = Path(shutil.which("umoci"))
    debian = umoci_image(
        tmp_path,
        client_env,
        "debian",
        [
            (rootfs, "/"),
            (python_site(tmp_path), "/usr/local/lib/python3.11/site-packages"),
            (npm_project(tmp_path), "/srv/app"),
            (umoci, "/usr/local/bin/umoci"),
        ],
    )
    alpine = umoci_image(tmp_path, client_env, "alpine", [(alpine_root(tmp_path), "/")])
    push(live_registry, client_env, debian, "alice/debian:bookworm")
    push(live_registry, client_env, alpine, "alice/alpine:3.19")

    document = report(live_registry, "alice/debian:bookworm")
    [platform] = document["platforms"]
    assert (platform["status"], platform["platform"]) == ("done", "linux/amd64"), platform
    assert platform["distribution"] == "debian 12"
    found = pairs(document)
    assert ("coreutils", "DEBIAN-CVE-2016-2781") in found
    assert ("apt", "DEBIAN-CVE-2011-3374") in found
    assert ("libapt-pkg6.0", "DEBIAN-CVE-2011-3374") in found
    assert not any(package == "tar" for package, _ in found)  # fixed in bookworm's tar
    assert found[("requests", "GHSA-9wx4-h78v-vm56")]["fixed_version"] == "2.32.0"
    assert found[("Jinja2", "GHSA-h5c8-rqwp-cp95")]["severity"] == "medium"
    assert (
        found[("lodash", "GHSA-35jh-r3h4-6jhm")]["path"]
        == "/srv/app/node_modules/lodash/package.json"
    )
    assert found[("minimist", "GHSA-xvch-5gv4-984h")]["severity"] == "critical"
    assert found[("stdlib", "GO-2023-1751")]["path"] == "/usr/local/bin/umoci"
    # Each package is attributed to the umoci layer that brought it.
    layers = {f["layer_digest"] for f in document["findings"]}
    assert len(layers) == 4

    document = report(live_registry, "alice/alpine:3.19")
    found = pairs(document)
    assert found[("libcrypto3", "ALPINE-CVE-2024-0727")]["fixed_version"] == "3.1.4-r5"
    assert ("libssl3", "ALPINE-CVE-2024-0727") in found
    assert document["platforms"][0]["distribution"] == "alpine 3.19.1"
