"""The API's docs page loads under the site's strict Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_screenshots import SCREENSHOTS

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


def test_the_api_docs_page_leads_back_to_the_site(new_page, live_registry):
    page = new_page()
    page.goto("/api/docs/")
    page.get_by_role("link", name="Berth").click()
    expect(page).to_have_url(live_registry.url + "/")


# The page's ground is dark (or not), and the contrast (WCAG) of the API's title and
# description against it.
PAGE_COLOURS = """() => {
  const rgb = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ground = lum(rgb(getComputedStyle(document.body).backgroundColor));
  const contrast = (selector) => {
    const text = lum(rgb(getComputedStyle(document.querySelector(selector)).color));
    return (Math.max(text, ground) + 0.05) / (Math.min(text, ground) + 0.05);
  };
  return {dark: ground < 0.2, title: contrast(".swagger-ui .info .title"),
          description: contrast(".swagger-ui .info .description p")};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_api_docs_page_follows_the_systems_colour_scheme(new_page, scheme):
    page = new_page(color_scheme=scheme)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Berth API")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"api-docs-{scheme}.png")
    colours = page.evaluate(PAGE_COLOURS)
    assert colours["dark"] == (scheme == "dark"), colours
    assert colours["title"] >= 4.5, colours
    assert colours["description"] >= 4.5, colours
