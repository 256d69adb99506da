"""The catalog: what the gallery knows about each repository, on top of the registry.

Catalog data (description, about, usage, logo) is written by publishers. Everything else
(artifact type, platforms, sizes, tags, downloads) is derived from the registry by
`gallery.services.index_repository`, never declared by hand.
"""

from __future__ import annotations

from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import StrIndex, Substr

from registry.models import Namespace, Repository

from .querysets import CatalogEntryQuerySet

ABOUT_MAX = 25_600
PLATFORMS_SHOWN = 8  # children of an index listed per image on the Tags tab
DESCRIPTION_MAX = 1_024
# A name without its namespace ("nginx" of "library/nginx"), indexed: search ranks it first.
SHORT_NAME = Substr("name", StrIndex("name", Value("/")) + 1)


class ArtifactType(models.TextChoices):
    IMAGE = "image", "Container image"
    HELM = "helm", "Helm chart"
    POLICY = "policy", "Policy bundle"
    ARTIFACT = "artifact", "OCI artifact"


class AttachmentKind(models.TextChoices):
    """What a manifest attached to an image (by `subject` or by the .sig/.att/.sbom tag
    scheme) is, as the Tags tab's chips name it."""

    SIGNATURE = "signature", "Signed"
    SBOM = "sbom", "SBOM"
    ATTESTATION = "attestation", "Attestation"
    OTHER = "other", "Attachment"


class Publisher(models.Model):
    """The public face of a namespace (`/u/<namespace>`): its profile and verified badge.

    It belongs to the namespace record, not to a user: the badge can never pass to someone
    who signs up later under a name that once was somebody else's."""

    namespace_record = models.OneToOneField(
        Namespace, on_delete=models.CASCADE, related_name="publisher"
    )
    display_name = models.CharField(max_length=100, blank=True)
    bio = models.CharField(max_length=DESCRIPTION_MAX, blank=True)
    website = models.URLField(blank=True)
    is_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name or self.namespace

    @property
    def namespace(self) -> str:
        return self.namespace_record.name


class CatalogEntry(models.Model):
    """One repository as the catalog lists it: a narrow row, so that counting and faceting
    100,000 of them stays cheap. Long texts live in CatalogText."""

    repository = models.OneToOneField(
        Repository, on_delete=models.CASCADE, primary_key=True, related_name="catalog"
    )
    # Copied from the repository so that search and its facets read one table: the name
    # never changes, privacy is copied by every service that changes it, and the field
    # names match registry.policy.visibility_filter.
    name = models.CharField(max_length=255, unique=True)
    namespace = models.CharField(max_length=255, db_index=True)
    is_private = models.BooleanField(default=False)
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    description = models.CharField(max_length=DESCRIPTION_MAX, blank=True)
    logo = models.ImageField(upload_to="logos/", blank=True)

    # Derived from the registry.
    artifact_type = models.CharField(
        max_length=16, choices=ArtifactType.choices, default=ArtifactType.IMAGE
    )
    # " linux/amd64 linux/arm64 ": every os/architecture of the tagged images, space-delimited
    # so that a facet filter is one LIKE on this row and never a join.
    platforms = models.TextField(blank=True, default="")
    tag_count = models.PositiveIntegerField(default=0)
    total_size = models.BigIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    downloads = models.BigIntegerField(default=0, db_index=True)
    is_verified = models.BooleanField(default=False)  # the publisher's badge, copied for facets
    is_signed = models.BooleanField(default=False)  # a tagged image carries a signature
    # Links from the standard labels of the newest image: {"source", "url", "documentation",
    # "licenses", "version"} (gallery.describe.LINK_KEYS).
    links = models.JSONField(default=dict, blank=True)
    # When the catalog data last changed (indexed, edited, logo or visibility changed): the
    # API's Last-Modified, so a client revalidating with If-Modified-Since sees every edit.
    indexed_at = models.DateTimeField(null=True, blank=True)
    # Search reads columns (PostgreSQL) or tables (SQLite) that the database derives from
    # these fields: see gallery.searchschema.

    objects = CatalogEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "catalog entries"
        indexes = [
            models.Index(fields=["-downloads", "name"], name="catalog_by_downloads"),
            models.Index(fields=["-pushed_at", "name"], name="catalog_by_update"),
            models.Index(SHORT_NAME, name="catalog_by_short_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[-1]

    @property
    def platform_list(self) -> list[str]:
        return self.platforms.split()

    @property
    def architectures(self) -> list[str]:
        return sorted({p.split("/", 1)[-1] for p in self.platforms.split()})


class CatalogText(models.Model):
    """A repository's Markdown texts, as written and as rendered (gallery.readme)."""

    entry = models.OneToOneField(
        CatalogEntry, on_delete=models.CASCADE, primary_key=True, related_name="text"
    )
    about = models.TextField(blank=True, validators=[MaxLengthValidator(ABOUT_MAX)])
    usage = models.TextField(blank=True, validators=[MaxLengthValidator(ABOUT_MAX)])
    # Rendered once on save, re-rendered when gallery.readme.RENDERER_VERSION changes.
    about_html = models.TextField(blank=True, editable=False)
    usage_html = models.TextField(blank=True, editable=False)
    rendered_with = models.PositiveSmallIntegerField(default=0, editable=False)

    def __str__(self) -> str:
        return f"text of {self.entry_id}"


class FacetGroup(models.Model):
    """How many listed catalog entries share one combination of facet values and privacy.

    Kept by database triggers (gallery.searchschema) in the transaction of every change to an
    entry, so that browsing by facets sums a few hundred rows instead of counting the catalog.
    Rows are never deleted; a combination nobody has any more counts 0.
    """

    artifact_type = models.CharField(max_length=16)
    platforms = models.TextField()
    is_verified = models.BooleanField()
    is_signed = models.BooleanField()
    is_private = models.BooleanField()
    entries = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["artifact_type", "platforms", "is_verified", "is_signed", "is_private"],
                name="facet_group_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.artifact_type} {self.platforms.strip()} ({self.entries})"


class CatalogImage(models.Model):
    """One tagged manifest (image, index or artifact) as the Tags tab shows it."""

    entry = models.ForeignKey(CatalogEntry, on_delete=models.CASCADE, related_name="images")
    digest = models.CharField(max_length=135)
    media_type = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=ArtifactType.choices, default=ArtifactType.IMAGE)
    artifact_type = models.CharField(max_length=255, blank=True)
    # For an index: the largest child, as public galleries report it.
    size = models.BigIntegerField(default=0)
    # [{"os", "architecture", "variant", "digest", "size"}], one per child for an index (at
    # most gallery.describe.PLATFORMS_KEPT of them; child_count says how many there are).
    platforms = models.JSONField(default=list, blank=True)
    child_count = models.PositiveIntegerField(default=0)
    links = models.JSONField(default=dict, blank=True)  # from its standard labels
    pushed_at = models.DateTimeField()
    # The best (highest-sorting) version key among its tags: orders the Tags tab.
    sort_key = models.CharField(max_length=300, db_index=True)  # a version key, "~", a tag

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "digest"], name="catalog_image_once")
        ]
        indexes = [models.Index(fields=["entry", "-sort_key"], name="catalog_image_order")]

    def __str__(self) -> str:
        return self.digest

    @property
    def platform_count(self) -> int:
        return self.child_count or len(self.platforms)

    @property
    def more_children(self) -> int:
        """Platform children of an index not listed on the Tags tab."""
        return max(self.child_count - min(len(self.platforms), PLATFORMS_SHOWN), 0)

    @property
    def is_index(self) -> bool:
        from registry import mediatypes

        return self.media_type in mediatypes.INDEXES


class CatalogTag(models.Model):
    entry = models.ForeignKey(CatalogEntry, on_delete=models.CASCADE, related_name="tags")
    image = models.ForeignKey(CatalogImage, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    sort_key = models.CharField(max_length=160)
    pushed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "name"], name="catalog_tag_once")]
        indexes = [models.Index(fields=["image", "-sort_key"], name="catalog_tag_order")]

    def __str__(self) -> str:
        return self.name


class CatalogAttachment(models.Model):
    """A signature, SBOM, attestation or other artifact attached to one of the images."""

    entry = models.ForeignKey(CatalogEntry, on_delete=models.CASCADE, related_name="attachments")
    subject = models.CharField(max_length=135, db_index=True)  # the digest it is attached to
    digest = models.CharField(max_length=135)
    kind = models.CharField(max_length=16, choices=AttachmentKind.choices)
    artifact_type = models.CharField(max_length=255, blank=True)
    media_type = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    tag = models.CharField(max_length=128, blank=True)  # the .sig/.att/.sbom tag, if any
    pushed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "digest"], name="catalog_attachment_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.digest} of {self.subject}"


# Archive imports keep their table in this app; the model lives with them.
from .publishing.models import ArchiveImport  # noqa: E402, F401
