"""Deleting tags and images from the Tags tab: a page says what goes and asks for the tag
(or the digest's start) to be typed first, with or without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.publish import wait_for_page
from tests.browser.test_page_size import OCI_MANIFEST, _send, push_image

pytestmark = pytest.mark.browser
NAME = "alice/deletions"


@pytest.fixture(scope="module")
def deletions(live_registry) -> str:
    """alice/deletions: 1.0 and 2.0, each an image of its own."""
    for version in ("1.0", "2.0"):
        push_image(live_registry, NAME, version, "amd64", version)
    wait_for_page(live_registry, f"/r/{NAME}/-/tags", lambda html: "2 images" in html)
    return NAME


def tag_row(page: Page, tag: str):
    return page.locator(".tag-table tbody > tr").filter(
        has=page.get_by_role("link", name=tag, exact=True)
    )


@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_deleting_a_tag_asks_for_its_name_first(new_page, live_registry, deletions, script):
    tag = "1.0" if script else "2.0"
    page = new_page(live_registry.alice, java_script_enabled=script)
    page.goto(f"/r/{deletions}/-/tags")
    row = tag_row(page, tag)
    row.get_by_text("Delete…").click()
    row.get_by_role("link", name=f"Delete tag {tag}…").click()
    # A page that says what goes; nothing is deleted yet.
    expect(page.get_by_role("heading", name=f"Delete tag {tag}")).to_be_visible()
    page.goto(f"/r/{deletions}/-/tags")
    expect(tag_row(page, tag)).to_have_count(1)
    page.go_back()
    confirm = page.get_by_label(f"Type {tag} to confirm")
    confirm.fill(tag.replace(".", "x"))  # "1x0" would pass a pattern that left "." a wildcard
    page.get_by_role("button", name=f"Delete tag {tag}").click()
    expect(page).to_have_url(re.compile(r"/-/delete-reference\?tag="))  # the browser refused it
    expect(page.get_by_role("heading", name=f"Delete tag {tag}")).to_be_visible()
    page.get_by_label(f"Type {tag} to confirm").fill(tag)
    page.get_by_role("button", name=f"Delete tag {tag}").click()
    expect(page).to_have_url(re.compile(rf"/r/{re.escape(deletions)}/-/tags$"))
    expect(page.get_by_role("status")).to_contain_text(f"Deleted {tag}.")
    expect(tag_row(page, tag)).to_have_count(0)


def test_every_tag_of_an_image_is_offered_for_deletion(new_page, live_registry, deletions):
    """The menu offered an image's first four tags only."""
    tags = [f"3.{i}" for i in range(6)]
    first = push_image(live_registry, deletions, tags[0], "amd64", "3")
    for tag in tags[1:]:  # the same image, tagged again
        _put_again(live_registry, deletions, tag, first["digest"])
    wait_for_page(live_registry, f"/r/{deletions}/-/tags", lambda html: "3.5" in html)
    page = new_page(live_registry.alice, viewport={"width": 390, "height": 844})
    page.goto(f"/r/{deletions}/-/tags")
    row = tag_row(page, tags[-1])  # the best version shows first
    row.get_by_text("Delete…").click()
    for tag in tags:
        expect(row.get_by_role("link", name=f"Delete tag {tag}…")).to_have_count(1)
    # 3.0, hidden behind "+2" in the tag cell, scrolled into sight in the menu's own list.
    row.get_by_role("link", name=f"Delete tag {tags[0]}…").click()
    expect(page.get_by_role("heading", name=f"Delete tag {tags[0]}")).to_be_visible()
    expect(page.get_by_text(f"by its other tags: {', '.join(tags[1:])}")).to_be_visible()


def _put_again(registry, name: str, tag: str, digest: str) -> None:
    status, body = registry.get(f"/v2/{name}/manifests/{digest}", account=registry.alice)
    assert status == 200
    _send(registry, "PUT", f"/v2/{name}/manifests/{tag}", body, OCI_MANIFEST)
