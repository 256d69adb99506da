"""The API's docs page loads under the site's strict Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_api_docs_page_loads_with_no_console_errors(new_page, live_registry):
    page = new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    response = page.goto("/api/docs/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    expect(page.get_by_text("Berth API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/repositories").first).to_be_visible()
    loaded = page.evaluate("performance.getEntries().map(entry => entry.name)")
    external = [url for url in loaded if url.startswith("http") and live_registry.url not in url]
    assert not external, external
    assert not errors, errors
