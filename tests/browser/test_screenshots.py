"""The main pages on a desktop and a phone: saved as screenshots for people to look at.

Screenshots land in tests/artifacts/screenshots/ (gitignored). The tests check what a glance at
a screenshot can miss: no page logs an error, and no page scrolls sideways.
"""

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PAGES = {
    "home": "/",
    "search": "/search?q=webapp",
    "search-filtered": "/search?arch=amd64&type=image",
    "repository-about": "/r/alice/webapp",
    "repository-tags": "/r/alice/webapp/-/tags",
    "image": "/r/alice/signed/-/tags/1.0",
    "publisher": "/u/alice",
}


def pages(scanned) -> dict[str, str]:
    """PAGES and the pages of alice/scanned's vulnerabilities."""
    return {
        **PAGES,
        "scanned-tags": "/r/alice/scanned/-/tags",
        "scanned-image": "/r/alice/scanned/-/tags/1.0",
        "vulnerabilities": scanned.findings_path("1.0"),
        "vulnerabilities-filtered": scanned.findings_path("1.0") + "?severity=medium&sort=package",
        "compare": "/r/alice/scanned/-/compare?base=1.0&head=1.1",
    }


DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DARK = {**DESKTOP, "color_scheme": "dark"}
DARK_PHONE = {**PHONE, "color_scheme": "dark"}
DEVICES = [
    pytest.param(DESKTOP, id="desktop"),
    pytest.param(PHONE, id="mobile"),
    pytest.param(DARK, id="dark"),
    pytest.param(DARK_PHONE, id="dark-mobile"),
]
# The outermost elements that stick out past the right edge, as "selector (right edge px)".
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + [...e.classList].map((c) => "." + c).join("");
  const out = [];
  for (const e of document.body.querySelectorAll("*")) {
    const right = Math.round(e.getBoundingClientRect().right);
    const parent = e.parentElement.getBoundingClientRect().right;
    if (right > width && parent <= width) out.push(`${name(e)} (${right}px)`);
  }
  return out.length ? out : [`html (${document.documentElement.scrollWidth}px)`];
}"""


@pytest.mark.parametrize("device", DEVICES)
def test_main_pages_load_without_errors_and_are_saved_as_screenshots(
    new_page, published, scanned, device
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page(**device)
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    name = {id(PHONE): "mobile", id(DARK): "dark", id(DARK_PHONE): "dark-mobile"}.get(
        id(device), "desktop"
    )
    for page_name, path in pages(scanned).items():
        response = page.goto(path)
        assert response.status == 200, path
        page.screenshot(path=SCREENSHOTS / f"{page_name}-{name}.png", full_page=True)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("device", [DEVICES[0], pytest.param(PHONE, id="mobile")])
def test_main_pages_do_not_scroll_sideways(new_page, published, scanned, device):
    page = new_page(**device)
    problems = []
    for path in pages(scanned).values():
        page.goto(path)
        overflow = page.evaluate(OVERFLOW)
        if overflow:
            problems.append(f"{path} is wider than the screen: {', '.join(overflow)}")
    assert not problems, "\n".join(problems)


PUBLISHER_PAGES = {
    "settings": "/r/alice/webapp/-/settings",
    "upload": "/r/alice/webapp/-/upload",
    "new-repository": "/new",
    "tokens": "/settings/tokens",
    "account": "/accounts/",
}


@pytest.mark.parametrize("device", DEVICES)
def test_publisher_pages_are_saved_as_screenshots_and_fit_the_screen(new_page, published, device):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page(published.registry.alice, **device)
    name = {id(PHONE): "mobile", id(DARK): "dark", id(DARK_PHONE): "dark-mobile"}.get(
        id(device), "desktop"
    )
    problems = []
    for page_name, path in PUBLISHER_PAGES.items():
        response = page.goto(path)
        assert response.status == 200, path
        if page_name == "settings":  # the live preview renders the README as it is typed
            page.get_by_label("About", exact=True).fill("# Webapp\n\nA **tiny** web app.")
            page.locator("#id_about_preview h1").first.wait_for()
        page.screenshot(path=SCREENSHOTS / f"{page_name}-{name}.png", full_page=True)
        overflow = page.evaluate(OVERFLOW)
        if overflow:
            problems.append(f"{path} is wider than the screen: {', '.join(overflow)}")
    assert not problems, "\n".join(problems)
