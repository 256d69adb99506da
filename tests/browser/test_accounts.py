"""Accounts in the browser: a visitor signs up, gets a namespace, signs out."""

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.browser.test_screenshots import OVERFLOW

pytestmark = pytest.mark.browser


def test_visitor_signs_up_sees_their_namespace_and_signs_out(page, live_registry):
    username = f"carol{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    page.goto("/")
    page.get_by_role("banner").get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.org")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(re.compile(r"/accounts/$"))
    expect(page.get_by_role("status")).to_have_text(f"Welcome to Berth, {username}.")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    namespace = page.get_by_role("link", name=f"{username}/")
    expect(namespace).to_have_attribute("href", f"/u/{username}")
    push = page.locator(".copy-line code").filter(has_text="skopeo copy")
    expect(push).to_contain_text(f"docker://{live_registry.host}/{username}/my-image:1.0")

    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name=username)).to_be_visible()
    header.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live_registry.url + "/")
    expect(header.get_by_role("link", name="Sign in")).to_be_visible()
    expect(header.get_by_role("link", name=username)).to_have_count(0)


def test_tokens_page_with_a_token_fits_a_phone(new_page, live_registry):
    page = new_page(live_registry.alice, viewport={"width": 390, "height": 844})
    page.goto("/settings/tokens")
    page.get_by_label("Name").fill(f"phone-{secrets.token_hex(3)}")
    page.get_by_role("button", name="Create token").click()
    revoke = page.get_by_role("link", name=re.compile("^Revoke")).first
    expect(revoke).to_be_visible()
    # In sight, not scrolled away to the right inside the table's box.
    box = revoke.bounding_box()
    assert box["x"] + box["width"] <= page.viewport_size["width"]
    assert page.evaluate(OVERFLOW) == []


def test_a_long_username_in_the_header_fits_a_phone(new_page):
    """Usernames run to 39 characters; the header shortens one rather than the page widening."""
    page = new_page(viewport={"width": 390, "height": 844})
    username = f"christopher-montgomery-{secrets.token_hex(4)}"
    sign_up(page, username)
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name=username)).to_be_visible()
    expect(header.get_by_role("button", name="Sign out")).to_be_in_viewport()
    assert page.evaluate(OVERFLOW) == []


def test_a_short_username_in_the_header_is_not_shortened_on_a_phone(new_page, live_registry):
    page = new_page(live_registry.alice, viewport={"width": 390, "height": 844})
    page.goto("/u/alice/-/settings")
    user = page.get_by_role("banner").get_by_role("link", name=live_registry.alice.username)
    assert user.evaluate("link => link.scrollWidth <= link.clientWidth")
    assert page.evaluate(OVERFLOW) == []


def test_a_weak_new_password_is_refused_under_the_new_password(new_page):
    page = new_page()
    password = sign_up(page, f"pat{secrets.token_hex(3)}")
    page.goto("/accounts/password_change/")
    page.get_by_label("Old password").fill(password)
    page.get_by_label("New password", exact=True).fill("abc")
    page.get_by_label("New password confirmation").fill("abc")
    page.get_by_role("button", name="Change password").click()
    error = page.get_by_text("This password is too short.")
    expect(error).to_be_visible()
    expect(page.get_by_label("New password", exact=True)).to_have_accessible_description(
        re.compile("This password is too short")
    )
    below = page.get_by_text("New password confirmation", exact=True).bounding_box()
    assert error.bounding_box()["y"] < below["y"]


def test_revoking_a_token_asks_first_and_says_what_stops(new_page, live_registry):
    """Revoke acted on one click: a token a CI job lived on was gone with a slip."""
    page = new_page(live_registry.alice, viewport={"width": 390, "height": 844})
    name = f"ci-{secrets.token_hex(3)}"
    page.goto("/settings/tokens")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("link", name=f"Revoke {name}").click()
    expect(page.get_by_role("heading", name=f"Revoke the token “{name}”?")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("refused from its next request")
    assert page.evaluate(OVERFLOW) == []
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("row").filter(has_text=name)).not_to_contain_text("Revoked")
    page.get_by_role("link", name=f"Revoke {name}").click()
    page.get_by_role("button", name=f"Revoke token {name}").click()
    expect(page.get_by_role("status")).to_have_text(f"Token “{name}” revoked.")
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Revoked")
