"""A hostile README saved through the settings form is inert in the visitor's browser.

The page is visited with the Content-Security-Policy bypassed: the sanitizer alone must make
the payloads inert, and the policy (checked separately) is a second line of defence.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import edit_catalog

pytestmark = pytest.mark.browser

NAME = "alice/hostile"
SVG = "PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIj48L3N2Zz4="  # <svg onload="alert(1)"></svg>
HOSTILE = f"""\
# Totally harmless

<script>window.__pwned = 1; alert("script")</script>

<img src=x onerror="window.__pwned = 1; alert('img')">

<iframe src="javascript:alert('iframe')"></iframe>
<iframe srcdoc="<script>parent.__pwned = 1</script>"></iframe>

<svg onload="window.__pwned = 1"><circle r="5"/></svg>

<details open ontoggle="window.__pwned = 1"><summary>Open me</summary>Surprise</details>

<p style="position:fixed;inset:0;background:red" onmouseover="window.__pwned = 1">Cover</p>

<style>body {{ display: none }}</style>

<object data="javascript:alert('object')"></object><embed src="javascript:alert('embed')">

<form action="javascript:alert('form')"><button formaction="javascript:alert(1)">Go</button></form>

<a href="javascript:window.__pwned = 1">plain javascript link</a>
<a href="JaVaScRiPt:alert('case')">mixed case</a>
<a href="&#106;avascript:alert('entity')">entity-encoded</a>
<a href=" javascript:alert('space')">leading space</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>

<img src="data:image/svg+xml;base64,{SVG}" alt="data image">

<div id="main" class="repo-side">Clobbers the page's own id and classes</div>

[markdown javascript link](javascript:window.__pwned=1)
[markdown data link](data:text/html,<script>alert(1)</script>)
![markdown data image](data:image/svg+xml;base64,{SVG})

<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned = 1">
"""

INSPECT = """(root) => {
  const bad = [];
  for (const element of root.querySelectorAll("*")) {
    const tag = element.tagName.toLowerCase();
    if (["script", "iframe", "style", "object", "embed", "form", "svg", "math"].includes(tag))
      bad.push(`<${tag}> element`);
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.trim().toLowerCase();
      if (name.startsWith("on")) bad.push(`${tag}[${name}]`);
      if (name === "style") bad.push(`${tag}[style]`);
      if (name === "id" && !value.startsWith("user-content-")) bad.push(`${tag}#${value}`);
      if (["href", "src", "action", "formaction", "data", "srcdoc"].includes(name)
          && !(value.startsWith("http") || value.startsWith("#") || value.startsWith("mailto:")
               || (name === "src" && !value.includes(":"))))
        bad.push(`${tag}[${name}=${attribute.value}]`);
    }
    if (tag === "a" && element.hasAttribute("href")
        && !/\\bnofollow\\b.*\\bugc\\b.*\\bnoopener\\b/.test(element.rel))
      bad.push(`a without rel=nofollow ugc noopener: ${element.rel}`);
  }
  return bad;
}"""


def test_hostile_readme_renders_inert_and_the_page_sends_a_content_security_policy(
    new_page, published
):
    alice = new_page(published.registry.alice)
    dialogs = []
    alice.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    edit_catalog(alice, NAME, description="Hostile on purpose", about=HOSTILE, usage=HOSTILE)

    visitor = new_page(bypass_csp=True)
    visitor.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response = visitor.goto(f"/r/{NAME}")
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy

    readme = visitor.locator("#readme")
    expect(readme.get_by_role("heading", name="Totally harmless")).to_be_visible()
    readme.get_by_text("Open me").click()  # a <details> toggle, in case ontoggle survived
    readme.get_by_text("plain javascript link").click()
    readme.get_by_text("markdown javascript link").click()
    visitor.wait_for_load_state("load")
    assert readme.evaluate(INSPECT) == []
    assert visitor.locator("#main").count() == 1  # the page's own, not the README's

    visitor.goto(f"/r/{NAME}/-/usage")
    assert visitor.locator("#usage").evaluate(INSPECT) == []
    assert visitor.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
