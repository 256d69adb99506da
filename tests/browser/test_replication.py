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


def test_the_rule_form_shows_the_fields_of_the_chosen_destination(new_page, live_registry):
    """The registry's fields and the publisher's were shown together, whichever was chosen."""
    page = new_page(live_registry.alice, **PHONE)
    page.goto(f"/u/{live_registry.alice.username}/-/replication")
    registry, publisher = (
        page.get_by_label("Registry URL"),
        page.get_by_label("Publisher", exact=True),
    )
    expect(page.get_by_label("Another registry")).to_be_checked()
    expect(registry).to_be_visible()
    expect(page.get_by_label("Password or token")).to_be_visible()
    expect(publisher).to_be_hidden()
    page.get_by_label("Another publisher on this site").check()
    expect(publisher).to_be_visible()
    expect(registry).to_be_hidden()
    expect(page.get_by_label("Under", exact=True)).to_be_hidden()
    expect(page.get_by_label("Repositories", exact=True)).to_be_visible()
    assert page.evaluate(OVERFLOW) == []
    page.get_by_label("Another registry").check()
    expect(registry).to_be_visible()
    expect(publisher).to_be_hidden()


def test_without_javascript_the_rule_form_says_which_fields_go_with_which_choice(
    new_page, live_registry
):
    page = new_page(live_registry.alice, java_script_enabled=False, **PHONE)
    page.goto(f"/u/{live_registry.alice.username}/-/replication")
    to_registry = page.get_by_role("group", name="For another registry")
    to_publisher = page.get_by_role("group", name="For another publisher on this site")
    expect(to_registry.get_by_label("Registry URL")).to_be_visible()
    expect(to_publisher.get_by_label("Publisher", exact=True)).to_be_visible()
    page.get_by_label("Another publisher on this site").check()
    to_publisher.get_by_label("Publisher", exact=True).fill(live_registry.bob.username)
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("status")).to_have_text("Rule created.")
    expect(
        page.get_by_role("listitem").filter(has_text=live_registry.bob.username)
    ).not_to_have_count(0)
