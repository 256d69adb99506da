"""Markdown from publishers to safe HTML.

Rendered with the `markdown` package (tables, fenced code highlighted by Pygments, heading
anchors), then sanitized by `nh3` against an allowlist: no script, no event handlers, no
`javascript:`/`data:` URLs, no raw iframe or style. Links get `rel="nofollow ugc noopener"`.
Element ids are prefixed (`user-content-`) so a README cannot clobber the page's own ids;
in-page links are rewritten to match.

The HTML is stored with RENDERER_VERSION; bump it whenever this module's output changes and
stored pages re-render on next read (`gallery.services.ensure_rendered`).
"""

from __future__ import annotations

import re

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


def render(text: str) -> str:
    """Safe HTML for a publisher's Markdown."""
    if not text.strip():
        return ""
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
