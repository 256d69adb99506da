"""Repository and image pages on a phone: names wrap where people read them apart, every
layer's digest stays in reach, nothing runs off the screen."""

from __future__ import annotations

import json
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.browser.publish import wait_for_page
from tests.browser.test_page_size import SIZES, push_image
from tests.browser.test_screenshots import OVERFLOW, SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_layers_digest_is_shown_and_copied_on_a_phone(new_page, live_registry, scheme):
    """The Digest column was hidden below 700 px: a phone had no way to a layer's digest."""
    name = f"alice/layered-{scheme}"
    pushed = push_image(live_registry, name, "1.0", "amd64", "1.0")
    wait_for_page(live_registry, f"/r/{name}/-/tags", lambda html: "1 image" in html)
    layer = json_of(live_registry, f"/v2/{name}/manifests/{pushed['digest']}")["layers"][0]
    page = new_page(**SIZES["phone"], color_scheme=scheme)
    page.goto(f"/r/{name}/-/tags/1.0")
    row = page.locator(".layer-table tbody tr").first
    short = layer["digest"][: len("sha256:") + 12]
    digest = row.get_by_text(short)
    digest.scroll_into_view_if_needed()
    expect(digest).to_be_in_viewport()
    row.get_by_role("button", name="Copy the digest of layer 1").click()
    assert page.evaluate("navigator.clipboard.readText()") == layer["digest"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"image-layers-phone-{scheme}.png", full_page=True)
    assert page.evaluate(OVERFLOW) == []


def json_of(registry, path: str) -> dict:
    status, body = registry.get(path, account=registry.alice)
    assert status == 200, body
    return json.loads(body)


# How many lines the repository's own name (after namespace/) takes in the page's title.
NAME_LINES = """() => {
  const title = document.querySelector(".repo-title");
  const range = document.createRange();
  range.selectNodeContents(title.lastChild);  // the name's text, after the slash
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


def test_a_repository_title_wraps_after_its_namespace_on_a_phone(new_page):
    """`ninaorg1234/web` wrapped as `ninaorg1234/we` over `b` (with this many digits)."""
    page = new_page(**SIZES["phone"])
    username = f"ninaorg{1000 + secrets.randbelow(9000)}"
    sign_up(page, username)
    for name in ("web", "a-rather-long-repository-name-for-a-phone-" + "x" * 30):
        page.goto("/new")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create repository").click()
        page.goto(f"/r/{username}/{name}")
        if name == "web":
            assert page.evaluate(NAME_LINES) == 1
        assert page.evaluate(OVERFLOW) == []
