"""Browser tests: Playwright's sync API driving Debian's Chromium against the live server.

The browser lives for this package only, not the session: while Playwright runs, its event
loop counts as running in the main thread, and Django refuses database access from there
(SynchronousOnlyOperation), which would break every database test collected after these.

What the tests look at is published once, with real clients (umoci, skopeo, podman, oras),
and its catalog pages are written by alice in the browser (`published`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.pages import edit_catalog, sign_in
from tests.browser.publish import real_clients, wait_for_page
from tests.conftest import require_tool
from tests.live import Account, LiveRegistry, manage
from tests.registry.scanning.conftest import OSV
from tests.registry.scanning.kit import ALPINE_OS_RELEASE, apk_entry, npm_package, python_metadata

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}

WEBAPP_DESCRIPTION = "A tiny web application for amd64 and arm64"
WEBAPP_README = """\
# Webapp

A tiny web application, built for **amd64** and **arm64** from one `Containerfile`.

## Configuration

| Variable | Default | Meaning |
|----------|---------|---------|
| `PORT` | `8080` | Port to listen on |
| `LOG_LEVEL` | `info` | How much to log |

## Run it

```sh
podman run --rm -p 8080:8080 alice/webapp:1.0
```
"""


SIGNED_LABELS = {
    "org.opencontainers.image.source": "https://git.example/alice/signed",
    "org.opencontainers.image.licenses": "MIT",
}


@dataclass(frozen=True)
class Published:
    registry: LiveRegistry
    index_digest: str  # alice/webapp:1.0, an index of two platforms
    platform_digests: dict[str, str]  # architecture -> image manifest digest


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    require_tool("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_registry) -> Iterator[Callable[..., Page]]:
    """new_page(account=None, **context_options): a page in a fresh context, signed in or not.

    Clipboard permissions are granted for the server's origin; uncaught script errors on any
    page fail the test at teardown.
    """
    contexts, errors = [], []

    def open_page(account: Account | None = None, **options) -> Page:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=live_registry.url, **options)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_registry.url)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        if account is not None:
            sign_in(page, account)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, "uncaught script errors:\n" + "\n".join(errors)


@pytest.fixture
def page(new_page) -> Page:
    """An anonymous visitor's page."""
    return new_page()


@pytest.fixture(scope="package")
def published(live_registry, browser, tmp_path_factory) -> Published:
    """alice's repositories, pushed with real clients, their catalog pages edited in the browser.

    alice/webapp:1.0 (index of linux/amd64 + linux/arm64, with README), alice/amd64only:1.0,
    alice/ledger:1.0, alice/hostile:1.0 (linux/amd64 each), the Helm chart alice/mychart:0.1.0,
    and alice/signed:1.0 with a cosign-style signature and an attached SBOM.
    """
    require_tool("umoci", "skopeo", "podman")
    with real_clients(live_registry, tmp_path_factory.mktemp("browser-publish")) as clients:
        amd64, arm64 = clients.build(architecture="amd64"), clients.build(architecture="arm64")
        children = [clients.push(image, f"alice/webapp@{image.digest}") for image in (amd64, arm64)]
        index_digest = clients.push_index(children, "alice/webapp:1.0")
        for name in ("amd64only", "ledger", "hostile"):
            clients.push(clients.build(), f"alice/{name}:1.0")
        clients.push_chart("mychart", "0.1.0", "A small chart for the browser tests")
        signed = clients.build(labels=SIGNED_LABELS)
        clients.push(signed, "alice/signed:1.0")
        clients.push_signature("alice/signed", signed.digest)
        clients.attach_sbom("alice/signed", signed.digest)

    # Wait for indexing before editing: the settings page must find the entry complete.
    wait_for_page(
        live_registry,
        "/r/alice/webapp/-/tags",
        lambda html: "linux/amd64" in html and "linux/arm64" in html,
    )
    for name in ("amd64only", "ledger", "hostile"):
        wait_for_page(live_registry, f"/r/alice/{name}/-/tags", lambda html: "linux/amd64" in html)
    wait_for_page(live_registry, "/r/alice/signed/-/tags", lambda html: "chip-sbom" in html)
    wait_for_page(live_registry, "/r/alice/mychart", lambda html: "helm pull oci://" in html)

    context = browser.new_context(base_url=live_registry.url, viewport=DESKTOP)
    try:
        page = context.new_page()
        sign_in(page, live_registry.alice)
        edit_catalog(page, "alice/webapp", description=WEBAPP_DESCRIPTION, about=WEBAPP_README)
        edit_catalog(page, "alice/amd64only", description="The webapp, built for amd64 only.")
    finally:
        context.close()
    return Published(
        registry=live_registry,
        index_digest=index_digest,
        platform_digests={"amd64": amd64.digest, "arm64": arm64.digest},
    )


# -- scanned images -----------------------------------------------------------------------------

SCAN_TIMEOUT = 90.0
# The packages of alice/scanned's two tags; 1.1 fixes lodash (high) and minimist (critical).
SCANNED_VERSIONS = {
    "1.0": {"lodash": "4.17.20", "minimist": "1.2.5", "requests": "2.31.0"},
    "1.1": {"lodash": "4.17.21", "minimist": "1.2.6", "requests": "2.31.0"},
}


@dataclass(frozen=True)
class Scanned:
    registry: LiveRegistry
    digests: dict[str, str]  # tag of alice/scanned -> image manifest digest

    def findings_path(self, tag: str) -> str:
        return f"/r/alice/scanned/-/images/{self.digests[tag]}/vulnerabilities"


def package_trees(base: Path, versions: dict[str, str]) -> list[tuple[Path, str]]:
    """An Alpine root with OpenSSL, an npm project and a Python site-packages, each a layer."""
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_bytes(ALPINE_OS_RELEASE)
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text(
        "\n".join(
            [
                apk_entry("musl", "1.2.4_git20230717-r4"),
                apk_entry("libcrypto3", "3.1.4-r1", "openssl"),
                apk_entry("libssl3", "3.1.4-r1", "openssl"),
            ]
        )
    )
    app = base / "app"
    lock = {"name": "app", "lockfileVersion": 3, "packages": {"": {"version": "1.0.0"}}}
    for name in ("lodash", "minimist"):
        (app / "node_modules" / name).mkdir(parents=True)
        (app / "node_modules" / name / "package.json").write_bytes(
            npm_package(name, versions[name])
        )
        lock["packages"][f"node_modules/{name}"] = {"version": versions[name]}
    (app / "package-lock.json").write_text(json.dumps(lock))
    site = base / "site-packages"
    for name, version in (("requests", versions["requests"]), ("Jinja2", "3.1.2")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_bytes(python_metadata(name, version))
    return [(root, "/"), (app, "/srv/app"), (site, "/usr/lib/python3.11/site-packages")]


def wait_for_scan(registry: LiveRegistry, digest: str) -> None:
    path = f"/api/v1/repositories/alice/scanned/-/images/{digest}/vulnerabilities"
    deadline = time.monotonic() + SCAN_TIMEOUT
    while time.monotonic() < deadline:
        status, body = registry.get(path)
        if status == 200 and json.loads(body)["status"] in ("done", "failed"):
            assert json.loads(body)["status"] == "done", body
            return
        time.sleep(0.5)
    pytest.fail(f"{digest} was not scanned within {SCAN_TIMEOUT} s", pytrace=False)


@pytest.fixture(scope="package")
def scanned(live_registry, tmp_path_factory) -> Scanned:
    """alice/scanned:1.0 and 1.1 (pushed after), scanned on push against the OSV records of
    tests/registry/scanning/osv/: 1.0 has critical, high and medium findings, 1.1 fewer."""
    require_tool("umoci", "skopeo")
    manage(live_registry.env, "import_advisories", str(OSV))
    base = tmp_path_factory.mktemp("browser-scanned")
    digests = {}
    with real_clients(live_registry, base) as clients:
        for tag, versions in SCANNED_VERSIONS.items():
            image = clients.build_from(package_trees(base / tag, versions))
            clients.push(image, f"alice/scanned:{tag}")
            digests[tag] = image.digest
    for digest in digests.values():
        wait_for_scan(live_registry, digest)
    wait_for_page(
        live_registry, "/r/alice/scanned/-/tags", lambda html: html.count('"sev-group"') >= 2
    )
    return Scanned(live_registry, digests)
