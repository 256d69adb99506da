"""Markdown from publishers to safe HTML.

Rendered with the `markdown` package (tables, fenced code highlighted by Pygments, heading
anchors), then sanitized by `nh3` against an allowlist: no script, no event handlers, no
`javascript:`/`data:` URLs, no raw iframe or style. Links get `rel="nofollow ugc noopener"`.
Element ids are prefixed (`user-content-`) so a README cannot clobber the page's own ids;
in-page links are rewritten to match.

Python-Markdown has inputs that take quadratic time or recurse past Python's limit, and a
README is hostile until proven otherwise: `render` runs the renderer in a child process with
a CPU-time and a memory limit, and raises RenderError when it fails. Rendering happens once per
save (and once more after a renderer upgrade), so the child's start-up (~0.2 s) is paid by
the publisher, not by every page view.

The HTML is stored with RENDERER_VERSION; bump it whenever this module's output changes and
stored pages re-render on next read (`gallery.services.text_of`).
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys

import markdown
import nh3
from pygments.token import STANDARD_TYPES

RENDERER_VERSION = 1
ID_PREFIX = "user-content-"

EXTENSIONS = ["tables", "fenced_code", "codehilite", "toc", "sane_lists"]
EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "highlight", "guess_lang": False, "wrapcode": True},
    "toc": {
        "permalink": "#",
        "permalink_class": "anchor",
        "permalink_title": "Link to this section",
    },
}

TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "samp",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
ATTRIBUTES = {
    "a": {"href", "title", "id"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "details": {"open"},
    **{f"h{level}": {"id"} for level in range(1, 7)},
    "div": set(),
    "span": set(),
    "code": set(),
}
# Classes only from the renderer itself: Pygments' token classes and our anchors.
CLASSES = {
    "div": {"highlight"},
    "span": {name for name in STANDARD_TYPES.values() if name},
    "a": {"anchor"},
}
_FRAGMENT_LINK = re.compile(r'href="#(?!' + ID_PREFIX + r')([^"]*)"')


# The limit on a text is CPU time, which a busy server does not stretch: the child's start-up
# (about 0.2 s of CPU) and its rendering together get CPU_SECONDS. The wall clock only
# stops a child that is not getting the CPU at all; on a loaded machine a harmless README
# waits its turn far longer than it computes, and must not be refused for it.
CPU_SECONDS = 5
WALL_SECONDS = 60
MEMORY_BYTES = 512 * 1024 * 1024
TOO_SLOW = "This text takes too long to render; simplify it."


class RenderError(ValueError):
    """The text could not be rendered within the limits."""


def render(text: str) -> str:
    """Safe HTML for a publisher's Markdown, rendered in a child process with limits."""
    if not text.strip():
        return ""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gallery.readme", str(CPU_SECONDS)],
            input=text.encode(),
            capture_output=True,
            timeout=WALL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(TOO_SLOW) from None
    if result.returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # its CPU time ran out
        raise RenderError(TOO_SLOW)
    if result.returncode != 0:
        raise RenderError("This text cannot be rendered (too deeply nested?); simplify it.")
    return result.stdout.decode()


def render_here(text: str) -> str:
    """The rendering itself, in this process: only for the child `render` starts."""
    html = markdown.markdown(
        text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS, output_format="html"
    )
    clean = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener",
        id_prefix=ID_PREFIX,
        strip_comments=True,
    )
    return _FRAGMENT_LINK.sub(rf'href="#{ID_PREFIX}\1"', clean)


def _child(cpu_seconds: int) -> None:
    # SIGXCPU at the soft limit, SIGKILL a second later if it is caught.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    html = render_here(sys.stdin.buffer.read().decode("utf-8", errors="replace"))
    sys.stdout.buffer.write(html.encode())


if __name__ == "__main__":
    _child(int(sys.argv[1]))
