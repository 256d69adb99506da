"""A private repository: its owner sees it everywhere; nobody else sees it anywhere."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import edit_catalog, results_title, search_for

pytestmark = pytest.mark.browser

NAME = "alice/ledger"


def explore_counts(page: Page) -> tuple[int, int]:
    """(results, repositories on linux/amd64) on the unfiltered Explore page."""
    page.goto("/search")
    total = int(
        re.match(r"\s*([\d,]+)", results_title(page).inner_text()).group(1).replace(",", "")
    )
    amd64 = page.locator(".facet-option").filter(
        has=page.locator('input[name="arch"][value="amd64"]')
    )
    return total, int(amd64.locator(".facet-count").inner_text().replace(",", ""))


def home_total(page: Page) -> int:
    page.goto("/")
    lead = page.locator(".lead").inner_text()
    return int(re.search(r"([\d,]+) public repositor", lead).group(1).replace(",", ""))


def expect_not_found_by_search(page: Page) -> None:
    page.goto("/search")
    search_for(page, "ledger")
    expect(results_title(page)).to_have_text(re.compile(r"^\s*0 results\b"))
    expect(page.get_by_role("link", name=NAME)).to_have_count(0)
    for facet in ("Type", "Architecture", "Operating system"):  # none counts a hidden entry
        expect(page.get_by_role("group", name=facet)).to_have_count(0)


def expect_not_found_at_its_url(page: Page) -> None:
    for path in (f"/r/{NAME}", f"/r/{NAME}/-/tags", f"/r/{NAME}/-/usage"):
        response = page.goto(path)
        assert response.status == 404, path
        expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()


def test_private_repository_is_visible_to_its_owner_only(new_page, published):
    # Counts before and after, not against alice's: other tests on this server may have made
    # repositories of theirs private.
    visitor, bob = new_page(), new_page(published.registry.bob)
    alice = new_page(published.registry.alice)
    visitor_before, bob_before, alice_before = map(explore_counts, (visitor, bob, alice))
    edit_catalog(alice, NAME, description="Alice's private ledger", private=True)
    expect(alice.locator(".repo-header .badge-private")).to_have_text("Private")

    search_for(alice, "ledger")
    expect(results_title(alice)).to_have_text(re.compile(r"^\s*1 result\b"))
    alice.get_by_role("link", name=NAME).click()
    expect(alice).to_have_url(re.compile(rf"/r/{NAME}$"))
    expect(alice.get_by_role("heading", level=1)).to_have_text(re.compile(r"alice\s*/\s*ledger"))
    assert explore_counts(alice) == alice_before  # she sees it as before

    total, amd64 = visitor_before
    expect_not_found_by_search(visitor)
    assert explore_counts(visitor) == (total - 1, amd64 - 1)  # alice/ledger is linux/amd64
    assert home_total(visitor) == total - 1
    visitor.goto("/u/alice")
    expect(visitor.get_by_role("link", name="alice/webapp", exact=True)).to_be_visible()
    expect(visitor.get_by_role("link", name=NAME)).to_have_count(0)
    expect_not_found_at_its_url(visitor)

    expect_not_found_by_search(bob)
    total, amd64 = bob_before
    assert explore_counts(bob) == (total - 1, amd64 - 1)
    expect_not_found_at_its_url(bob)
    response = bob.goto(f"/r/{NAME}/-/settings")
    assert response.status == 404
