"""Template helpers: query-string editing, human sizes, and the lists pages repeat."""

import re
from typing import NamedTuple

from django import template
from django.template import engines
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

register = template.Library()


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with `changes` applied (None or "" removes a key)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def size(value) -> str:
    """Sizes as registries print them (1.2 MB), never "0 bytes" for unknown."""
    return filesizeformat(value) if value else "—"


@register.filter
def short_digest(value: str) -> str:
    algorithm, _, encoded = (value or "").partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else value


@register.filter
def breakable(value) -> SafeString:
    """A command or reference that may wrap after / : and @ (<wbr>), the seams people read,
    rather than in the middle of a tag (`hello:lates` / `t`). Copying it copies no <wbr>."""
    text = str(escape(value))
    for seam in "/:@":
        text = text.replace(seam, seam + "<wbr>")
    return mark_safe(text)  # noqa: S308 (escaped above; only <wbr> added)


@register.filter
def literal_pattern(value) -> str:
    """`value` as an input's pattern attribute that matches it alone: its regular expression
    syntax characters escaped (a name's dots matched any character)."""
    return re.sub(r"[\\^$.*+?()[\]{}|/]", lambda match: "\\" + match.group(), str(value))


@register.filter
def compact(value) -> str:
    """Counts as people read them: 950, 15.2K, 3.4M."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return "0"
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if number >= limit:
            return f"{number / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(number)


class _Unit(NamedTuple):
    """A unit of timesince()'s in English, as its lazily translated strings would give it:
    the pages speak English only, and translating each card's date cost more than the rest
    of the card."""

    one: str
    many: str

    def __mod__(self, values: dict) -> str:
        return (self.one if values["num"] == 1 else self.many) % values


_UNITS = {
    unit: _Unit(f"%(num)d {unit}", f"%(num)d {unit}s")
    for unit in ("year", "month", "week", "day", "hour", "minute")
}


@register.filter
def ago(moment) -> str:
    """ "just now", "5 minutes ago", "2 weeks ago" (the largest unit only)."""
    if not moment:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, depth=1, time_strings=_UNITS)} ago"


@register.filter
def is_web_link(value) -> bool:
    """An http(s) URL a page may link to (labels and annotations are the publisher's text)."""
    text = str(value or "")
    return text.startswith(("https://", "http://")) and not any(c.isspace() for c in text)


@register.simple_tag(takes_context=True)
def query_without(context, key: str, value: str = "") -> str:
    """The current query string without one value of `key` (all values when `value` is ""),
    and without the page cursors."""
    params = context["request"].GET.copy()
    for cursor in ("after", "before", "page"):
        params.pop(cursor, None)
    if value:
        params.setlist(key, [v for v in params.getlist(key) if v != value])
    else:
        params.pop(key, None)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _jinja2(name: str, context: dict) -> SafeString:
    """A list rendered by Jinja2 (templates/jinja2/, autoescaped): 20 cards and a dozen
    facet options took the Django engine about 3 ms of a search page's CPU, half of what
    the search itself took; Jinja2 takes about half of that."""
    return mark_safe(engines["jinja2"].get_template(name).render(context))  # noqa: S308


@register.simple_tag
def card_list(cards) -> SafeString:
    """Cards of repositories, from gallery.listing.cards()."""
    return _jinja2("cards.html", {"cards": cards})


@register.simple_tag
def facet_list(facets) -> SafeString:
    """The facets of a search page, each a fieldset of checkboxes."""
    return _jinja2("facets.html", {"facets": facets})
