"""Forms in the browser: how their parts sit (choices beside their words, boxes in a row of
the same height, a form's own error apart from its fields)."""

import re
import secrets

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Each radio button or checkbox of a form that is not inside its label, stretched across the
# form, or on a line of its own above its words, as "name: what is wrong".
MISPLACED_CHOICES = """() => {
  const out = [];
  for (const input of document.querySelectorAll(
      ".stacked-form input[type=radio], .stacked-form input[type=checkbox]")) {
    const label = input.closest("label");
    const box = input.getBoundingClientRect();
    if (!label) { out.push(input.name + ": not inside its label"); continue; }
    const words = label.getBoundingClientRect();
    if (box.width > 40) out.push(input.name + ": " + Math.round(box.width) + " px wide");
    if (words.height > 2.5 * box.height) out.push(input.name + ": its words are on another line");
  }
  return out;
}"""


def test_choices_sit_beside_their_words(new_page, live_registry):
    alice = live_registry.alice
    page = new_page(alice)
    for path in ("/settings/tokens", f"/u/{alice.username}/-/replication"):
        page.goto(path)
        assert (
            page.locator(
                ".stacked-form input[type=radio], .stacked-form input[type=checkbox]"
            ).count()
            >= 2
        )
        assert page.evaluate(MISPLACED_CHOICES) == [], path


def test_the_namespace_and_name_of_a_new_repository_line_up(new_page, live_registry):
    page = new_page(live_registry.alice)
    page.goto("/new")
    namespace = page.get_by_label("Namespace").bounding_box()
    name = page.get_by_label("Name", exact=True).bounding_box()
    assert round(namespace["y"]) == round(name["y"])
    assert round(namespace["height"]) == round(name["height"])


def test_a_forms_own_error_stands_apart_from_its_first_label(page, live_registry):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(live_registry.alice.username)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator(".errorlist.nonfield").bounding_box()
    label = page.get_by_text("Username", exact=True).bounding_box()
    assert label["y"] - (error["y"] + error["height"]) >= 8


def test_a_new_repositorys_name_error_sits_under_the_name(new_page, live_registry):
    page = new_page(live_registry.alice)
    name = f"twice{secrets.token_hex(3)}"
    for _ in range(2):
        page.goto("/new")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create repository").click()
    error = page.get_by_text("A repository of that name exists.")
    expect(error).to_be_visible()
    # Right under the name's help text, and apart from the next field's label.
    above = page.get_by_text("Lowercase letters and digits").bounding_box()
    below = page.get_by_text("Visibility", exact=True).bounding_box()
    message = error.bounding_box()
    assert message["y"] - (above["y"] + above["height"]) < 12
    assert below["y"] - (message["y"] + message["height"]) >= 12
    expect(page.get_by_label("Name", exact=True)).to_have_accessible_description(
        re.compile("A repository of that name exists")
    )


def test_a_field_with_an_error_is_outlined_apart_from_the_others(new_page, live_registry):
    page = new_page(live_registry.alice)
    page.goto("/settings/tokens")
    page.get_by_label("Name", exact=True).fill(" ")  # passes the browser's check, not the server's
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    border = "element => getComputedStyle(element).borderTopColor"
    wrong = page.get_by_label("Name", exact=True).evaluate(border)
    right = page.get_by_label("Expires").evaluate(border)
    assert wrong != right


def test_deleting_a_repository_says_at_the_field_what_to_type(new_page, live_registry):
    """The server's "Type … to confirm" lands at the top of a long page; the field says it."""
    page = new_page(live_registry.alice)
    name = f"{live_registry.alice.username}/gone{secrets.token_hex(3)}"
    page.goto("/new")
    page.get_by_label("Name", exact=True).fill(name.split("/", 1)[1])
    page.get_by_role("button", name="Create repository").click()
    page.goto(f"/r/{name}/-/settings")
    confirm = page.get_by_label(f"Type {name} to confirm")
    for typed in ("", name[:-1]):
        confirm.fill(typed)
        page.get_by_role("button", name="Delete repository").click()
        expect(page).to_have_url(re.compile(rf"/r/{re.escape(name)}/-/settings$"))
        assert confirm.evaluate("input => !input.validity.valid")
    confirm.fill(name)
    page.get_by_role("button", name="Delete repository").click()
    expect(page.get_by_role("status")).to_contain_text(f"Repository {name} deleted.")


# The contrast ratio (WCAG) of the focused element's outline against the page behind it.
FOCUS_CONTRAST = """() => {
  const rgb = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const outline = lum(rgb(getComputedStyle(document.activeElement).outlineColor));
  const page = lum(rgb(getComputedStyle(document.body).backgroundColor));
  return (Math.max(outline, page) + 0.05) / (Math.min(outline, page) + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_focus_ring_stands_out_from_the_page(new_page, scheme):
    page = new_page(color_scheme=scheme)
    page.goto("/accounts/login/")
    page.get_by_label("Username").focus()
    page.keyboard.press("Tab")  # to the password, focused from the keyboard
    assert page.evaluate(FOCUS_CONTRAST) >= 3


# How far the focused element's outline reaches past the box of its scrolling tab bar, in px.
OUTLINE_PAST_TAB_BAR = """() => {
  const tab = document.activeElement, style = getComputedStyle(tab);
  const reach = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth);
  const box = tab.getBoundingClientRect(), bar = tab.closest(".tabs").getBoundingClientRect();
  return Math.max(0, bar.top - (box.top - reach), box.bottom + reach - bar.bottom);
}"""


def test_a_focused_tab_shows_its_whole_focus_ring(new_page, live_registry):
    """Tab bars scroll sideways, and a scrolling box clips what reaches past it."""
    page = new_page(live_registry.alice)
    page.goto(f"/u/{live_registry.alice.username}/-/settings")
    page.get_by_role("navigation", name="Organization").get_by_role("link").first.focus()
    page.keyboard.press("Tab")  # to the next tab, focused from the keyboard
    assert page.evaluate(OUTLINE_PAST_TAB_BAR) == 0


# The contrast ratio (WCAG) of an element's text against its own background colour.
TEXT_CONTRAST = """(element) => {
  const rgb = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const style = getComputedStyle(element);
  const text = lum(rgb(style.color)), back = lum(rgb(style.backgroundColor));
  return (Math.max(text, back) + 0.05) / (Math.min(text, back) + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_danger_buttons_words_are_readable(new_page, live_registry, scheme):
    page = new_page(live_registry.alice, color_scheme=scheme)
    page.goto("/settings/tokens")
    page.get_by_label("Name", exact=True).fill(f"contrast-{secrets.token_hex(3)}")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("link", name=re.compile("^Revoke")).first.click()
    revoke = page.get_by_role("button", name=re.compile("^Revoke"))
    assert revoke.evaluate(TEXT_CONTRAST) >= 4.5
    revoke.hover()
    assert revoke.evaluate(TEXT_CONTRAST) >= 4.5


def test_a_replication_rules_problem_is_said_at_its_field(new_page, live_registry):
    page = new_page(live_registry.alice)
    page.goto(f"/u/{live_registry.alice.username}/-/replication")
    page.get_by_label("Another publisher on this site").check()
    page.get_by_label("Publisher", exact=True).fill("nobody-at-all")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_label("Publisher", exact=True)).to_have_accessible_description(
        re.compile("No other publisher of that name")
    )
    expect(page.locator(".errorlist.nonfield")).to_have_count(0)
