"""Organizations in the browser, as a new user meets them: creating one, its members and
their roles."""

from __future__ import annotations

import re
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


def add_member(page, username: str, role: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Add", exact=True).click()


def test_a_members_buttons_are_in_sight_on_a_phone(new_page, live_registry):
    """The members table was scrolled sideways inside its box to reach Remove."""
    page = new_page(**PHONE)
    sign_up(page, f"omar{secrets.token_hex(3)}")
    new_organization(page)
    add_member(page, live_registry.bob.username, "maintainer")
    remove = page.get_by_role("link", name=f"Remove {live_registry.bob.username}")
    expect(remove).to_be_visible()
    box, width = remove.bounding_box(), page.viewport_size["width"]
    assert box["x"] + box["width"] <= width
    scrolled = page.locator(".members-table").locator("xpath=..")
    assert scrolled.evaluate("box => box.scrollWidth <= box.clientWidth")
    assert page.evaluate(OVERFLOW) == []


def test_a_member_who_leaves_is_told_so_on_their_account_page(new_page, live_registry):
    """Leaving sent them back to the members page, a 404 once they had left."""
    owner = new_page()
    sign_up(owner, f"uma{secrets.token_hex(3)}")
    organization = new_organization(owner)
    add_member(owner, live_registry.bob.username, "reader")
    expect(owner.get_by_role("status")).to_have_text(
        f"{live_registry.bob.username} is a member, as a reader."
    )
    member = new_page(live_registry.bob)
    member.goto(f"/u/{organization}/-/members")
    member.get_by_role("button", name="Leave").click()
    expect(member.get_by_role("heading", name="Your account")).to_be_visible()
    expect(member.get_by_role("status")).to_have_text(f"You left {organization}.")


def test_a_robot_for_one_repository_is_made_with_the_repositorys_own_name(new_page):
    page = new_page()
    sign_up(page, f"rui{secrets.token_hex(3)}")
    organization = new_organization(page)
    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Robots").click()
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_label("Repository", exact=True).fill("web")
    page.get_by_role("button", name="Create robot").click()
    expect(page.get_by_text("Copy this token now.")).to_be_visible()
    expect(page.locator(".permission-list")).to_have_text(f"pull, push on {organization}/web")


def test_deleting_a_robot_asks_for_its_name(new_page):
    page = new_page(**PHONE)
    sign_up(page, f"ravi{secrets.token_hex(3)}")
    organization = new_organization(page)
    page.goto(f"/u/{organization}/-/robots")
    page.get_by_label("Name", exact=True).fill("ci.main")
    page.get_by_role("button", name="Create robot").click()
    page.get_by_text("Delete this robot").click()
    confirm = page.get_by_label("Type ci.main to confirm")
    delete = page.get_by_role("button", name=f"Delete robot {organization}+ci.main")
    confirm.fill("ciXmain")  # would pass a pattern that left "." a wildcard
    delete.click()
    assert confirm.evaluate("input => !input.validity.valid")
    confirm.fill("ci.main")
    delete.click()
    expect(page.get_by_role("status")).to_have_text(f"Robot {organization}+ci.main deleted.")
    expect(page.get_by_text("No robots yet.")).to_be_visible()
    assert page.evaluate(OVERFLOW) == []


def test_an_organizations_page_leads_its_owner_to_its_settings(new_page):
    page = new_page(**PHONE)
    sign_up(page, f"ines{secrets.token_hex(3)}")
    organization = new_organization(page)
    page.goto(f"/u/{organization}")
    page.get_by_role("link", name="New repository").click()
    expect(page.get_by_label("Namespace")).to_have_value(organization)
    page.go_back()
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Delete this organization")).to_be_visible()
    assert page.evaluate(OVERFLOW) == []


def test_removing_a_member_asks_first_and_says_what_they_lose(new_page, live_registry):
    """Remove acted on one click, beside the role's Change button."""
    page = new_page(**PHONE)
    sign_up(page, f"mia{secrets.token_hex(3)}")
    organization = new_organization(page)
    bob = live_registry.bob.username
    add_member(page, bob, "maintainer")
    page.get_by_role("link", name=f"Remove {bob}").click()
    expect(page.get_by_role("heading", name=f"Remove {bob} from {organization}?")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("pushing to its repositories")
    assert page.evaluate(OVERFLOW) == []
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("table")).to_contain_text(bob)
    page.get_by_role("link", name=f"Remove {bob}").click()
    page.get_by_role("button", name=f"Remove {bob}").click()
    expect(page.get_by_role("status")).to_have_text(f"{bob} is no longer a member.")
    expect(page.get_by_role("table")).not_to_contain_text(bob)


# Whether an element ends within its panel's padding (not over it, nor past its border).
WITHIN_ITS_PANEL = """(element) => {
  const panel = element.closest(".panel"), style = getComputedStyle(panel);
  const inner = panel.getBoundingClientRect().right - parseFloat(style.paddingRight)
    - parseFloat(style.borderRightWidth);
  return element.getBoundingClientRect().right <= inner + 0.5;
}"""


def test_the_audit_log_fits_a_phone(new_page, live_registry):
    """Its What column was off-screen, to the right inside the table's box, and the Event
    menu stuck out of its panel."""
    page = new_page(live_registry.alice, **PHONE)
    page.goto(f"/u/{live_registry.alice.username}/-/audit")
    width = page.viewport_size["width"]
    assert page.get_by_label("Event", exact=True).evaluate(WITHIN_ITS_PANEL)
    what = page.locator(".audit-table tbody tr").first.locator("td").nth(3)  # What
    expect(what).to_be_visible()
    box = what.bounding_box()
    assert box["x"] + box["width"] <= width
    scrolled = page.locator(".audit-table").locator("xpath=..")
    assert scrolled.evaluate("box => box.scrollWidth <= box.clientWidth")
    assert page.evaluate(OVERFLOW) == []


def test_revoking_a_robots_token_is_opened_first(new_page):
    page = new_page(**PHONE)
    sign_up(page, f"tova{secrets.token_hex(3)}")
    organization = new_organization(page)
    page.goto(f"/u/{organization}/-/robots")
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_role("button", name="Create robot").click()
    revoke = page.get_by_role(
        "button", name=re.compile(rf"^Revoke token berth_.* of {organization}\+ci$")
    )
    expect(revoke).to_be_hidden()
    page.get_by_text("Revoke…").click()
    expect(page.get_by_text("refused from its next request")).to_be_visible()
    assert page.evaluate(OVERFLOW) == []
    revoke.click()
    expect(page.get_by_role("status")).to_have_text(f"A token of {organization}+ci revoked.")
    expect(page.locator(".token-list")).to_contain_text("revoked")
