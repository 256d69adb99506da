"""What a person does in Berth's pages, as steps the browser tests share."""

from __future__ import annotations

import re
import secrets
import time

from playwright.sync_api import Locator, Page, expect

from tests.browser.publish import INDEX_TIMEOUT
from tests.live import Account


def sign_in(page: Page, account: Account) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username", exact=True).fill(account.username)
    page.get_by_label("Password", exact=True).fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def sign_up(page: Page, username: str) -> str:
    """Create an account through the sign-up form; its password."""
    password = secrets.token_urlsafe(16)
    page.goto("/accounts/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.org")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Create account").click()
    return password


def edit_catalog(
    page: Page,
    name: str,
    *,
    description: str | None = None,
    about: str | None = None,
    usage: str | None = None,
    private: bool | None = None,
) -> None:
    """Open the repository's Settings tab, change what is given, save."""
    page.goto(f"/r/{name}")
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(rf"/r/{re.escape(name)}/-/settings$"))
    for label, text in (("Description", description), ("About", about), ("Usage", usage)):
        if text is not None:
            page.get_by_label(label, exact=True).fill(text)
    if private is not None:
        page.get_by_label("Private repository").set_checked(private)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/r/{re.escape(name)}$"))
    expect(page.get_by_role("status")).to_contain_text("Saved.")


def search_for(page: Page, words: str) -> None:
    """Type into the page's search box and press Enter, as a person does."""
    # The page's own search box if it has one (home, search, 404), else the header's.
    box = page.get_by_role("main").get_by_role("searchbox", name="Search the catalog")
    if not box.count():
        box = page.get_by_role("banner").get_by_role("searchbox", name="Search the catalog")
    box.click()
    box.press_sequentially(words)
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?"))


def results_title(page: Page) -> Locator:
    return page.locator("#results-title")


def reload_until(page: Page, locator: Locator, timeout: float = INDEX_TIMEOUT) -> None:
    """Reload until `locator` shows: indexing after a push may run on a Celery worker."""
    deadline = time.monotonic() + timeout
    while not locator.is_visible():
        if time.monotonic() > deadline:
            expect(locator).to_be_visible(timeout=1)
        page.wait_for_timeout(300)
        page.reload()
