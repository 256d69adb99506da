"""What search engines and link previews read: robots.txt, the sitemap, icons, social cards.

The sitemap lists every public repository and publisher, through Django's sitemap
framework (an index of pages of at most 50,000 URLs each). Repositories and publishers have
social cards: PNGs drawn once per name and description and kept in the cache.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from pathlib import Path

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control
from PIL import Image, ImageDraw, ImageFont

from . import services
from .models import CatalogEntry, Publisher

CARD_SIZE = (1200, 630)
CARD_SECONDS = 24 * 3600


class RepositorySitemap(Sitemap):
    limit = 50_000
    changefreq = "daily"

    def items(self):
        return (
            CatalogEntry.objects.filter(is_private=False, tag_count__gt=0)
            .order_by("pk")
            .only("name", "pushed_at")
        )

    def location(self, entry) -> str:
        return reverse("repository", args=[entry.name])

    def lastmod(self, entry):
        return entry.pushed_at


class PublisherSitemap(Sitemap):
    limit = 50_000
    changefreq = "weekly"

    def items(self):
        public = CatalogEntry.objects.filter(is_private=False, tag_count__gt=0)
        return (
            Publisher.objects.filter(pk__in=public.values("publisher_id"))
            .select_related("namespace_record")
            .order_by("pk")
        )

    def location(self, publisher) -> str:
        return reverse("publisher", args=[publisher.namespace])


SITEMAPS = {"repositories": RepositorySitemap, "publishers": PublisherSitemap}


def robots_txt(request):
    lines = [
        "User-agent: *",
        "Disallow: /accounts/",
        "Disallow: /admin/",
        "Disallow: /api/",
        "Disallow: /v2/",
        "Disallow: /token",
        "Disallow: /*/-/settings",
        f"Sitemap: {request.build_absolute_uri(reverse('sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


FAVICON = Path(settings.BASE_DIR) / "static" / "img" / "favicon.ico"


@cache_control(public=True, max_age=7 * 24 * 3600)
def favicon(request):
    return HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")


def _font(size: int):
    return ImageFont.load_default(size=size)


def draw_card(name: str, description: str, *, fallback: str = "A repository on Berth.") -> bytes:
    """A 1200 by 630 pixel link preview: the name, the description, the site's mark."""
    image = Image.new("RGB", CARD_SIZE, "#0b1324")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 18, CARD_SIZE[1]], fill="#0f766e")
    draw.text((80, 70), "Berth", font=_font(40), fill="#99f6e4")
    title = name if len(name) <= 40 else "…" + name[-39:]
    draw.text((80, 190), title, font=_font(76 if len(title) <= 24 else 56), fill="#ffffff")
    lines = textwrap.wrap(description or fallback, width=52)[:4]
    for i, line in enumerate(lines):
        draw.text((80, 330 + i * 54), line, font=_font(40), fill="#cbd5e1")
    output = io.BytesIO()
    image.save(output, format="PNG", optimize=True)
    return output.getvalue()


def _card_response(kind: str, name: str, description: str, fallback: str) -> HttpResponse:
    source = f"{kind}\0{name}\0{description}"
    key = "gallery:card:" + hashlib.sha256(source.encode()).hexdigest()
    png = cache.get(key)
    if png is None:
        png = draw_card(name, description, fallback=fallback)
        cache.set(key, png, CARD_SECONDS)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = f"public, max-age={CARD_SECONDS}"
    return response


def card(request, name: str):
    """The social card of a public repository (private ones have none: 404 like the page)."""
    entry = CatalogEntry.objects.filter(name=name, is_private=False).first()
    if entry is None:
        return HttpResponse(status=404)
    return _card_response("repository", entry.name, entry.description, "A repository on Berth.")


def publisher_card(request, namespace: str):
    """The social card of a publisher: its namespace and bio (404 where its page is 404)."""
    publisher = services.shown_publisher(namespace=namespace)
    if publisher is None:
        return HttpResponse(status=404)
    return _card_response("publisher", publisher.namespace, publisher.bio, "A publisher on Berth.")
