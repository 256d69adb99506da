"""What the registry stores in the database: repositories, blobs, manifests, tags, uploads.

Blob content lives in the "blobs" storage, addressed by digest; these rows say which
repository holds which blob (a blob is stored once, however many repositories hold it).
Manifest bodies are kept in the database byte for byte: a GET returns exactly what was pushed.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import names


class Namespace(models.Model):
    """The first component of repository names (`alice` in `alice/app`), and who owns it.

    A namespace is a record of its own, never inferred from a username: a user owns the
    namespace of their username when it is free at the moment the account is created
    (registry.access.namespaces). A namespace without an owner (its user was deleted, or
    staff created it) is reserved: nobody may claim it, only staff write to it. Top-level
    repositories (`nginx`) belong to no namespace.
    """

    class Kind(models.TextChoices):
        USER = "user", "User"
        ORGANIZATION = "organization", "Organization"

    name = models.CharField(max_length=names.NAME_MAX_LENGTH, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.USER)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,  # the name stays reserved when its user goes
        related_name="namespaces",
    )
    # Bytes the namespace's repositories may hold; empty: BERTH_NAMESPACE_QUOTA_BYTES, 0: none.
    quota_bytes = models.BigIntegerField(null=True, blank=True)
    # Visibility of repositories created here; empty: BERTH_NEW_REPOSITORIES_PRIVATE.
    default_private = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RepositoryQuerySet(models.QuerySet):
    def visible_to(self, user) -> RepositoryQuerySet:
        """Repositories `user` may pull: public ones, and private ones they own or share."""
        from .access import policy  # policy decides; the queryset only applies its filter

        return self.filter(policy.visibility_filter(user))

    def listed(self) -> RepositoryQuerySet:
        """Repositories that exist for listings: not provisional."""
        return self.filter(is_provisional=False)


class Repository(models.Model):
    name = models.CharField(max_length=names.NAME_MAX_LENGTH, unique=True)
    # names.namespace_of(name): a Namespace's name, or "" for a top-level repository.
    namespace = models.CharField(max_length=names.NAME_MAX_LENGTH, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="repositories",
    )
    is_private = models.BooleanField(default=False)
    # Created by an upload before any manifest: private (to its writers) until the first
    # manifest gives it its real visibility, listed nowhere, and removed with its uploads
    # unless a manifest arrives.
    is_provisional = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    # When its access last shrank (made private, a grant withdrawn, network rules changed):
    # registry tokens issued before then are checked again (registry.access.revocation).
    access_changed_at = models.DateTimeField(null=True, blank=True)
    # Network rules apply to it (its own or its namespace's): registry.access.sharing.
    network_restricted = models.BooleanField(default=False)
    # Garbage collection of manifests that no tag, index or kept subject reaches: None
    # follows BERTH_GC_UNTAGGED ("keep" or "reclaim").
    reclaim_untagged = models.BooleanField(
        null=True,
        blank=True,
        help_text="Reclaim untagged manifests in garbage collection (empty: the site default)",
    )

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Blob(models.Model):
    """A stored blob. Its bytes are sealed (registry.storage.crypto) when `sealed_key` is set:
    its data key, wrapped by master key `key_id`; blobs stored before encryption was on (or
    with it off) have neither and are stored as they are."""

    digest = models.CharField(max_length=135, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    sealed_key = models.BinaryField(null=True, blank=True, editable=False)
    key_id = models.CharField(max_length=255, blank=True, db_index=True, editable=False)
    repositories = models.ManyToManyField(
        Repository, through="RepositoryBlob", related_name="blobs"
    )

    def __str__(self) -> str:
        return self.digest


class RepositoryBlob(models.Model):
    """The repository holds the blob: it was uploaded or mounted there."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    # Renewed by every upload or mount of the blob into the repository: garbage collection
    # leaves links younger than its grace period alone (a push in progress).
    linked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "blob"], name="repository_blob_once")
        ]

    def __str__(self) -> str:
        return f"{self.repository_id} holds {self.blob_id}"


class Manifest(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="manifests")
    digest = models.CharField(max_length=135)
    media_type = models.CharField(max_length=255)
    # The referrers API's artifact type: artifactType, else the config's media type.
    artifact_type = models.CharField(max_length=255, blank=True)
    subject_digest = models.CharField(max_length=135, blank=True, db_index=True)
    # Its annotations as JSON (ASCII, escapes kept), for the referrers API: set for
    # manifests with a subject, the only ones it lists. Read there instead of the body.
    annotations = models.TextField(blank=True, default="")
    body = models.BinaryField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    blobs = models.ManyToManyField(Blob, related_name="manifests", blank=True)
    children = models.ManyToManyField("self", symmetrical=False, related_name="parents", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="manifest_once")
        ]

    def __str__(self) -> str:
        return f"{self.repository_id}@{self.digest}"


class PendingReference(models.Model):
    """A descriptor of a sparse manifest (the spec's optional sparse-manifest workflow): a
    blob or child manifest the repository did not hold when the manifest arrived. When it
    arrives, the manifest's `blobs` or `children` gain it (so that garbage collection sees
    it referenced) and this row goes."""

    manifest = models.ForeignKey(
        Manifest, on_delete=models.CASCADE, related_name="pending_references"
    )
    digest = models.CharField(max_length=135, db_index=True)
    is_manifest = models.BooleanField(default=False)  # a child of an index, else a blob

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["manifest", "digest", "is_manifest"], name="pending_reference_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.manifest_id} waits for {self.digest}"


class Tag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="tags")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="tag_once")]

    def __str__(self) -> str:
        return self.name


class Upload(models.Model):
    """A blob upload session: bytes staged on disk, owned by one repository and one user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="uploads")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    offset = models.BigIntegerField(default=0)
    # sha256 of bytes [0, offset) when they arrived in one stream; empty when unknown.
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # The session's data key, wrapped (empty: stored as it comes), as on Blob.
    sealed_key = models.BinaryField(null=True, blank=True, editable=False)
    key_id = models.CharField(max_length=255, blank=True, editable=False)
    # The last, partial chunk received so far, sealed (registry.storage.uploads).
    tail = models.BinaryField(default=b"", editable=False)
    # Where the staged bytes are on an object store: multipart upload id, parts, pending.
    staging = models.JSONField(default=dict, editable=False)
    # A lease: the one request appending to the session, from any process, until then.
    holder = models.CharField(max_length=32, blank=True, editable=False)
    held_until = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return str(self.id)


class PullCount(models.Model):
    """Manifest GETs per repository, tag (empty for by-digest pulls) and day, counted in batches."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="pulls")
    tag = models.CharField(max_length=128, blank=True)
    day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "tag", "day"], name="pull_count_once")
        ]

    def __str__(self) -> str:
        return f"{self.repository_id}:{self.tag} {self.day}: {self.count}"


class Collection(models.Model):
    """One garbage collection run (registry.storage.gc): what it reclaimed, or would have."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    grace_seconds = models.PositiveIntegerField()
    manifests = models.PositiveIntegerField(default=0)
    links = models.PositiveIntegerField(default=0)
    blobs = models.PositiveIntegerField(default=0)
    bytes_freed = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"collection {self.started_at:%Y-%m-%d %H:%M} ({self.blobs} blobs)"


# Access (members, tokens, robots, policies, audit), the pull-through cache, replication and
# vulnerability scanning keep their tables in this app; their models live with them.
from .access.models import (  # noqa: E402, F401
    AccessToken,
    AccountState,
    AuditEvent,
    Membership,
    NetworkRule,
    RepositoryGrant,
    Robot,
    RobotPermission,
    Role,
)
from .cache.models import (  # noqa: E402, F401
    BlobFetch,
    CachedManifest,
    CachedRepository,
    CachedTag,
    CacheRule,
)
from .replication.models import (  # noqa: E402, F401
    ReplicatedTag,
    ReplicationRule,
    ReplicationState,
)
from .scanning.models import (  # noqa: E402, F401
    Advisory,
    AdvisoryImport,
    AffectedPackage,
    Finding,
    ImagePackage,
    ImageScan,
)
