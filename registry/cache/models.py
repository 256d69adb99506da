"""The pull-through cache's records: rules, cached repositories, what was checked and
pulled when, and the blob fetches in progress. (Imported by registry.models, so that they
belong to the registry app.)"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from registry import names


class CacheRule(models.Model):
    """Repositories under `prefix/` in Berth are a pull-through cache of `upstream`:
    `prefix/<path>` is `<namespace>/<path>` there (`hub/library/alpine` ->
    `library/alpine` at `https://registry-1.docker.io`). Set by staff."""

    prefix = models.CharField(max_length=names.NAME_MAX_LENGTH, unique=True)
    upstream = models.CharField(max_length=2048, help_text="https://registry-1.docker.io")
    namespace = models.CharField(
        max_length=names.NAME_MAX_LENGTH,
        blank=True,
        help_text="Prepended upstream: with “library”, hub/alpine is library/alpine there.",
    )
    username = models.CharField(max_length=255, blank=True)
    # registry.upstream.vault, bound to "cache-rule:<id>"; never shown again.
    password_sealed = models.TextField(blank=True, editable=False)
    allow_private_networks = models.BooleanField(
        default=False,
        help_text="Connect to loopback, link-local and private addresses (an upstream inside "
        "your own network).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["prefix"]

    def __str__(self) -> str:
        return f"{self.prefix}/ → {self.upstream}"

    def upstream_name(self, name: str) -> str:
        """The upstream repository that Berth's `name` (under the prefix) caches."""
        rest = name[len(self.prefix) + 1 :]
        return f"{self.namespace}/{rest}" if self.namespace else rest


class CachedRepository(models.Model):
    """A repository that is a cache of an upstream one: read-only, shown with its origin."""

    repository = models.OneToOneField(
        "registry.Repository", on_delete=models.CASCADE, primary_key=True, related_name="cached"
    )
    rule = models.ForeignKey(CacheRule, on_delete=models.CASCADE, related_name="repositories")
    upstream_name = models.CharField(max_length=names.NAME_MAX_LENGTH)

    class Meta:
        verbose_name_plural = "cached repositories"

    def __str__(self) -> str:
        return f"{self.repository_id} from {self.upstream_name}"


class CachedTag(models.Model):
    """A tag pulled through the cache: the digest the upstream gave for it when it was last
    checked (`validated_at`), and when a client last pulled it (to an hour: `pulled_at`)."""

    repository = models.ForeignKey(
        "registry.Repository", on_delete=models.CASCADE, related_name="cached_tags"
    )
    name = models.CharField(max_length=128)
    digest = models.CharField(max_length=135)
    validated_at = models.DateTimeField()
    pulled_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="cached_tag_once")
        ]

    def __str__(self) -> str:
        return f"{self.repository_id}:{self.name}"


class CachedManifest(models.Model):
    """When a client last pulled a cached manifest (by tag or digest, to an hour)."""

    repository = models.ForeignKey(
        "registry.Repository", on_delete=models.CASCADE, related_name="cached_manifests"
    )
    digest = models.CharField(max_length=135)
    pulled_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="cached_manifest_once")
        ]

    def __str__(self) -> str:
        return f"{self.repository_id}@{self.digest}"


class BlobFetch(models.Model):
    """A blob being fetched from an upstream, by one request (`holder`) at a time, whatever
    the process: others asking for the same digest wait for it. A holder that died leaves
    its lease to run out (`held_until`); the next request takes over."""

    digest = models.CharField(max_length=135, unique=True)
    holder = models.CharField(max_length=32)
    held_until = models.DateTimeField()
    started_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"fetch of {self.digest}"
