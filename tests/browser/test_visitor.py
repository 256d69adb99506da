"""An anonymous visitor finds, reads and pulls what alice published."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import reload_until, results_title, search_for

pytestmark = pytest.mark.browser


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_visitor_searches_filters_by_architecture_reads_the_readme_and_copies_a_pull_command(
    page, published
):
    host = published.registry.host
    page.goto("/")
    search_for(page, "webapp")
    results = page.locator(".result-list")
    webapp = results.get_by_role("link", name="alice/webapp", exact=True)
    reload_until(page, webapp)
    expect(results.get_by_role("link", name="alice/amd64only")).to_be_visible()

    page.get_by_role("group", name="Architecture").get_by_role(
        "checkbox", name=re.compile(r"^arm64\b")
    ).check()
    expect(page).to_have_url(re.compile(r"[?&]arch=arm64\b"))
    expect(webapp).to_be_visible()
    expect(results.get_by_role("link", name="alice/amd64only")).to_have_count(0)
    expect(results_title(page)).to_have_text(re.compile(r"^\s*1 result\b"))

    webapp.click()
    expect(page).to_have_url(re.compile(r"/r/alice/webapp$"))
    readme = page.locator("#readme")
    expect(readme.get_by_role("heading", name=re.compile(r"^Configuration"))).to_be_visible()
    expect(readme.get_by_role("table")).to_be_visible()
    expect(readme.get_by_role("cell", name="LOG_LEVEL")).to_be_visible()
    expect(readme.locator("pre")).to_contain_text("podman run --rm -p 8080:8080")
    pull = page.get_by_role("complementary", name=re.compile(r"^Pull"))
    copy = pull.get_by_role("button").first
    copy.click()
    expect(copy).to_have_text("Copied")
    expect(page.locator("#live-region")).to_have_text("Copied to the clipboard")
    assert clipboard(page) == f"docker pull {host}/alice/webapp:1.0"

    tabs = page.get_by_role("navigation", name="Repository")
    tabs.get_by_role("link", name=re.compile(r"^Tags")).click()
    expect(page).to_have_url(re.compile(r"/r/alice/webapp/-/tags$"))
    image = page.locator(".tag-table tbody tr").filter(
        has=page.get_by_role("link", name="1.0", exact=True)
    )
    expect(image).to_have_count(1)
    expect(image.locator(".digest-cell code")).to_have_attribute("title", published.index_digest)
    image.get_by_text("2 platforms").click()
    for architecture, digest in published.platform_digests.items():
        child = image.locator("li").filter(has_text=f"linux/{architecture}")
        expect(child.locator("code")).to_have_attribute("title", digest)

    image.get_by_role("button", name=f"Copy: docker pull {host}/alice/webapp:1.0").click()
    assert clipboard(page) == f"docker pull {host}/alice/webapp:1.0"
    image.get_by_role("button", name="Copy pull command for linux/arm64").click()
    digest = published.platform_digests["arm64"]
    assert clipboard(page) == f"docker pull {host}/alice/webapp@{digest}"


def test_helm_chart_is_found_by_the_type_filter_and_shows_a_helm_pull_command(page, published):
    page.goto("/")
    page.get_by_role("link", name="Explore").click()
    chart_type = page.get_by_role("group", name="Type").get_by_role(
        "checkbox", name=re.compile(r"^Helm chart\b")
    )
    reload_until(page, chart_type)
    chart_type.check()
    expect(page).to_have_url(re.compile(r"[?&]type=helm\b"))
    results = page.locator(".result-list")
    expect(results.get_by_role("link", name="alice/webapp", exact=True)).to_have_count(0)
    results.get_by_role("link", name="alice/mychart").click()

    expect(page).to_have_url(re.compile(r"/r/alice/mychart$"))
    pull = page.get_by_role("complementary", name=re.compile(r"^Pull"))
    command = f"helm pull oci://{published.registry.host}/alice/mychart --version 0.1.0"
    expect(pull.locator(".copy-line code").first).to_have_text(command)
    pull.get_by_role("button", name=f"Copy by tag (helm): {command}").click()
    assert clipboard(page) == command


def test_tab_from_the_top_reaches_skip_link_first_and_then_the_tabs(page, published):
    page.goto("/r/alice/webapp")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # hidden off-screen until focused

    tab_names = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.closest('nav.tabs') ? e.textContent.trim().split(/\\s+/)[0] : null; })()"
        )
        if focused:
            tab_names.append(focused)
        elif tab_names:
            break
    assert tab_names == ["About", "Usage", "Tags"]

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/r/alice/webapp/-/tags$"))

    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
