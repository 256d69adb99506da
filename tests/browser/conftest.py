"""Browser tests: Playwright's sync API driving Debian's Chromium against the live server.

The browser lives for this package only, not the session: while Playwright runs, its event
loop counts as running in the main thread, and Django refuses database access from there
(SynchronousOnlyOperation), which would break every database test collected after these.

What the tests look at is published once, with real clients (umoci, skopeo, podman, oras),
and its catalog pages are written by alice in the browser (`published`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.pages import edit_catalog, sign_in
from tests.browser.publish import real_clients, wait_for_page
from tests.conftest import require_tool
from tests.live import Account, LiveRegistry

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
