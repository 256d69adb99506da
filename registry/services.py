"""Registry operations: everything that touches several models, the blob storage or the hook.

Views authorize and then call exactly one of these. Each is keyword-only and verb-first.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from . import digests, manifests, names, queries, quotas
from .access import audit, namespaces, revocation
from .db import bytewise
from .digests import Digest
from .errors import (
    BlobUnknown,
    BlobUploadUnknown,
    DigestInvalid,
    ErrorList,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    RegistryError,
    RepositoryExists,
    Unsupported,
)
from .models import Blob, Manifest, PendingReference, Repository, RepositoryBlob, Tag, Upload
from .storage import blobs, locks, uploads

log = logging.getLogger(__name__)


# -- the hook: how the rest of the world learns about pushes and deletes -----------------------


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    # "push", "delete", "update" (the repository's settings changed), or "pull" (a batch of
    # pull counts was written)
    action: str
    repository_id: int
    repository: str
    reference: str = ""
    digest: str = ""


# Registry subsystems told of every event, after commit, before the configurable hook: each is
# the dotted path of a callable taking a RegistryEvent. Explicit and in one place (no signals):
# a subsystem that wants to hear of pushes adds its listener here.
SUBSYSTEMS = (
    "registry.scanning.tasks.on_registry_event",
    "registry.replication.tasks.on_registry_event",
)


@cache
def _listeners() -> tuple:
    listeners = [import_string(path) for path in SUBSYSTEMS]
    if settings.BERTH_REGISTRY_HOOK:
        listeners.append(import_string(settings.BERTH_REGISTRY_HOOK))
    return tuple(listeners)


def notify(event: RegistryEvent) -> None:
    """Tell the registry's subsystems, then BERTH_REGISTRY_HOOK, once the transaction commits."""

    def call():
        for listener in _listeners():
            try:
                listener(event)
            except Exception:  # the push has happened; a failing listener must not undo it
                log.exception("registry listener %s failed for %s", listener, event)

    transaction.on_commit(call)


# -- repositories -------------------------------------------------------------------------------


def get_repository(*, name: str) -> Repository:
    repository = queries.repository(name)
    if repository is None:
        raise NameUnknown(detail={"name": name})
    return repository


def repository_for_upload(*, name: str, user_id: int | None) -> Repository:
    """The repository an upload goes to: created provisional if it does not exist yet.

    A provisional repository is private (seen and pulled by its writers only) and listed
    nowhere; the first manifest makes it a repository with the default visibility
    (`commit_manifest`), and `purge_expired_uploads` removes it with its uploads if none
    arrives. A failed push leaves nothing behind.
    """
    return _repository(name=name, user_id=user_id, provisional=True)


def repository_for_push(*, name: str, user_id: int | None) -> Repository:
    """The repository a manifest goes to, created on first push (the caller may push there)."""
    return _repository(name=name, user_id=user_id, provisional=False)


def _repository(*, name: str, user_id: int | None, provisional: bool) -> Repository:
    if not names.is_valid_name(name):
        raise NameInvalid(detail={"name": name[:300]})
    repository = queries.repository(name)
    if repository is not None:
        return repository
    try:
        with transaction.atomic():
            namespace = namespaces.ensure_namespace(name)
            return Repository.objects.create(
                name=name,
                namespace=namespace.name if namespace else "",
                owner_id=user_id,
                is_private=provisional or namespaces.new_repository_private(name),
                is_provisional=provisional,
                network_restricted=namespaces.restricted_by_namespace(name),
            )
    except IntegrityError:  # created concurrently by another request
        return Repository.objects.get(name=name)


def create_repository(
    *, name: str, user, private: bool | None = None, actor: audit.Actor | None = None
) -> Repository:
    """An empty repository, made on purpose (not by a push). The caller may push there.

    Raises NameInvalid for a name off the grammar and RepositoryExists if it is taken
    (a provisional repository of the same name becomes this one)."""
    if not names.is_valid_name(name):
        raise NameInvalid(detail={"name": name[:300]})
    private = namespaces.new_repository_private(name) if private is None else private
    with transaction.atomic():
        existing = Repository.objects.select_for_update().filter(name=name).first()
        if existing is not None and not existing.is_provisional:
            raise RepositoryExists(detail={"name": name})
        if existing is not None:
            existing.is_provisional, existing.is_private = False, private
            existing.save(update_fields=["is_provisional", "is_private"])
            repository = existing
        else:
            namespace = namespaces.ensure_namespace(name)
            repository = Repository.objects.create(
                name=name,
                namespace=namespace.name if namespace else "",
                owner=user,
                is_private=private,
                network_restricted=namespaces.restricted_by_namespace(name),
            )
        audit.record(
            "repository.created",
            actor=actor or user,
            namespace=repository.namespace,
            target=repository.name,
            detail={"private": private},
        )
        notify(RegistryEvent("update", repository.pk, repository.name))
    return repository


def set_visibility(*, repository: Repository, private: bool, actor=None) -> None:
    """Make a repository public or private. Made private, it ends at once every registry
    token issued for it (revocation.repository_changed)."""
    with transaction.atomic():
        changed = Repository.objects.filter(pk=repository.pk, is_private=not private).update(
            is_private=private
        )
        repository.is_private = private
        if not changed:
            return
        if private:
            revocation.repository_changed(repository)
        audit.record(
            "repository.visibility",
            actor=actor,
            namespace=repository.namespace,
            target=repository.name,
            detail={"private": private},
        )
        notify(RegistryEvent("update", repository.pk, repository.name))


def delete_repository(*, repository: Repository, actor=None) -> None:
    """Delete a repository with its tags, manifests and uploads (blob bytes stay until
    garbage collection reclaims those no repository holds)."""
    event = RegistryEvent("delete", repository.pk, repository.name)
    # Under the repository's lock, as pushes are: none records a manifest in it meanwhile;
    # and with its row locked, once the blobs being linked into it are (locks.keep_repository).
    with locks.repository_lock(repository.pk):
        list(Repository.objects.select_for_update().filter(pk=repository.pk).values("pk"))
        audit.record(
            "repository.deleted",
            actor=actor,
            namespace=repository.namespace,
            target=repository.name,
        )
        for upload in repository.uploads.all():
            uploads.cancel(upload=upload)
        Repository.objects.filter(pk=repository.pk).delete()
        notify(event)


# -- blobs --------------------------------------------------------------------------------------


def find_blob(*, repository: Repository, digest: Digest) -> Blob:
    blob = Blob.objects.filter(digest=str(digest), repositoryblob__repository=repository).first()
    if blob is None:
        raise BlobUnknown(detail={"digest": str(digest)})
    return blob


def upload_blob(*, repository: Repository, digest: Digest, chunks: Iterable[bytes]) -> Blob:
    """A monolithic upload: the whole blob in one request, verified as it streams."""
    return uploads.write_blob(repository=repository, digest=digest, chunks=chunks)


def mount_blob(*, repository: Repository, digest: Digest, source: Repository) -> Blob | None:
    """Link a blob the caller may pull from `source` into `repository`; None if absent."""
    blob = Blob.objects.filter(digest=str(digest), repositoryblob__repository=source).first()
    return _link(repository, blob)


def mount_known_blob(*, repository: Repository, digest: Digest, user) -> Blob | None:
    """A mount without `from` (automatic content discovery, OCI 1.1).

    The blob is linked only from a repository `user` may pull, by the same visibility rule
    as everywhere else (policy.visibility_filter): a blob held only by repositories the
    caller cannot see is never mounted. Knowing a digest grants nothing.
    """
    sources = Repository.objects.visible_to(user).values("pk")
    blob = Blob.objects.filter(digest=str(digest), repositoryblob__repository__in=sources).first()
    return _link(repository, blob)


def _link(repository: Repository, blob: Blob | None) -> Blob | None:
    """Record that `repository` holds `blob` (within its namespace's quota).

    Under the blob's lock, so that garbage collection cannot delete the blob between the
    lookup and the link: the blob is re-read there, and a mount of a blob collected
    meanwhile is refused (the client uploads it instead).
    """
    if blob is None:
        return None
    with locks.blob_lock(blob.digest):
        blob = Blob.objects.filter(pk=blob.pk).first()
        if blob is None:
            return None
        held = RepositoryBlob.objects.filter(repository=repository, blob=blob).exists()
        if not held:
            in_namespace = (
                repository.namespace
                and RepositoryBlob.objects.filter(
                    repository__namespace=repository.namespace, blob=blob
                ).exists()
            )
            if not in_namespace:
                quotas.check_addition(repository, blob.size)
        blobs.link(repository, blob)
    return blob


def delete_blob(*, repository: Repository, digest: Digest) -> None:
    """Remove the blob from the repository. Its bytes stay while any repository holds them."""
    deleted, _ = RepositoryBlob.objects.filter(
        repository=repository, blob__digest=str(digest)
    ).delete()
    if not deleted:
        raise BlobUnknown(detail={"digest": str(digest)})


# -- upload sessions ----------------------------------------------------------------------------

PURGE_EVERY_SECONDS = 600
_last_purge = 0.0


def start_upload(*, repository: Repository, user_id: int | None) -> Upload:
    global _last_purge
    # The embedded mode has no scheduler: tidy up here, now and then.
    if time.monotonic() - _last_purge > PURGE_EVERY_SECONDS:
        _last_purge = time.monotonic()
        purge_expired_uploads()
    return uploads.start(repository=repository, user_id=user_id)


def get_upload(*, repository: Repository, upload_id: str, user_id: int | None) -> Upload:
    """The caller's live upload session, or BLOB_UPLOAD_UNKNOWN."""
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise BlobUploadUnknown() from None
    cutoff = timezone.now() - timedelta(seconds=settings.BERTH_UPLOAD_TTL)
    upload = Upload.objects.filter(id=key, repository=repository, updated_at__gte=cutoff).first()
    if upload is None or upload.user_id != user_id:
        raise BlobUploadUnknown()
    return upload


upload_range = uploads.upload_range


def append_upload(*, upload: Upload, chunks: Iterable[bytes], start: int | None = None) -> Upload:
    """Append a chunk. `start` is where the client says it begins (from Content-Range)."""
    return uploads.append(upload=upload, chunks=chunks, start=start)


def finish_upload(
    *,
    upload: Upload,
    digest: Digest,
    chunks: Iterable[bytes] = (),
    start: int | None = None,
) -> Blob:
    """Append the last chunk (if any), verify the digest and commit the blob."""
    return uploads.finish(upload=upload, digest=digest, chunks=chunks, start=start)


def cancel_upload(*, upload: Upload) -> None:
    uploads.cancel(upload=upload)


def purge_expired_uploads() -> int:
    """Delete upload sessions idle for longer than BERTH_UPLOAD_TTL, and stray staged bytes."""
    return uploads.purge_expired()


# -- manifests ----------------------------------------------------------------------------------


def _manifest_filter(reference: str) -> dict:
    if digests.looks_like_digest(reference):
        return {"digest": str(digests.parse(reference))}
    if names.is_valid_tag(reference):
        return {"tags__name": reference}
    raise ManifestUnknown("invalid reference: neither a tag nor a digest")


def find_manifest(*, name: str, reference: str) -> Manifest:
    """The manifest `reference` (tag or digest) names in repository `name`: one query."""
    try:
        lookup = _manifest_filter(reference)
    except DigestInvalid:
        raise ManifestUnknown(detail={"reference": reference[:200]}) from None
    manifest = queries.manifest(
        name, tag=lookup.get("tags__name", ""), digest=lookup.get("digest", "")
    )
    if manifest is None:
        if queries.repository(name) is None:
            raise NameUnknown(detail={"name": name})
        raise ManifestUnknown(detail={"reference": reference[:200]})
    return manifest


# Tags one manifest PUT may set with `?tag=` (the spec asks for at least 10; more: 414).
TAGS_PER_PUT_MAX = 100


def commit_manifest(
    *,
    repository: Repository,
    reference: str,
    body: bytes,
    content_type: str,
    actor: audit.Actor | None = None,
    tags: Sequence[str] = (),
    sparse: bool | None = None,
    action: str = "push",
) -> tuple[Manifest, manifests.Manifest]:
    """Validate and store a manifest, then point the tag (if `reference` is one) at it.

    `tags`: with a digest `reference`, the tags to point at it as well (the spec's `?tag=`
    parameters). `sparse`: accept descriptors of blobs and child manifests the repository
    does not hold yet (the spec's sparse-manifest workflow; BERTH_SPARSE_MANIFESTS unless
    said). `action` names the event the registry's subsystems hear: "push", or "cache" for
    content the pull-through cache stored (not in the audit log, not scanned on push).
    """
    parsed = manifests.parse(body, content_type)
    if digests.looks_like_digest(reference):
        expected = digests.parse(reference)
        digest = digests.compute(body, expected.algorithm)
        if digest != expected:
            raise DigestInvalid(
                "the manifest's content does not match the digest in the URL",
                detail={"digest": str(expected)},
            )
        new_tags = list(dict.fromkeys(tags))
    elif names.is_valid_tag(reference):
        digest, new_tags = digests.compute(body), [reference]
    else:
        raise ManifestInvalid("invalid tag", detail={"tag": reference[:200]})
    if len(new_tags) > TAGS_PER_PUT_MAX:
        raise Unsupported(
            f"at most {TAGS_PER_PUT_MAX} tags per request", status=414, detail={"tags": len(tags)}
        )
    for tag in new_tags:
        if not names.is_valid_tag(tag):
            raise ManifestInvalid("invalid tag", detail={"tag": tag[:200]})
    if sparse is None:
        sparse = settings.BERTH_SPARSE_MANIFESTS

    # Under the repository's lock, which garbage collection takes to unlink blobs from the
    # repository or delete its manifests: what was checked is still there when recorded.
    with locks.repository_lock(repository.pk):
        if not locks.keep_repository(repository.pk):
            raise NameUnknown(detail={"name": repository.name})  # deleted meanwhile
        missing = _check_references(repository, parsed, sparse=sparse)
        manifest, created = Manifest.objects.get_or_create(
            repository=repository,
            digest=str(digest),
            defaults={
                "media_type": parsed.media_type,
                "artifact_type": parsed.referrer_artifact_type,
                "subject_digest": str(parsed.subject.digest) if parsed.subject else "",
                "annotations": _referrer_annotations(parsed),
                "body": body,
                "size": len(body),
            },
        )
        if created:
            manifest.blobs.set(
                Blob.objects.filter(
                    repositoryblob__repository=repository,
                    digest__in=[str(d.digest) for d in parsed.required_blobs],
                )
            )
            manifest.children.set(
                Manifest.objects.filter(
                    repository=repository, digest__in=[str(d.digest) for d in parsed.manifests]
                )
            )
            PendingReference.objects.bulk_create(
                [
                    PendingReference(manifest=manifest, digest=d, is_manifest=is_manifest)
                    for d, is_manifest in missing
                ]
            )
            _complete_parents(repository, manifest)
        for tag in new_tags:
            Tag.objects.update_or_create(
                repository=repository, name=tag, defaults={"manifest": manifest}
            )
        if repository.pushed_at is None and action == "push":
            audit.record(
                "repository.created",
                actor=actor,
                namespace=repository.namespace,
                target=repository.name,
            )
        for tag in new_tags if action == "push" else ():
            audit.record(
                "tag.pushed",
                actor=actor,
                namespace=repository.namespace,
                target=f"{repository.name}:{tag}",
                detail={"digest": str(digest)},
            )
        if repository.is_provisional:  # the first manifest: now it exists for everyone
            private = namespaces.new_repository_private(repository.name)
            Repository.objects.filter(pk=repository.pk, is_provisional=True).update(
                is_provisional=False, is_private=private
            )
            repository.is_provisional = False
            repository.is_private = private
        repository.pushed_at = timezone.now()
        Repository.objects.filter(pk=repository.pk).update(pushed_at=repository.pushed_at)
        for tag in new_tags or [""]:
            notify(
                RegistryEvent(
                    action, repository.pk, repository.name, reference=tag, digest=str(digest)
                )
            )
    manifest.tag_names = new_tags
    return manifest, parsed


def _referrer_annotations(parsed: manifests.Manifest) -> str:
    """What `Manifest.annotations` holds: the annotations of a manifest with a subject."""
    return json.dumps(parsed.annotations) if parsed.subject and parsed.annotations else ""


def _complete_parents(repository: Repository, manifest: Manifest) -> None:
    """A child manifest that sparse indexes of the repository were waiting for: theirs now."""
    waiting = PendingReference.objects.filter(
        manifest__repository=repository, digest=manifest.digest, is_manifest=True
    )
    found = list(waiting.select_related("manifest"))
    for pending in found:
        pending.manifest.children.add(manifest)
    if found:
        PendingReference.objects.filter(pk__in=[pending.pk for pending in found]).delete()


def _check_references(
    repository: Repository, parsed: manifests.Manifest, *, sparse: bool = False
) -> list[tuple[str, bool]]:
    """Every blob and child manifest must already be in the repository, unless `sparse`:
    then the missing ones are returned, as (digest, is a manifest). A blob held with
    another size than its descriptor says is refused either way."""
    required = parsed.required_blobs
    if parsed.config and parsed.config.digest == digests.EMPTY_JSON:
        _ensure_empty_blob(repository)
    held = dict(
        Blob.objects.filter(
            repositoryblob__repository=repository,
            digest__in=[str(d.digest) for d in required],
        ).values_list("digest", "size")
    )
    errors: list[RegistryError] = []
    missing: list[tuple[str, bool]] = []
    for descriptor in required:
        size = held.get(str(descriptor.digest))
        if size is None and sparse:
            missing.append((str(descriptor.digest), False))
        elif size is None:
            errors.append(ManifestBlobUnknown(detail={"digest": str(descriptor.digest)}))
        elif size != descriptor.size:
            errors.append(
                ManifestInvalid(
                    "descriptor size does not match the blob",
                    detail={"digest": str(descriptor.digest), "size": size},
                )
            )
    if parsed.manifests:
        present = set(
            Manifest.objects.filter(
                repository=repository, digest__in=[str(d.digest) for d in parsed.manifests]
            ).values_list("digest", flat=True)
        )
        absent = [str(d.digest) for d in parsed.manifests if str(d.digest) not in present]
        if sparse:
            missing += [(digest, True) for digest in dict.fromkeys(absent)]
        else:
            errors += [
                ManifestBlobUnknown(
                    "manifest references a manifest unknown to the repository",
                    detail={"digest": digest},
                )
                for digest in absent
            ]
    if errors:
        raise ErrorList(errors)
    return list(dict.fromkeys(missing))


def _ensure_empty_blob(repository: Repository) -> None:
    """The OCI empty descriptor's blob (`{}`) is well known; hold it without an upload."""
    digest = digests.EMPTY_JSON
    if not RepositoryBlob.objects.filter(repository=repository, blob__digest=str(digest)).exists():
        blobs.store_bytes(repository=repository, digest=digest, data=b"{}")


def delete_manifest(
    *, repository: Repository, reference: str, actor: audit.Actor | None = None
) -> None:
    """By tag: remove only the tag. By digest: remove the manifest and every tag on it.

    Under the repository's lock, as pushes are: a push that found the manifest points its
    tag at it before the manifest goes (or the tag would point at a row deleted meanwhile).
    """
    lookup = _manifest_filter(reference)
    with locks.repository_lock(repository.pk):
        if "tags__name" in lookup:
            gone = [reference]
            deleted, _ = Tag.objects.filter(repository=repository, name=reference).delete()
        else:
            gone = list(
                Tag.objects.filter(
                    repository=repository, manifest__digest=lookup["digest"]
                ).values_list("name", flat=True)
            )
            deleted, _ = Manifest.objects.filter(repository=repository, **lookup).delete()
        if not deleted:
            raise ManifestUnknown(detail={"reference": reference[:200]})
        for tag in gone:
            audit.record(
                "tag.deleted",
                actor=actor,
                namespace=repository.namespace,
                target=f"{repository.name}:{tag}",
            )
        notify(RegistryEvent("delete", repository.pk, repository.name, reference=reference))


# -- content discovery --------------------------------------------------------------------------


def list_tags(*, repository: Repository, n: int, last: str = "") -> tuple[list[str], bool]:
    """Up to `n` tag names after `last` in lexical order, and whether more follow."""
    page = queries.tag_names(repository.pk, n + 1, last)
    return page[:n], len(page) > n


def list_repositories(*, visible, n: int, last: str = "") -> tuple[list[str], bool]:
    """Up to `n` names of repositories in `visible` after `last`, and whether more follow."""
    repositories = visible.alias(key=bytewise("name")).order_by("key")
    if last:
        repositories = repositories.filter(key__gt=last)
    page = list(repositories.values_list("name", flat=True)[: n + 1])
    return page[:n], len(page) > n


# Referrers answered at most per request; more follow through the Link header, as the
# spec allows (a subject may gather any number of signatures and attestations).
REFERRERS_PAGE = 1_000


def list_referrers(
    *, repository: Repository, digest: Digest, artifact_type: str = "", last: str = ""
) -> tuple[list[dict], bool]:
    """Descriptors of the manifests whose subject is `digest` (the referrers API), in the
    order they were pushed, after the referrer `last` (a digest; unknown: from the start),
    at most REFERRERS_PAGE; and whether more follow."""
    referrers = Manifest.objects.filter(repository=repository, subject_digest=str(digest))
    if artifact_type:
        referrers = referrers.filter(artifact_type=artifact_type)
    after = referrers.filter(digest=last).values_list("created_at", "id").first() if last else None
    if after is not None:
        moment, pk = after
        referrers = referrers.filter(Q(created_at__gt=moment) | Q(created_at=moment, id__gt=pk))
    rows = referrers.order_by("created_at", "id").values_list(
        "media_type", "digest", "size", "artifact_type", "annotations"
    )[: REFERRERS_PAGE + 1]
    rows, more = list(rows[:REFERRERS_PAGE]), len(rows) > REFERRERS_PAGE
    descriptors = []
    for media_type, referrer, size, referrer_type, annotations_json in rows:
        descriptor = {"mediaType": media_type, "digest": referrer, "size": size}
        if referrer_type:
            descriptor["artifactType"] = referrer_type
        if annotations_json:
            descriptor["annotations"] = json.loads(annotations_json)
        descriptors.append(descriptor)
    return descriptors, more
