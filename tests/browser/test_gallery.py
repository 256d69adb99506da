"""Signed images and their attachments, image pages, keyboards, as a visitor meets them."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SIGNED_LABELS

pytestmark = pytest.mark.browser
# Every aria-describedby id that names no element, as "path id".
DANGLING_DESCRIPTIONS = """() => [...document.querySelectorAll('[aria-describedby]')]
  .flatMap(e => e.getAttribute('aria-describedby').split(/\\s+/)
    .filter(id => !document.getElementById(id))
    .map(id => location.pathname + ' ' + id))"""


def test_a_signed_image_with_an_sbom_shows_one_image_with_two_chips(page, published):
    page.goto("/r/alice/signed/-/tags")
    rows = page.locator(".tag-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator(".chip")).to_have_text(["SBOM", "Signed"])
    expect(page.locator(".repo-facts")).to_contain_text("linux/amd64")
    expect(page.locator(".repo-header .badge-signed")).to_be_visible()
    expect(page.get_by_role("link", name="Source")).to_have_attribute(
        "href", SIGNED_LABELS["org.opencontainers.image.source"]
    )


def test_no_facet_or_card_shows_a_blank_platform(page, published):
    page.goto("/search")
    labels = page.locator(".facet-label").all_inner_texts()
    assert labels
    assert all(label.strip() for label in labels)
    assert "/" not in [pill.strip() for pill in page.locator(".card .pill").all_inner_texts()]


def test_the_image_page_lists_layers_labels_and_attachments(page, published):
    page.goto("/r/alice/signed/-/tags")
    page.get_by_role("link", name="1.0", exact=True).click()
    expect(page).to_have_url(re.compile(r"/r/alice/signed/-/tags/1\.0$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Layers"))).to_be_visible()
    layers = page.get_by_role("table", name=re.compile(r"^Layers"))
    expect(layers.locator("tbody tr")).to_have_count(1)
    expect(page.locator(".key-values")).to_contain_text("org.opencontainers.image.licenses")
    attachments = page.get_by_role("region", name="Signatures and attachments")
    expect(attachments).to_contain_text("application/spdx+json")
    expect(page.locator(".config-list")).to_contain_text("/bin/true")


def test_facets_work_from_the_keyboard_and_keep_the_focus(page, published):
    page.goto("/search?q=webapp")
    checkbox = page.get_by_role("group", name="Architecture").get_by_role(
        "checkbox", name=re.compile(r"^arm64\b")
    )
    checkbox.focus()
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(r"[?&]arch=arm64\b"))
    expect(checkbox).to_be_checked()
    expect(checkbox).to_be_focused()
    page.keyboard.press("Space")  # and off again, still from the keyboard
    expect(page).not_to_have_url(re.compile(r"arch=arm64"))
    expect(checkbox).to_be_focused()


def test_the_sort_menu_moves_with_arrow_keys_without_reloading(page, published):
    page.goto("/search?q=webapp")
    menu = page.get_by_label("Sort by")
    menu.focus()
    url = page.url
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(300)
    assert page.url == url  # nothing reloaded while choosing
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]sort=updated\b"))
    expect(page.get_by_label("Sort by")).to_be_focused()


def test_filters_fold_behind_a_button_on_a_phone(new_page, published):
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto("/search?q=webapp")
    toggle = page.get_by_text("Filters", exact=True)
    expect(toggle).to_be_visible()
    architecture = page.get_by_role("group", name="Architecture")
    expect(architecture).to_be_hidden()
    toggle.click()
    expect(architecture).to_be_visible()
    expect(page.get_by_role("link", name="Search the catalog")).to_be_visible()  # header


def test_every_aria_describedby_points_at_an_element(new_page, published):
    page = new_page(account=published.registry.alice)
    missing = []
    for path in ("/accounts/signup", "/accounts/password_change/", "/r/alice/webapp/-/settings"):
        page.goto(path)
        missing += page.evaluate(DANGLING_DESCRIPTIONS)
    assert not missing, missing


def test_heading_anchors_land_below_the_sticky_header(page, published):
    page.goto("/r/alice/webapp#user-content-configuration")
    top = page.evaluate(
        "document.getElementById('user-content-configuration').getBoundingClientRect().top"
    )
    header = page.evaluate("document.querySelector('.site-header').getBoundingClientRect().bottom")
    assert top >= header


CARD_MOTION = """e => { const s = getComputedStyle(e);
  return {transition: s.transitionDuration, animation: s.animationName, transform: s.transform} }"""


def test_reduced_motion_turns_transitions_and_movement_off(new_page, published):
    moving = new_page()
    moving.goto("/search")
    assert moving.locator(".card").first.evaluate(CARD_MOTION)["transition"] != "0s"  # the control
    still = new_page(reduced_motion="reduce")
    still.goto("/search")
    card = still.locator(".card").first
    card.hover()
    motion = card.evaluate(CARD_MOTION)
    assert set(motion["transition"].split(", ")) == {"0s"}
    assert motion["animation"] == "none"
    assert motion["transform"] == "none"  # hovering does not lift the card either
