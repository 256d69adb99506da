import sys

import pytest

from gallery import readme

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "![x](data:image/svg+xml;base64,PHN2Zy8+)",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<div style="position:fixed;top:0">overlay</div>',
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="#" onclick="alert(1)">x</a>',
    "<details open ontoggle=alert(1)>x</details>",
    '<form action="https://evil.example"><input name=p></form>',
    '<object data="x.swf"></object><embed src="x.swf">',
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    '<base href="https://evil.example/">',
    '<span id="main">clobber</span>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    "```html\n<script>alert(1)</script>\n```",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_defused(source):
    html = readme.render(source).lower()
    assert "<script" not in html
    for handler in ("onerror", "onclick", "ontoggle"):
        assert handler not in html
    assert "javascript:" not in html
    assert "data:" not in html
    for tag in (
        "<iframe",
        "<style",
        "<form",
        "<object",
        "<embed",
        "<meta",
        "<base",
        "<svg",
        "<math",
    ):
        assert tag not in html
    assert " style=" not in html
    assert 'id="main"' not in html


def test_links_get_nofollow_ugc_noopener():
    html = readme.render("[docs](https://example.com/docs)")
    assert 'href="https://example.com/docs"' in html
    assert 'rel="nofollow ugc noopener"' in html


def test_tables_render():
    html = readme.render("| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<table>" in html
    assert "<td>1</td>" in html


def test_fenced_code_is_highlighted():
    html = readme.render("```python\ndef f():\n    return 1\n```")
    assert '<div class="highlight">' in html
    assert '<span class="k">def</span>' in html


def test_headings_get_prefixed_anchors_and_in_page_links_follow():
    html = readme.render("# Getting started\n\nSee [below](#getting-started).")
    assert 'id="user-content-getting-started"' in html
    assert 'href="#user-content-getting-started"' in html


def test_empty_text_renders_nothing():
    assert readme.render("   ") == ""


def test_a_text_that_uses_up_its_cpu_time_is_refused_as_too_slow(monkeypatch):
    monkeypatch.setattr(readme, "CPU_SECONDS", 1)
    with pytest.raises(readme.RenderError, match="takes too long"):
        readme.render("[" * 4000 + "a")  # Python-Markdown's bracket scan is superlinear


def test_a_readme_waiting_longer_than_its_cpu_time_still_renders(monkeypatch, tmp_path):
    """On a busy machine the child waits for the CPU longer than it computes: the limit is
    CPU time, so a harmless README is not refused for the wait (here, a second asleep
    before it starts, with a CPU budget of one second)."""
    slow_start = tmp_path / "python"
    slow_start.write_text(f'#!/bin/sh\nsleep 2\nexec "{sys.executable}" "$@"\n')
    slow_start.chmod(0o755)
    monkeypatch.setattr(readme, "CPU_SECONDS", 1)
    monkeypatch.setattr(readme.sys, "executable", str(slow_start))
    assert "<strong>bold</strong>" in readme.render("Some **bold** text.")
