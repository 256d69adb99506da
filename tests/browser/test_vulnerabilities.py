"""A visitor weighs alice/scanned's vulnerabilities: the Tags tab's badges, the findings page,
its filters and sorting, and the comparison of two tags; alice asks for a new scan."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_visitor_sees_the_severity_summary_and_opens_the_findings(page, scanned):
    page.goto("/r/alice/scanned/-/tags")
    row = page.locator(".tag-table tbody tr").filter(
        has=page.get_by_role("link", name="1.0", exact=True)
    )
    badges = row.locator(".sev-group")
    expect(badges.locator(".sev-critical")).to_contain_text("1 critical")
    expect(badges.locator(".sev-critical [aria-hidden=true]")).to_have_text("1C")
    expect(badges.locator(".sev-high")).to_contain_text("1 high")
    badges.click()
    expect(page).to_have_url(re.compile(re.escape(scanned.findings_path("1.0")) + "$"))

    table = page.get_by_role("table", name="Findings")
    minimist = table.locator("tbody tr").filter(has_text="minimist")
    expect(minimist.locator(".sev")).to_have_text("Critical")
    expect(minimist.get_by_role("link", name="GHSA-xvch-5gv4-984h")).to_have_attribute(
        "href", re.compile(r"^https://")
    )
    expect(minimist.locator('td[data-label="Fixed version"]')).to_have_text("1.2.6")
    expect(minimist.get_by_role("link", name="1.1", exact=True)).to_be_visible()  # fixed in
    expect(minimist.locator('td[data-label="Layer"]')).to_contain_text("#2")

    page.get_by_label("Severity").select_option("medium")
    expect(page).to_have_url(re.compile(r"[?&]severity=medium\b"))
    packages = table.locator(".package-cell strong")
    expect(packages).to_have_text(["requests", "Jinja2"])  # by CVSS score within a severity
    table.get_by_role("link", name="Package").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=package\b"))
    expect(page).to_have_url(re.compile(r"[?&]severity=medium\b"))
    expect(packages).to_have_text(["Jinja2", "requests"])
    page.get_by_role("link", name="Clear filters").click()
    expect(packages).to_have_count(6)


def test_a_visitor_compares_two_tags_from_the_tags_tab(page, scanned):
    page.goto("/r/alice/scanned/-/tags")
    page.get_by_role("link", name="Compare with 1.0").click()
    expect(page).to_have_url(re.compile(r"/r/alice/scanned/-/compare\?base=1\.0&head=1\.1$"))
    gone = page.get_by_role("region", name=re.compile(r"^Gone in 1\.1"))
    expect(gone.locator(".package-cell strong")).to_have_text(["minimist", "lodash"])
    added = page.get_by_role("region", name=re.compile(r"^New in 1\.1"))
    expect(added).to_contain_text("1.1 has no known vulnerability that 1.0 has not.")
    page.get_by_role("link", name="Swap the tags").click()
    expect(page.get_by_role("region", name=re.compile(r"^New in 1\.0"))).to_contain_text("lodash")


def test_a_publisher_asks_for_a_new_scan(new_page, scanned):
    page = new_page(scanned.registry.alice)
    page.goto("/r/alice/scanned/-/tags/1.1")
    panel = page.get_by_role("region", name="Vulnerabilities")
    expect(panel).to_contain_text("Advisory database updated")
    expect(panel.get_by_role("link", name="Download the SBOM")).to_have_attribute(
        "href", f"/api/v1/repositories/alice/scanned/-/images/{scanned.digests['1.1']}/sbom"
    )
    panel.get_by_role("button", name="Scan again").click()
    expect(page).to_have_url(re.compile(re.escape(scanned.findings_path("1.1")) + "$"))
    expect(page.get_by_role("status")).to_contain_text("A new scan is queued.")
    for _ in range(60):  # the scan runs on the server's scan thread
        if "Scanned" in page.locator(".scan-when").inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator(".scan-when")).to_contain_text("Scanned")
