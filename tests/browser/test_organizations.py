"""Organizations in the browser, as a new user meets them: creating one, its members and
their roles."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.browser.test_screenshots import OVERFLOW

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}}


def new_organization(page) -> str:
    name = f"crew{secrets.token_hex(3)}"
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    return name


def test_the_only_owner_is_told_why_they_cannot_leave(new_page):
    page = new_page(**PHONE)
    sign_up(page, f"olga{secrets.token_hex(3)}")
    new_organization(page)
    members = page.get_by_role("table")
    expect(members.get_by_role("button", name="Leave")).to_have_count(0)
    expect(members).to_contain_text("You are the only owner, so you cannot leave")
    members.get_by_role("link", name="delete the organization").click()
    expect(page.get_by_role("heading", name="Delete this organization")).to_be_visible()
    assert page.evaluate(OVERFLOW) == []
