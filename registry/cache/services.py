"""The pull-through cache: what a pull of a cached repository does, and the rules.

- **Manifests by tag**: served from Berth while the tag is fresh (checked with the upstream
  less than BERTH_CACHE_FRESHNESS_SECONDS ago); else a HEAD to the upstream says its digest:
  the same, the tag is fresh again; another, that manifest is fetched (by digest, verified)
  and the tag moves. When the upstream answers 429 or 5xx, times out, cannot be reached or
  refuses, what Berth has is served, marked stale (`Served.status`); with nothing to serve,
  the client gets the upstream's answer (429 with its Retry-After, or 502).
- **Manifests by digest** never change: served from Berth, fetched once on a miss.
- **Sparse**: manifests are stored before their blobs and child manifests (the spec's
  sparse-manifest workflow): pulling one platform of an index caches that platform only,
  and the index gains its children as they are pulled.
- **Blobs**: a miss is streamed to the client while it is stored (`Download`): hashed and
  sealed in a thread of its own, committed only once its digest matched, and the client's
  last piece held back until then (so no client ever receives a whole wrong blob). One
  request fetches a digest at a time (`BlobFetch`, a lease): others asking for it wait and
  are served from Berth. A blob Berth holds already (for another repository) is linked,
  once the upstream confirmed it has it (knowing a digest grants nothing).
- Cached repositories are read-only to everyone (registry.access.auth refuses writes).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import digests, names, queries, upstream
from .. import services as registry_services
from ..access import audit
from ..access.namespaces import ensure_namespace
from ..digests import Digest
from ..errors import BlobUnknown, ManifestUnknown, RegistryError, TooManyRequests
from ..models import Blob, Manifest, Namespace, Repository, RepositoryBlob, Tag
from ..ops import metrics
from ..storage import blobs, locks, uploads
from ..upstream import addresses, vault
from . import lookups, rules
from .models import BlobFetch, CachedManifest, CachedRepository, CachedTag, CacheRule

log = logging.getLogger("registry.cache")

HIT, REVALIDATED, MISS, STALE = "hit", "revalidated", "miss", "stale"
# pulled_at is written at most this often per tag and manifest: no write per pull.
TOUCH_SECONDS = 3600
FETCH_LEASE_SECONDS = 60
WAIT_STEP = 0.2
# A pull has a client waiting: one quick retry, and no waiting for a Retry-After (a stale
# copy is served at once instead). Background sync uses the default policy.
PULL_POLICY = upstream.RetryPolicy(attempts=2, base=0.2, cap=1.0, retry_after_max=0.0)


class UpstreamFailed(RegistryError):
    """The upstream could not give what a cached repository does not hold yet."""

    code, status, message = "UNKNOWN", 502, "the upstream registry did not answer"


def failure(error: upstream.UpstreamError) -> RegistryError:
    """What a client is told when the upstream fails and Berth has nothing to serve."""
    if isinstance(error, upstream.Throttled):
        headers = {"Retry-After": str(int(error.retry_after))} if error.retry_after else {}
        return TooManyRequests(f"the upstream registry is rate-limiting: {error}", headers=headers)
    return UpstreamFailed(f"the upstream registry failed: {error.message}")


@dataclass(frozen=True, slots=True)
class Served:
    manifest: Manifest
    status: str
    reason: str = ""


# -- rules --------------------------------------------------------------------------------------


def check_rule(
    *,
    prefix: str,
    upstream_url: str,
    namespace: str = "",
    username: str = "",
    password: str = "",
    allow_private_networks: bool = False,
    existing: CacheRule | None = None,
) -> dict[str, list[str]]:
    """What is wrong with a rule, per field (empty: nothing). `existing`: the rule being
    changed (its prefix never changes)."""
    errors: dict[str, list[str]] = {}
    if existing is not None:
        pass  # the prefix of a rule never changes
    elif not names.is_valid_name(prefix) or len(prefix) > 200:
        errors["prefix"] = ["Use one or more lowercase name components, e.g. hub or mirror/hub."]
    else:
        first = names.namespace_of(prefix + "/x")
        owned = Namespace.objects.filter(name=first, owner__isnull=False).exists()
        if owned:
            errors["prefix"] = [f"The namespace {first} belongs to a publisher."]
        elif (
            Repository.objects.filter(name__startswith=prefix + "/")
            .exclude(cached__isnull=False)
            .exists()
        ):
            errors["prefix"] = [f"Repositories under {prefix}/ exist that are not cached."]
        elif any(
            other.prefix == prefix
            or other.prefix.startswith(prefix + "/")
            or prefix.startswith(other.prefix + "/")
            for other in CacheRule.objects.all()
        ):
            errors["prefix"] = ["Another rule covers this prefix or part of it."]
    if problem := addresses.url_problem(upstream_url, allow_private=allow_private_networks):
        errors["upstream"] = [problem]
    if namespace and not names.is_valid_name(namespace):
        errors["namespace"] = ["A repository path in the upstream, e.g. library."]
    if password and not username:
        errors["username"] = ["A password needs a username."]
    return errors


def create_rule(
    *,
    prefix: str,
    upstream_url: str,
    namespace: str = "",
    username: str = "",
    password: str = "",
    allow_private_networks: bool = False,
    actor=None,
) -> CacheRule:
    """A new rule (ValidationError per field when `check_rule` finds something). The
    prefix's namespace is reserved for it: nobody may claim it."""
    fields = {
        "prefix": prefix,
        "upstream_url": upstream_url.rstrip("/"),
        "namespace": namespace.strip("/"),
        "username": username,
        "password": password,
        "allow_private_networks": allow_private_networks,
    }
    errors = check_rule(**fields)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        ensure_namespace(prefix + "/x")
        rule = CacheRule.objects.create(
            prefix=prefix,
            upstream=fields["upstream_url"],
            namespace=fields["namespace"],
            username=username,
            allow_private_networks=allow_private_networks,
            created_by_id=getattr(actor, "pk", None),
        )
        if password:
            rule.password_sealed = vault.seal(password, f"cache-rule:{rule.pk}")
            rule.save(update_fields=["password_sealed"])
        audit.record(
            "cache.rule_created",
            actor=actor,
            namespace=names.namespace_of(prefix + "/x"),
            target=prefix,
            detail={"upstream": rule.upstream, "namespace": rule.namespace},
        )
        transaction.on_commit(rules.forget)
    rules.forget()
    return rule


def change_rule(
    *,
    rule: CacheRule,
    upstream_url: str,
    namespace: str = "",
    username: str = "",
    password: str | None = None,
    allow_private_networks: bool = False,
) -> CacheRule:
    """Point a rule elsewhere or change its account (`password` None: keep it). Cached
    content stays: it is checked against the new upstream as tags come due."""
    errors = check_rule(
        prefix=rule.prefix,
        upstream_url=upstream_url,
        namespace=namespace,
        username=username,
        password=password or "",
        allow_private_networks=allow_private_networks,
        existing=rule,
    )
    if errors:
        raise ValidationError(errors)
    rule.upstream, rule.namespace = upstream_url.rstrip("/"), namespace.strip("/")
    rule.username, rule.allow_private_networks = username, allow_private_networks
    if password is not None:
        rule.password_sealed = vault.seal(password, f"cache-rule:{rule.pk}")
    if not username:
        rule.password_sealed = ""
    rule.save()
    transaction.on_commit(rules.forget)
    rules.forget()
    return rule


def delete_rule(*, rule: CacheRule, actor=None) -> int:
    """Delete a rule and its cached repositories (their blobs go with garbage collection)."""
    with transaction.atomic():
        repositories = list(Repository.objects.filter(cached__rule=rule))
        for repository in repositories:
            event = registry_services.RegistryEvent("delete", repository.pk, repository.name)
            repository.delete()
            registry_services.notify(event)
        audit.record(
            "cache.rule_deleted",
            actor=actor,
            namespace=names.namespace_of(rule.prefix + "/x"),
            target=rule.prefix,
        )
        rule.delete()
        transaction.on_commit(rules.forget)
    rules.forget()
    return len(repositories)


def password_of(rule: CacheRule) -> str:
    return vault.unseal(rule.password_sealed, f"cache-rule:{rule.pk}")


def registry_of(rule: CacheRule, *, policy: upstream.RetryPolicy | None = None):
    """The rule's upstream. A password no configured key opens (BERTH_CREDENTIALS_KEY
    changed) is logged and not sent: the upstream then refuses, and pulls go stale."""
    try:
        password = password_of(rule) if rule.password_sealed else ""
    except vault.VaultError as error:
        log.error("cache rule %s: its password cannot be read: %s", rule.prefix, error)
        password = ""
    return upstream.Registry(
        rule.upstream,
        username=rule.username,
        password=password,
        allow_private_networks=rule.allow_private_networks,
        policy=policy or upstream.RetryPolicy.default(),
    )


def origin_of(repository_id: int) -> str:
    """Where a cached repository comes from (`registry-1.docker.io/library/alpine`), or ""."""
    found = (
        CachedRepository.objects.filter(pk=repository_id)
        .values_list("rule__upstream", "upstream_name")
        .first()
    )
    if found is None:
        return ""
    url, upstream_name = found
    return f"{url.split('://', 1)[-1].rstrip('/')}/{upstream_name}"


def is_cached(name: str) -> bool:
    return rules.rule_for(name) is not None


# -- repositories -------------------------------------------------------------------------------


def _repository(rule: CacheRule, name: str) -> Repository:
    repository = queries.repository(name)
    if repository is None:
        repository = registry_services.repository_for_push(name=name, user_id=None)
    CachedRepository.objects.get_or_create(
        repository_id=repository.pk,
        defaults={"rule": rule, "upstream_name": rule.upstream_name(name)},
    )
    return repository


def _touch_tag(repository_id: int, tag: str, digest: str, *, validated: bool) -> None:
    now = timezone.now()
    fields = {"digest": digest, "pulled_at": now}
    if validated:
        fields["validated_at"] = now
    updated = CachedTag.objects.filter(repository_id=repository_id, name=tag).update(**fields)
    if not updated:
        try:
            with transaction.atomic():
                CachedTag.objects.create(
                    repository_id=repository_id,
                    name=tag,
                    digest=digest,
                    validated_at=now if validated else now - timedelta(days=3650),
                    pulled_at=now,
                )
        except IntegrityError:  # recorded meanwhile by another request
            pass


def _touch_manifest(repository_id: int, digest: str, pulled_at) -> None:
    now = timezone.now()
    if pulled_at is not None and (now - pulled_at).total_seconds() < TOUCH_SECONDS:
        return
    if not CachedManifest.objects.filter(repository_id=repository_id, digest=digest).update(
        pulled_at=now
    ):
        try:
            with transaction.atomic():
                CachedManifest.objects.create(
                    repository_id=repository_id, digest=digest, pulled_at=now
                )
        except IntegrityError:
            pass


# -- manifests ----------------------------------------------------------------------------------


def manifest(*, rule: CacheRule, name: str, reference: str) -> Served:
    """The manifest `reference` names in the cached repository `name` (see the module)."""
    if digests.looks_like_digest(reference):
        try:
            digest = str(digests.parse(reference))
        except RegistryError:
            raise ManifestUnknown(detail={"reference": reference[:200]}) from None
        found = lookups.by_digest(name, digest)
        if found.manifest is not None:
            _touch_manifest(found.manifest.repository_id, digest, found.pulled_at)
            metrics.CACHE.labels("manifest", HIT).inc()
            return Served(found.manifest, HIT)
        try:
            registry = registry_of(rule, policy=PULL_POLICY)
            return _fetch(rule, name, digest, tag=None, registry=registry)
        except upstream.NotFound:
            raise ManifestUnknown(detail={"reference": reference[:200]}) from None
        except upstream.UpstreamError as error:
            metrics.CACHE.labels("manifest", "failed").inc()
            raise failure(error) from None
    if not names.is_valid_tag(reference):
        raise ManifestUnknown(detail={"reference": reference[:200]})
    return _by_tag(rule, name, reference)


def _fresh(found: lookups.Found) -> bool:
    if found.validated_at is None:
        return False
    age = (timezone.now() - found.validated_at).total_seconds()
    return age < settings.BERTH_CACHE_FRESHNESS_SECONDS


def _by_tag(rule: CacheRule, name: str, tag: str) -> Served:
    found = lookups.by_tag(name, tag)
    local = found.manifest
    if local is not None and _fresh(found):
        pulled = found.pulled_at
        if pulled is None or (timezone.now() - pulled).total_seconds() >= TOUCH_SECONDS:
            _touch_tag(local.repository_id, tag, local.digest, validated=False)
            _touch_manifest(local.repository_id, local.digest, None)
        metrics.CACHE.labels("manifest", HIT).inc()
        return Served(local, HIT)
    registry = registry_of(rule, policy=PULL_POLICY)
    upstream_name = rule.upstream_name(name)
    try:
        info = registry.head_manifest(upstream_name, tag)
        if local is not None and info.digest == local.digest:
            _touch_tag(local.repository_id, tag, local.digest, validated=True)
            _touch_manifest(local.repository_id, local.digest, found.pulled_at)
            metrics.CACHE.labels("manifest", REVALIDATED).inc()
            return Served(local, REVALIDATED)
        return _fetch(rule, name, info.digest, tag=tag, registry=registry)
    except upstream.NotFound:
        if local is not None:  # the upstream deleted the tag: so does the cache
            _forget_tag(local.repository_id, tag)
        raise ManifestUnknown(detail={"reference": tag}) from None
    except upstream.UpstreamError as error:
        if local is None:
            metrics.CACHE.labels("manifest", "failed").inc()
            raise failure(error) from None
        log.warning("serving %s:%s stale: %s", name, tag, error.message)
        metrics.CACHE.labels("manifest", STALE).inc()
        return Served(local, STALE, error.message)


def _forget_tag(repository_id: int, tag: str) -> None:
    repository = Repository.objects.filter(pk=repository_id).first()
    if repository is None:
        return
    with transaction.atomic():
        Tag.objects.filter(repository=repository, name=tag).delete()
        CachedTag.objects.filter(repository=repository, name=tag).delete()
        registry_services.notify(
            registry_services.RegistryEvent("cache", repository.pk, repository.name, reference=tag)
        )


def _fetch(rule, name: str, digest: str, *, tag: str | None, registry) -> Served:
    """Store the manifest `digest` (fetched unless Berth has it) and point `tag` at it."""
    found = lookups.by_digest(name, digest)
    if found.manifest is not None:
        body, media_type = bytes(found.manifest.body), found.manifest.media_type
    else:
        fetched = registry.get_manifest(rule.upstream_name(name), digest)
        body, media_type = fetched.body, fetched.media_type
    repository = _repository(rule, name)
    stored, _ = registry_services.commit_manifest(
        repository=repository,
        reference=digest,
        body=body,
        content_type=media_type,
        tags=[tag] if tag else [],
        sparse=True,
        action="cache",
    )
    if tag:
        _touch_tag(repository.pk, tag, stored.digest, validated=True)
    _touch_manifest(repository.pk, stored.digest, None)
    metrics.CACHE.labels("manifest", MISS).inc()
    return Served(stored, MISS)


def tags(*, rule: CacheRule, name: str) -> list[str] | None:
    """The upstream's tags of the repository (None when it cannot say: use what Berth has)."""
    try:
        return sorted(registry_of(rule, policy=PULL_POLICY).tags(rule.upstream_name(name)))
    except upstream.NotFound:
        return []
    except upstream.UpstreamError as error:
        log.warning("tags of %s from Berth only: %s", name, error.message)
        return None


# -- blobs --------------------------------------------------------------------------------------


@dataclass
class Remote:
    """A blob the upstream has and Berth does not (for a HEAD: nothing is fetched)."""

    digest: str
    size: int


def open_blob(*, rule: CacheRule, name: str, digest: Digest, head: bool = False):
    """The blob as Berth holds it (a `Blob`), or a `Download` from the upstream (this
    request fetches it), or for a HEAD a `Remote`. Waits while another request fetches it."""
    deadline = time.monotonic() + settings.BERTH_CACHE_FETCH_WAIT
    registry = registry_of(rule, policy=PULL_POLICY)
    upstream_name = rule.upstream_name(name)
    while True:
        held = Blob.objects.filter(
            digest=str(digest), repositoryblob__repository__name=name
        ).first()
        if held is not None:
            metrics.CACHE.labels("blob", HIT).inc()
            return held
        stored = Blob.objects.filter(digest=str(digest)).first()
        try:
            if stored is not None:
                # Stored for another repository: linked here once the upstream says it has
                # it (with that size) for this one.
                size = registry.head_blob(upstream_name, str(digest))
                if size != stored.size:
                    raise upstream.DigestMismatch(
                        f"the upstream says {digest} has {size} bytes, not {stored.size}"
                    )
                return _link(rule, name, stored)
            elif head:
                return Remote(str(digest), registry.head_blob(upstream_name, str(digest)))
            else:
                token = _lead(digest)
                download = token and _start(rule, name, digest, registry, token)
                if download:
                    return download
        except upstream.NotFound:
            raise BlobUnknown(detail={"digest": str(digest)}) from None
        except upstream.UpstreamError as error:
            metrics.CACHE.labels("blob", "failed").inc()
            raise failure(error) from None
        if time.monotonic() > deadline:
            raise UpstreamFailed(
                "the blob is still being fetched from the upstream; try again",
                status=503,
                headers={"Retry-After": "10"},
            )
        time.sleep(WAIT_STEP)


def _link(rule: CacheRule, name: str, blob: Blob) -> Blob:
    repository = _repository(rule, name)
    with locks.blob_lock(blob.digest):
        if Blob.objects.filter(pk=blob.pk).exists():
            blobs.link(repository, blob)
    metrics.CACHE.labels("blob", "linked").inc()
    return blob


def _lead(digest: Digest) -> str | None:
    """Take the fetch of `digest` (a token), or None while another live request has it."""
    token, now = secrets.token_hex(8), timezone.now()
    until = now + timedelta(seconds=FETCH_LEASE_SECONDS)
    try:
        with transaction.atomic():
            BlobFetch.objects.create(digest=str(digest), holder=token, held_until=until)
        return token
    except IntegrityError:
        taken = BlobFetch.objects.filter(digest=str(digest), held_until__lt=now).update(
            holder=token, held_until=until
        )
        return token if taken else None


def _renew(digest: Digest, token: str) -> None:
    until = timezone.now() + timedelta(seconds=FETCH_LEASE_SECONDS)
    BlobFetch.objects.filter(digest=str(digest), holder=token).update(held_until=until)


def _release(digest: Digest, token: str) -> None:
    BlobFetch.objects.filter(digest=str(digest), holder=token).delete()


def _start(rule, name, digest: Digest, registry, token: str) -> Download | None:
    """The fetch, now that this request leads it (None: it was stored meanwhile)."""
    try:
        if Blob.objects.filter(digest=str(digest)).exists():
            _release(digest, token)
            return None
        response = registry.get_blob(rule.upstream_name(name), str(digest))
    except BaseException:
        _release(digest, token)
        raise
    metrics.CACHE.labels("blob", MISS).inc()
    return Download(rule=rule, name=name, digest=digest, response=response, token=token)


class Download:
    """A blob streamed from the upstream to the client and stored on the way."""

    def __init__(self, *, rule, name: str, digest: Digest, response, token: str) -> None:
        self.rule, self.name, self.digest = rule, name, digest
        self.response, self.token = response, token
        self.size = response.size

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end] to send (the whole blob is fetched and stored whatever
        the range); if the client goes away, the blob is still fetched and stored."""
        stager = uploads.Stager(self.digest)
        position, held, gone = 0, None, False
        renew_at = time.monotonic() + FETCH_LEASE_SECONDS / 3
        try:
            for data in self.response.chunks(verify=False):
                stager.write(data)
                piece = _within(data, position, start, end)
                position += len(data)
                if piece and not gone:
                    if held is not None:
                        try:
                            yield held
                        except GeneratorExit:
                            gone = True
                    held = piece
                if time.monotonic() > renew_at:
                    _renew(self.digest, self.token)
                    renew_at = time.monotonic() + FETCH_LEASE_SECONDS / 3
            staged = stager.finish()
            repository = _repository(self.rule, self.name)
            uploads.commit_staged(repository=repository, digest=self.digest, staged=staged)
            metrics.CACHE_BYTES.inc(position)
        except BaseException as error:
            stager.abort()
            if not isinstance(error, GeneratorExit):
                log.warning("fetch of %s for %s failed: %s", self.digest, self.name, error)
            raise
        finally:
            _release(self.digest, self.token)
            self.response.close()
        if held is not None and not gone:
            yield held

    def close(self) -> None:
        """Give up before streaming (the response was never sent)."""
        _release(self.digest, self.token)
        self.response.close()

    def stream(self, start: int = 0, end: int | None = None) -> _Stream:
        """`chunks(start, end)` as a response body that, closed before it was read (the
        client left before the first byte), still gives the fetch back."""
        return _Stream(self, start, end)


class _Stream:
    def __init__(self, download: Download, start: int, end: int | None) -> None:
        self.download, self.start, self.end = download, start, end
        self.pieces: Iterator[bytes] | None = None

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        if self.pieces is None:  # the first byte is asked for: the fetch streams
            self.pieces = self.download.chunks(self.start, self.end)
        return next(self.pieces)

    def close(self) -> None:
        if self.pieces is None:
            self.download.close()
        else:
            self.pieces.close()


def _within(data: bytes, position: int, start: int, end: int | None) -> bytes:
    """The part of `data` (at `position` in the blob) inside [start, end]."""
    last = position + len(data) - 1
    if last < start or (end is not None and position > end):
        return b""
    begin = max(start - position, 0)
    stop = len(data) if end is None else min(end - position + 1, len(data))
    return data[begin:stop]


# -- sync and expiry ----------------------------------------------------------------------------


def sync_recent(*, now=None) -> int:
    """Check every tag pulled within BERTH_CACHE_SYNC_WINDOW and not checked within
    BERTH_CACHE_FRESHNESS_SECONDS with its upstream; fetch what moved (the manifest, its
    blobs, and for an index the platforms that were cached). Returns the tags refreshed."""
    now = now or timezone.now()
    recent = CachedTag.objects.filter(
        pulled_at__gte=now - timedelta(seconds=settings.BERTH_CACHE_SYNC_WINDOW),
        validated_at__lt=now - timedelta(seconds=settings.BERTH_CACHE_FRESHNESS_SECONDS),
    ).select_related("repository__cached__rule")
    refreshed = 0
    for cached in recent.iterator():
        record = getattr(cached.repository, "cached", None)
        if record is None:
            continue
        try:
            refreshed += _sync_tag(record.rule, cached)
        except (upstream.UpstreamError, RegistryError, vault.VaultError) as error:
            log.warning("sync of %s:%s failed: %s", cached.repository.name, cached.name, error)
    return refreshed


def _sync_tag(rule: CacheRule, cached: CachedTag) -> int:
    name = cached.repository.name
    registry = registry_of(rule)
    info = registry.head_manifest(rule.upstream_name(name), cached.name)
    if info.digest == cached.digest:
        CachedTag.objects.filter(pk=cached.pk).update(validated_at=timezone.now())
        return 0
    previous = Manifest.objects.filter(
        repository_id=cached.repository_id, digest=cached.digest
    ).first()
    served = _fetch(rule, name, info.digest, tag=cached.name, registry=registry)
    CachedTag.objects.filter(pk=cached.pk).update(pulled_at=cached.pulled_at)
    _prefetch(rule, name, served.manifest, previous, registry)
    return 1


def _prefetch(rule, name: str, manifest: Manifest, previous: Manifest | None, registry) -> None:
    """The content of a refreshed manifest: its blobs; for an index, the children for the
    platforms that were cached for the previous one, and theirs."""
    from .. import manifests

    parsed = manifests.parse(bytes(manifest.body), manifest.media_type)
    if not parsed.is_index:
        for descriptor in parsed.required_blobs:
            fetch_blob(rule=rule, name=name, digest=descriptor.digest, registry=registry)
        return
    wanted = _cached_platforms(previous)
    for child in parsed.manifests:
        if child.platform is not None and str(child.platform) in wanted:
            served = _fetch(rule, name, str(child.digest), tag=None, registry=registry)
            _prefetch(rule, name, served.manifest, None, registry)


def _cached_platforms(index: Manifest | None) -> set[str]:
    from .. import manifests

    if index is None:
        return set()
    held = set(index.children.values_list("digest", flat=True))
    parsed = manifests.parse(bytes(index.body), index.media_type)
    return {
        str(child.platform)
        for child in parsed.manifests
        if child.platform is not None and str(child.digest) in held
    }


def fetch_blob(*, rule: CacheRule, name: str, digest: Digest, registry=None) -> Blob | None:
    """Fetch and store a blob of a cached repository, with no client waiting (sync)."""
    if RepositoryBlob.objects.filter(repository__name=name, blob__digest=str(digest)).exists():
        return None
    token = _lead(digest)
    if token is None:
        return None  # being fetched by a pull right now
    try:
        registry = registry or registry_of(rule)
        response = registry.get_blob(rule.upstream_name(name), str(digest))
    except BaseException:
        _release(digest, token)
        raise
    download = Download(rule=rule, name=name, digest=digest, response=response, token=token)
    for _ in download.chunks():
        pass
    return Blob.objects.filter(digest=str(digest)).first()


def expire_unused(*, now=None) -> dict[str, int]:
    """Forget cached tags and manifests nobody pulled within BERTH_CACHE_EXPIRE_SECONDS;
    garbage collection then reclaims their blobs. Repositories left empty go."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BERTH_CACHE_EXPIRE_SECONDS)
    counts = {"tags": 0, "manifests": 0, "repositories": 0}
    for record in CachedRepository.objects.select_related("repository"):
        repository = record.repository
        with locks.repository_lock(repository.pk):
            old_tags = list(
                CachedTag.objects.filter(repository=repository, pulled_at__lt=cutoff).values_list(
                    "name", flat=True
                )
            )
            Tag.objects.filter(repository=repository, name__in=old_tags).delete()
            CachedTag.objects.filter(repository=repository, name__in=old_tags).delete()
            counts["tags"] += len(old_tags)
            recent = set(
                CachedManifest.objects.filter(
                    repository=repository, pulled_at__gte=cutoff
                ).values_list("digest", flat=True)
            )
            tagged = Tag.objects.filter(repository=repository).values_list("manifest_id", flat=True)
            kept = set(tagged)
            kept |= set(
                Manifest.objects.filter(repository=repository, digest__in=recent).values_list(
                    "id", flat=True
                )
            )
            frontier = list(kept)
            while frontier:  # the children of a kept index are kept with it
                children = set(
                    Manifest.children.through.objects.filter(
                        from_manifest_id__in=frontier
                    ).values_list("to_manifest_id", flat=True)
                )
                frontier = list(children - kept)
                kept |= children
            doomed = Manifest.objects.filter(repository=repository).exclude(pk__in=kept)
            digests_gone = list(doomed.values_list("digest", flat=True))
            doomed.delete()
            CachedManifest.objects.filter(repository=repository, digest__in=digests_gone).delete()
            counts["manifests"] += len(digests_gone)
            if not Manifest.objects.filter(repository=repository).exists():
                event = registry_services.RegistryEvent("delete", repository.pk, repository.name)
                Repository.objects.filter(pk=repository.pk).delete()
                registry_services.notify(event)
                counts["repositories"] += 1
            elif old_tags or digests_gone:
                registry_services.notify(
                    registry_services.RegistryEvent("cache", repository.pk, repository.name)
                )
    return counts
