"""Gallery operations: keeping the catalog in step with the registry, and catalog edits.

`index_repository` is what the Celery task runs after every push or delete. It is
idempotent and incremental: manifests are immutable, so an image already described is never
read again; only tags are re-synchronized (cheap even with 10,000 tags).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry import mediatypes, names
from registry import services as registry_services
from registry.access import audit
from registry.models import Blob, Manifest, Namespace, PullCount, Repository, Tag
from registry.storage import locks

from . import readme, search
from .describe import GENERIC_CONFIGS, Description, attachment_kind, describe, subject_of_tag
from .models import (
    DESCRIPTION_MAX,
    AttachmentKind,
    CatalogAttachment,
    CatalogEntry,
    CatalogImage,
    CatalogTag,
    CatalogText,
    Publisher,
)
from .versions import sort_key

log = logging.getLogger(__name__)

BATCH = 500  # rows per statement (SQLite allows a limited number of parameters)


# -- indexing -----------------------------------------------------------------------------------


def publisher_for(namespace: str) -> Publisher | None:
    """The publisher of a namespace (created on first need); None for top-level names."""
    record = Namespace.objects.filter(name=namespace).first() if namespace else None
    if record is None:
        return None
    publisher, _ = Publisher.objects.get_or_create(namespace_record=record)
    return publisher


PROFILE_FIELDS = ("display_name", "bio", "website")


def update_profile(
    *, namespace: Namespace, display_name: str, bio: str, website: str, actor
) -> list[str]:
    """The publisher's profile, as its namespace's owners or admins write it (validated by
    gallery.forms.ProfileForm); the fields it changed, audited with their new values."""
    values = {"display_name": display_name, "bio": bio, "website": website}
    with transaction.atomic():
        publisher, _ = Publisher.objects.select_for_update().get_or_create(
            namespace_record=namespace
        )
        changed = [key for key in PROFILE_FIELDS if getattr(publisher, key) != values[key]]
        if not changed:
            return []
        for key in changed:
            setattr(publisher, key, values[key])
        publisher.save(update_fields=changed)
        audit.record(
            "namespace.profile",
            actor=actor,
            namespace=namespace.name,
            target=namespace.name,
            detail={key: values[key] for key in changed},
        )
    return changed


def shown_publisher(*, namespace: str) -> Publisher | None:
    """The publisher `/u/<namespace>` shows (unsaved for an owned namespace without a profile
    yet); None for a name nobody publishes under (reserved, or no such namespace)."""
    if not names.is_valid_component(namespace):
        return None
    record = Namespace.objects.filter(name=namespace).first()
    if record is None:
        return None
    publisher = Publisher.objects.filter(namespace_record=record).first()
    if publisher is None:
        if record.owner_id is None and record.kind == Namespace.Kind.USER:
            return None  # reserved, and nobody has published there
        publisher = Publisher(namespace_record=record)
    return publisher


def index_repository(*, repository_id: int) -> CatalogEntry | None:
    """Bring the catalog entry of one repository in step with the registry (idempotent)."""
    repository = Repository.objects.filter(pk=repository_id).first()
    if repository is None:
        CatalogEntry.objects.filter(pk=repository_id).delete()
        transaction.on_commit(search.forget_cached_results)
        return None
    all_tags = list(
        Tag.objects.filter(repository=repository).values_list(
            "name", "manifest__digest", "updated_at"
        )
    )
    entry = CatalogEntry.objects.filter(pk=repository_id).first()
    known = set(entry.images.values_list("digest", flat=True)) if entry else set()
    attachments = _attachments(repository, entry, all_tags)
    # Tags of signatures, SBOMs and attestations are not images: they go with their subject.
    tags = [tag for tag in all_tags if tag[1] not in attachments]
    described = _describe_new(repository, {digest for _, digest, _ in tags} - known)

    with transaction.atomic():
        # The repository's row is kept until this commits: a deletion (which locks it first,
        # then collects the catalog rows going with it) waits, and none that went first is
        # answered with new catalog rows of a repository that is gone.
        if not locks.keep_repository(repository.pk):
            return None  # deleted meanwhile, with its catalog entry
        entry, _ = CatalogEntry.objects.select_for_update().get_or_create(
            repository=repository,
            defaults={"name": repository.name, "namespace": repository.namespace},
        )
        # Read privacy again under the entry's lock: a set_visibility() that committed while
        # this task was reading manifests must not be undone by a stale copy.
        repository.is_private = (
            Repository.objects.filter(pk=repository.pk).values_list("is_private", flat=True).get()
        )
        _sync_images(entry, tags, described)
        _sync_attachments(entry, attachments)
        _update_entry(entry, repository, tags, described)
    return entry


def _describe_new(repository: Repository, digests_: set[str]) -> dict[str, Description]:
    if not digests_:
        return {}
    rows = {
        m.digest: m for m in Manifest.objects.filter(repository=repository, digest__in=digests_)
    }
    child_digests = set()
    for row in rows.values():
        if row.media_type in mediatypes.INDEXES:
            child_digests |= set(row.children.values_list("digest", flat=True))
    children = {
        m.digest: m
        for m in Manifest.objects.filter(repository=repository, digest__in=child_digests)
    }
    return {digest: describe(row, children) for digest, row in rows.items()}


def _attachments(repository, entry, tags) -> dict[str, dict]:
    """Every signature, SBOM and attestation of the repository, by digest: manifests with a
    `subject` (the referrers API's), and manifests tagged `sha256-<hex>.sig|.att|.sbom`."""
    found = {}
    referrers = Manifest.objects.filter(repository=repository).exclude(subject_digest="")
    for row in referrers.values(
        "digest", "subject_digest", "artifact_type", "media_type", "size", "created_at"
    ):
        found[row["digest"]] = {**row, "subject": row.pop("subject_digest"), "tag": ""}
    by_tag = {digest: name for name, digest, _ in tags if subject_of_tag(name)}
    for row in Manifest.objects.filter(repository=repository, digest__in=list(by_tag)).values(
        "digest", "artifact_type", "media_type", "size", "created_at"
    ):
        tag = by_tag[row["digest"]]
        found.setdefault(row["digest"], {**row, "subject": subject_of_tag(tag)})["tag"] = tag
    known = (
        {d: (k, t) for d, k, t in entry.attachments.values_list("digest", "kind", "artifact_type")}
        if entry
        else {}
    )
    for digest, info in found.items():
        info["kind"], info["artifact_type"] = known.get(digest) or _classify(repository, info)
    return found


def _classify(repository, info: dict) -> tuple[str, str]:
    """A new attachment's kind and the type to show for it. Tools that set no artifactType
    (cosign's tag scheme, oras-py) leave a generic config type: the first layer's media
    type says more, so the manifest is read only then."""
    artifact_type = info["artifact_type"]
    if artifact_type not in GENERIC_CONFIGS:
        return attachment_kind(artifact_type, tag=info["tag"]), artifact_type
    body = (
        Manifest.objects.filter(repository=repository, digest=info["digest"])
        .values_list("body", flat=True)
        .first()
    )
    try:
        layers = json.loads(bytes(body or b"{}")).get("layers") or []
        layer_types = [str(layer.get("mediaType", "")) for layer in layers[:16]]
    except (ValueError, AttributeError, RecursionError):
        layer_types = []
    shown = layer_types[0] if layer_types else artifact_type
    return attachment_kind(artifact_type, layer_types, info["tag"]), shown


def _sync_attachments(entry: CatalogEntry, attachments: dict[str, dict]) -> None:
    existing = set(entry.attachments.values_list("digest", flat=True))
    gone = existing - set(attachments)
    for start in range(0, len(gone), BATCH):
        entry.attachments.filter(digest__in=list(gone)[start : start + BATCH]).delete()
    CatalogAttachment.objects.bulk_create(
        [
            CatalogAttachment(
                entry=entry,
                subject=info["subject"],
                digest=digest,
                kind=info["kind"],
                artifact_type=info["artifact_type"],
                media_type=info["media_type"],
                size=info["size"],
                tag=info["tag"],
                pushed_at=info["created_at"],
            )
            for digest, info in attachments.items()
            if digest not in existing
        ],
        batch_size=BATCH,
    )


def _best(names_and_times: list[tuple[str, datetime]]) -> tuple[str, datetime]:
    """An image's place in the Tags tab (its best tag's version key) and its push time."""
    best = max(sort_key(name) + "~" + name for name, _ in names_and_times)
    return best, max(updated for _, updated in names_and_times)


def _sync_images(entry: CatalogEntry, tags, described: dict[str, Description]) -> None:
    """Images and tags of the entry, changed only where the registry changed (a push to a
    repository with 10,000 tags touches a handful of rows, not 10,000)."""
    wanted = {name: (digest, updated) for name, digest, updated in tags}
    by_digest: dict[str, list[tuple[str, datetime]]] = {}
    for name, (digest, updated) in wanted.items():
        by_digest.setdefault(digest, []).append((name, updated))

    images = dict(entry.images.values_list("digest", "pk"))
    gone = [pk for digest, pk in images.items() if digest not in by_digest]
    for start in range(0, len(gone), BATCH):
        CatalogImage.objects.filter(pk__in=gone[start : start + BATCH]).delete()
    new = []
    for digest, info in described.items():
        if digest in by_digest and digest not in images:
            best, pushed = _best(by_digest[digest])
            new.append(
                CatalogImage(
                    entry=entry,
                    digest=digest,
                    media_type=info.media_type,
                    kind=info.kind,
                    artifact_type=info.artifact_type,
                    size=info.size,
                    platforms=info.platforms,
                    child_count=info.child_count,
                    links=info.links,
                    pushed_at=pushed,
                    sort_key=best,
                )
            )
    CatalogImage.objects.bulk_create(new, batch_size=BATCH)
    images = {digest: pk for digest, pk in images.items() if digest in by_digest}
    images.update({image.digest: image.pk for image in new})
    digest_of = {pk: digest for digest, pk in images.items()}

    existing = {
        name: (pk, image_id, pushed_at)
        for pk, name, image_id, pushed_at in entry.tags.values_list(
            "pk", "name", "image_id", "pushed_at"
        )
    }
    removed = [pk for name, (pk, _, _) in existing.items() if name not in wanted]
    for start in range(0, len(removed), BATCH):
        CatalogTag.objects.filter(pk__in=removed[start : start + BATCH]).delete()
    touched = set()
    create, update = [], []
    for name, (digest, updated) in wanted.items():
        image_id = images.get(digest)
        if image_id is None:
            continue
        current = existing.get(name)
        if current is None:
            create.append(
                CatalogTag(
                    entry=entry,
                    image_id=image_id,
                    name=name,
                    sort_key=sort_key(name),
                    pushed_at=updated,
                )
            )
            touched.add(digest)
        elif current[1:] != (image_id, updated):
            update.append(CatalogTag(pk=current[0], image_id=image_id, pushed_at=updated))
            touched |= {digest, digest_of.get(current[1], "")}
    CatalogTag.objects.bulk_create(create, batch_size=BATCH)
    CatalogTag.objects.bulk_update(update, ["image_id", "pushed_at"], batch_size=BATCH)

    # Only images that gained or lost a tag can change place; new ones are already right.
    refreshed = []
    for digest in touched - {image.digest for image in new}:
        if digest in by_digest:
            best, pushed = _best(by_digest[digest])
            refreshed.append(CatalogImage(pk=images[digest], sort_key=best, pushed_at=pushed))
    CatalogImage.objects.bulk_update(refreshed, ["sort_key", "pushed_at"], batch_size=BATCH)


def platforms_of(entry: CatalogEntry) -> str:
    """The entry's `platforms` column: " os/arch os/arch " over every tagged image."""
    found = set()
    for platforms in entry.images.values_list("platforms", flat=True):
        for platform in platforms or []:
            found.add(f"{platform['os']}/{platform['architecture']}")
    return f" {' '.join(sorted(found))} " if found else ""


def _update_entry(entry, repository, tags, described) -> None:
    latest = entry.images.order_by("-pushed_at").first()
    publisher = publisher_for(repository.namespace)
    entry.name = repository.name
    entry.namespace = repository.namespace
    if repository.is_private and not entry.is_private:
        transaction.on_commit(search.forget_cached_results)
    entry.is_private = repository.is_private
    entry.publisher = publisher
    entry.is_verified = bool(publisher and publisher.is_verified)
    entry.tag_count = len(tags)
    entry.platforms = platforms_of(entry)
    entry.pushed_at = repository.pushed_at or (latest.pushed_at if latest else None)
    entry.artifact_type = _prevailing_kind(entry, latest)
    entry.links = latest.links if latest is not None else {}
    entry.is_signed = entry.attachments.filter(
        kind=AttachmentKind.SIGNATURE, subject__in=_image_digests(entry)
    ).exists()
    # Every distinct blob of the tagged manifests and of their children, counted once.
    tagged = Manifest.objects.filter(repository=repository, tags__isnull=False).values("pk")
    children = Manifest.objects.filter(parents__in=tagged).values("pk")
    entry.total_size = (
        Blob.objects.filter(Q(manifests__in=tagged) | Q(manifests__in=children))
        .distinct()
        .aggregate(total=Sum("size"))["total"]
        or 0
    )
    if not entry.description:
        for info in described.values():
            if info.description:
                entry.description = info.description[:DESCRIPTION_MAX]
                break
    entry.indexed_at = timezone.now()
    entry.save()


def _prevailing_kind(entry: CatalogEntry, latest) -> str:
    """What the repository mostly holds: the kind of most of its images (ties go to the
    newest image's kind), never simply whatever was pushed last."""
    counts = dict(entry.images.values_list("kind").annotate(n=Count("pk")).order_by())
    if not counts:
        return entry.artifact_type
    top = max(counts.values())
    leaders = {kind for kind, n in counts.items() if n == top}
    return latest.kind if latest is not None and latest.kind in leaders else min(leaders)


def _image_digests(entry: CatalogEntry) -> list[str]:
    """The digests of the tagged images and of the platform images of their indexes."""
    found = []
    for digest, platforms in entry.images.values_list("digest", "platforms"):
        found.append(digest)
        found += [p["digest"] for p in platforms or [] if p.get("digest")]
    return found


# -- reading the catalog -------------------------------------------------------------------------


def visible_entry(*, user, name: str) -> CatalogEntry | None:
    """The catalog entry `name` if `user` may see it, indexing it on first sight; None for a
    repository that is missing, hidden from `user`, or that the indexer cannot read."""
    visible = CatalogEntry.objects.visible_to(user).select_related("publisher__namespace_record")
    entry = visible.filter(name=name).first()
    if entry is not None:
        return entry
    repository = Repository.objects.visible_to(user).filter(name=name).first()
    if repository is None:
        return None
    try:
        index_repository(repository_id=repository.pk)
    except Exception:  # a manifest the indexer cannot read must not break a page
        log.exception("indexing repository %s failed", repository.pk)
        return None
    return visible.filter(name=name).first()


def tagged_images(entry: CatalogEntry, *, sort: str = "version", name_filter: str = ""):
    """The entry's images for the Tags tab: by version (the best tag's version key), by
    newest push, or by name (the first of its tags in byte order)."""
    images = entry.images.all()
    if name_filter:
        matching = CatalogTag.objects.filter(entry=entry, name__icontains=name_filter)
        images = images.filter(pk__in=matching.values("image_id"))
    if sort == "pushed":
        return images.order_by("-pushed_at", "digest")
    if sort == "name":
        first = CatalogTag.objects.filter(image=OuterRef("pk")).order_by("name").values("name")
        return images.annotate(first_tag=Subquery(first[:1])).order_by("first_tag", "digest")
    return images.order_by("-sort_key", "digest")


def attach_attachments(entry: CatalogEntry, images) -> None:
    """Give each image `.attachments`: its signatures, SBOMs and attestations, and those of
    its platform images, one chip per kind."""
    images = list(images)
    subjects = {}
    for image in images:
        subjects[image.digest] = image
        for platform in image.platforms or []:
            subjects.setdefault(platform.get("digest", ""), image)
        image.attachments = {}
    rows = entry.attachments.filter(subject__in=[d for d in subjects if d]).order_by("kind")
    for attachment in rows:
        image = subjects[attachment.subject]
        image.attachments.setdefault(attachment.get_kind_display(), []).append(attachment)


# -- downloads ----------------------------------------------------------------------------------


def refresh_downloads(*, repository_ids: list[int] | None = None) -> None:
    """Copy the registry's pull counts into the catalog (what search sorts by); None: all."""
    total = (
        PullCount.objects.filter(repository_id=OuterRef("pk"))
        .values("repository_id")
        .annotate(total=Sum("count"))
        .values("total")
    )
    entries = CatalogEntry.objects.all()
    if repository_ids is not None:
        entries = entries.filter(pk__in=repository_ids)
    entries.update(downloads=Coalesce(Subquery(total), 0))


# -- catalog text -------------------------------------------------------------------------------


def render_text(text: CatalogText) -> None:
    """Render about and usage (call before saving edited text); RenderError names the field
    in its `field` attribute."""
    for name in ("about", "usage"):
        try:
            setattr(text, f"{name}_html", readme.render(getattr(text, name)))
        except readme.RenderError as error:
            error.field = name
            raise
    text.rendered_with = readme.RENDERER_VERSION


def text_of(entry: CatalogEntry) -> CatalogText:
    """The entry's texts, rendered by the current renderer (re-rendered if stale)."""
    text, _ = CatalogText.objects.get_or_create(entry=entry)
    if text.rendered_with != readme.RENDERER_VERSION:
        try:
            render_text(text)
        except readme.RenderError:
            text.about_html = text.usage_html = "<p>This text could not be rendered.</p>"
            text.rendered_with = readme.RENDERER_VERSION
        text.save(update_fields=["about_html", "usage_html", "rendered_with"])
    return text


def update_catalog(
    *, entry: CatalogEntry, description: str, about: str, usage: str
) -> CatalogEntry:
    """The publisher's catalog data: validated, rendered once, stored."""
    text = _prepared_text(entry, description=description, about=about, usage=usage)
    with transaction.atomic():
        entry.save(update_fields=["description", "indexed_at"])
        text.save()
    return entry


def _prepared_text(entry: CatalogEntry, *, description: str, about: str, usage: str):
    """The entry's texts set, validated and rendered, not saved.

    Rendering runs a child process for up to a few seconds; it happens here, before any
    transaction opens, so that no database lock (SQLite has one for the whole file) is held
    while a publisher's Markdown renders.
    """
    text = CatalogText.objects.filter(entry=entry).first() or CatalogText(entry=entry)
    entry.description, text.about, text.usage = description, about, usage
    entry.indexed_at = timezone.now()  # the API's Last-Modified: the catalog data changed
    try:
        render_text(text)
    except readme.RenderError as error:
        raise ValidationError({error.field: str(error)}) from None
    entry.full_clean(exclude=["repository", "publisher", "logo"])
    text.full_clean(exclude=["entry"])
    return text


def save_settings(
    *,
    entry: CatalogEntry,
    description: str,
    about: str,
    usage: str,
    is_private: bool | None,
    actor=None,
) -> None:
    """The owner's settings form: catalog texts and visibility, saved together or not at all
    (the texts are rendered first, outside the transaction). `is_private` None leaves the
    visibility as it is then: not as it was read before the texts rendered, which would undo
    a change made meanwhile (a repository made private made public again)."""
    text = _prepared_text(entry, description=description, about=about, usage=usage)
    with transaction.atomic():
        entry.save(update_fields=["description", "indexed_at"])
        text.save()
        if is_private is not None:
            set_visibility(repository=entry.repository, private=is_private, actor=actor)


def set_visibility(*, repository: Repository, private: bool, actor=None) -> None:
    """Make a repository public or private, in the registry and the catalog at once."""
    with transaction.atomic():
        registry_services.set_visibility(repository=repository, private=private, actor=actor)
        CatalogEntry.objects.filter(pk=repository.pk).update(
            is_private=private, indexed_at=timezone.now()
        )
        if private:
            transaction.on_commit(search.forget_cached_results)


def sync_privacy(*, repository_id: int) -> None:
    """Copy a repository's privacy into its catalog entry now (changed outside the gallery)."""
    with transaction.atomic():
        private = Repository.objects.filter(pk=repository_id).values_list("is_private", flat=True)
        private = private.first()
        if private is None:
            return  # gone: its catalog entry went with it
        changed = CatalogEntry.objects.filter(pk=repository_id, is_private=not private).update(
            is_private=private, indexed_at=timezone.now()
        )
        if changed and private:
            transaction.on_commit(search.forget_cached_results)


def set_logo(*, entry: CatalogEntry, logo) -> None:
    """Store a processed logo (gallery.publishing.logos) and drop the one it replaces."""
    old = entry.logo.name if entry.logo else ""
    entry.logo.save(logo.name, logo, save=False)
    CatalogEntry.objects.filter(pk=entry.pk).update(logo=entry.logo.name, indexed_at=timezone.now())
    if old and old != entry.logo.name:
        entry.logo.storage.delete(old)


def set_verified(*, publisher: Publisher, verified: bool) -> None:
    with transaction.atomic():
        Publisher.objects.filter(pk=publisher.pk).update(is_verified=verified)
        CatalogEntry.objects.filter(publisher=publisher).update(is_verified=verified)
    publisher.is_verified = verified
