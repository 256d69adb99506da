"""How long the Tags tab is: 25 tags must not make a 6,000 px page (issue 7), on a desktop
or on a phone."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.publish import wait_for_page
from tests.browser.test_screenshots import SCREENSHOTS
from tests.live import LiveRegistry

pytestmark = pytest.mark.browser
TAGS = 25
INDEXES = 5  # of the 25, multi-platform indexes of amd64 and arm64
PAGE_BAR = 6000  # px
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "tablet": {"viewport": {"width": 820, "height": 1180}, "has_touch": True},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def _send(registry: LiveRegistry, method: str, path: str, body: bytes, media_type: str) -> None:
    request = urllib.request.Request(registry.url + path, data=body, method=method)  # noqa: S310
    pair = base64.b64encode(registry.alice.creds.encode()).decode()
    request.add_header("Authorization", f"Basic {pair}")
    request.add_header("Content-Type", media_type)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our http URL)
        assert response.status == 201, response.read()


def _descriptor(registry: LiveRegistry, name: str, body: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    _send(registry, "POST", f"/v2/{name}/blobs/uploads/?digest={digest}", body, media_type)
    return {"mediaType": media_type, "digest": digest, "size": len(body)}


def _manifest(registry, name: str, reference: str, manifest: dict) -> dict:
    """PUT `manifest` as `reference` (a tag, or "": by its digest); its descriptor."""
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    path = f"/v2/{name}/manifests/{reference or digest}"
    _send(registry, "PUT", path, body, manifest["mediaType"])
    return {"mediaType": manifest["mediaType"], "digest": digest, "size": len(body)}


def _layer(text: str) -> tuple[bytes, str]:
    """A gzipped tar of one file, /bin/app, and its diff ID (the live server scans images)."""
    data, tar = text.encode(), io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("bin/app")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return gzip.compress(tar.getvalue()), "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()


def push_image(registry, name: str, reference: str, architecture: str, version: str) -> dict:
    """A one-layer image of its own (through /v2/ directly: 35 images in seconds)."""
    blob, diff_id = _layer(f"app {version} {architecture}\n")
    layer = _descriptor(registry, name, blob, OCI_LAYER)
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Cmd": ["/bin/app"], "Labels": {"org.opencontainers.image.version": version}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"COPY app-{version} /bin/app"}],
    }
    config = _descriptor(registry, name, json.dumps(config).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    return _manifest(registry, name, reference, manifest)


@pytest.fixture(scope="module")
def many_tags(live_registry) -> str:
    """alice/many: 25 tags 1.0.0 … 1.0.24, each its own image; 5 of them indexes."""
    name = "alice/many"
    for i in range(TAGS):
        version = f"1.0.{i}"
        if i < INDEXES:
            children = [
                push_image(live_registry, name, "", architecture, version)
                | {"platform": {"architecture": architecture, "os": "linux"}}
                for architecture in ("amd64", "arm64")
            ]
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
            _manifest(live_registry, name, version, index)
        else:
            push_image(live_registry, name, version, "amd64", version)
    wait_for_page(
        live_registry, f"/r/{name}/-/tags", lambda html: f"{TAGS} images" in html, timeout=30
    )
    return name


@pytest.mark.parametrize("size", SIZES)
def test_a_tags_tab_of_25_tags_is_not_a_6000_px_page(new_page, many_tags, size):
    page = new_page(**SIZES[size])
    page.goto(f"/r/{many_tags}/-/tags")
    assert page.locator(".tag-table tbody > tr").count() == TAGS
    height = page.evaluate("document.documentElement.scrollHeight")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"tags-25-{size}.png", full_page=True)
    assert height < PAGE_BAR, f"{height} px"


@pytest.mark.parametrize("size", SIZES)
def test_the_tags_table_stays_inside_its_column(new_page, many_tags, size):
    """Nothing of a row (its Copy pull buttons last) hides under what is beside the table or
    off the screen, an index's platforms opened too."""
    page = new_page(**SIZES[size])
    page.goto(f"/r/{many_tags}/-/tags")
    page.get_by_text("2 platforms").first.click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"tags-25-index-open-{size}.png", full_page=True)
    column = page.locator(".repo-main").bounding_box()
    right = column["x"] + column["width"] + 0.5
    table = page.locator(".tag-table").bounding_box()
    assert table["x"] + table["width"] <= right
    buttons = page.get_by_role("button", name=re.compile(r"^Copy(: docker)? pull"))
    assert buttons.count() == TAGS + 2
    for button in buttons.all():
        box = button.bounding_box()
        assert box["x"] + box["width"] <= right


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize("size", SIZES)
def test_an_open_delete_menu_hides_nothing_of_its_row(new_page, live_registry, many_tags, size):
    page = new_page(live_registry.alice, **SIZES[size])
    page.goto(f"/r/{many_tags}/-/tags")
    row = page.locator(".tag-table tbody > tr").first
    row.get_by_text("Delete…").click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"tags-25-delete-open-{size}.png")
    parts = [
        row.locator(".tag-cell .tag").first,
        row.locator(".digest-cell a").first,
        row.get_by_role("button", name=re.compile(r"^Copy: docker pull")),
        row.get_by_role("link", name=re.compile(r"^Delete tag ")),
        row.get_by_role("link", name=re.compile(r"^Delete the image")),
    ]
    boxes = [part.bounding_box() for part in parts]
    for box in boxes:
        assert box["width"] > 20
    for i, box in enumerate(boxes):
        for other in boxes[i + 1 :]:
            assert not _overlap(box, other), (box, other)


@pytest.mark.parametrize(
    "path", ["/r/alice/many/-/settings", "/u/alice/-/replication"], ids=["repository", "namespace"]
)
def test_the_current_tab_is_in_sight_on_a_phone(new_page, live_registry, many_tags, path):
    """Tab bars wider than a phone scroll; the tab of the page shown must not be off the edge."""
    page = new_page(live_registry.alice, **SIZES["phone"])
    page.goto(path)
    current = page.locator(".tabs [aria-current=page]")
    expect(current).to_be_in_viewport(ratio=0.99)  # less a fraction of a pixel


# How many pixels the search box's placeholder, typed into it, is wider than the box.
PLACEHOLDER_PAST_BOX = """(input) => {
  input.value = input.placeholder;
  const past = input.scrollWidth - input.clientWidth;
  input.value = "";
  return past;
}"""


@pytest.mark.parametrize("path", ["/", "/search"])
def test_the_search_boxs_placeholder_fits_a_phone(new_page, path):
    page = new_page(**SIZES["phone"])
    page.goto(path)
    box = page.get_by_role("main").get_by_role("searchbox", name="Search the catalog")
    assert box.evaluate(PLACEHOLDER_PAST_BOX) == 0
