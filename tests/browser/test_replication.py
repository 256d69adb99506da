"""A namespace's Replication page in the browser: its rules and the form for a new one."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.browser.test_screenshots import OVERFLOW

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}}


def test_deleting_a_rule_asks_first_and_says_the_copies_stay(new_page, live_registry):
    """Delete, beside Replicate now, deleted the rule on one click."""
    page = new_page(**PHONE)
    username = f"rhea{secrets.token_hex(3)}"
    sign_up(page, username)
    page.goto(f"/u/{username}/-/replication")
    page.get_by_label("Another publisher on this site").check()
    page.get_by_label("Publisher", exact=True).fill(live_registry.bob.username)
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("status")).to_have_text("Rule created.")
    delete = page.get_by_role("button", name=re.compile("^Delete the rule to"))
    expect(delete).to_be_hidden()
    page.get_by_text("Delete this rule").click()
    expect(page.locator(".rule-delete")).to_contain_text("the copies already made stay")
    assert page.evaluate(OVERFLOW) == []
    delete.click()
    expect(page.get_by_role("status")).to_have_text("Rule deleted; the copies stay where they are.")
    expect(page.get_by_text("No rules yet.")).to_be_visible()
