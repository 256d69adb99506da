"""Reusable catalog filters. Visibility is decided by registry.policy, applied here."""

from __future__ import annotations

from django.db import models

from registry.access import policy


class CatalogEntryQuerySet(models.QuerySet):
    def visible_to(self, user) -> CatalogEntryQuerySet:
        """Entries `user` may see (the entry mirrors the repository's privacy fields)."""
        return self.filter(policy.visibility_filter(user))

    def listed(self) -> CatalogEntryQuerySet:
        """Entries worth showing: at least one tag to pull."""
        return self.filter(tag_count__gt=0)

    def by_downloads(self) -> CatalogEntryQuerySet:
        return self.order_by("-downloads", "name")

    def recently_updated(self) -> CatalogEntryQuerySet:
        return self.filter(pushed_at__isnull=False).order_by("-pushed_at", "name")
