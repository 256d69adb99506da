"""A publisher's profile in the browser: written on its page, seen on `/u/<namespace>`."""

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.browser.test_screenshots import OVERFLOW

pytestmark = pytest.mark.browser


def test_a_new_user_writes_their_profile_and_sees_it_on_their_page(page, live_registry):
    username = f"pia{secrets.token_hex(3)}"
    sign_up(page, username)
    page.get_by_role("link", name=f"{username}/").click()
    page.get_by_role("link", name="Edit profile").click()
    expect(page).to_have_url(re.compile(rf"/u/{username}/-/profile$"))

    page.get_by_label("Display name").fill("Pia Builds")
    page.get_by_label("Bio").fill("Small images, <b>signed</b>.")
    page.get_by_label("Website").fill("javascript:alert(1)")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Enter an http:// or https:// address.")).to_be_visible()

    page.get_by_label("Website").fill("https://pia.example/")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status")).to_have_text("Profile saved.")
    assert page.evaluate(OVERFLOW) == []

    page.get_by_role("heading", level=1).get_by_role("link", name=username).click()
    expect(page).to_have_url(re.compile(rf"/u/{username}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pia Builds")
    expect(page.get_by_text("Small images, <b>signed</b>.")).to_be_visible()
    website = page.get_by_role("link", name="https://pia.example/")
    expect(website).to_have_attribute("href", "https://pia.example/")
