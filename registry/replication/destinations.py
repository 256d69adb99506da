"""Where replication writes: another registry (through registry.upstream, the one client for
other registries) or another publisher in this Berth (through the registry's own services).

Both answer the same questions, so that the copying in `services` is written once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from .. import services as registry_services
from .. import upstream
from ..access import audit
from ..access.namespaces import new_repository_private
from ..digests import Digest
from ..models import Blob, Manifest, Repository, RepositoryBlob, Tag
from ..storage import blobs
from ..upstream import vault
from .models import ReplicationRule


class RegistryDestination:
    """Another registry, as the rule's account."""

    def __init__(self, rule: ReplicationRule) -> None:
        password = vault.unseal(rule.password_sealed, f"replication-rule:{rule.pk}")
        self.client = upstream.Registry(
            rule.url,
            username=rule.username,
            password=password,
            allow_private_networks=rule.allow_private_networks,
        )

    def tag_digest(self, name: str, tag: str) -> str | None:
        return self.client.has_manifest(name, tag)

    def has_manifest(self, name: str, digest: str) -> bool:
        return self.client.has_manifest(name, digest) is not None

    def has_blob(self, name: str, digest: str) -> bool:
        return self.client.has_blob(name, digest)

    def mount_blob(self, name: str, digest: str, source: str) -> bool:
        return self.client.mount_blob(name, digest, source)

    def upload_blob(self, name: str, blob: Blob, pieces: Callable) -> None:
        self.client.upload_blob(name, blob.digest, blob.size, pieces)

    def put_manifest(self, name: str, manifest: Manifest, tags: list[str]) -> set[str]:
        return self.client.put_manifest(
            name, manifest.digest, bytes(manifest.body), manifest.media_type, tags=tags
        )

    def put_tag(self, name: str, tag: str, manifest: Manifest) -> None:
        self.client.put_manifest(name, tag, bytes(manifest.body), manifest.media_type)

    def delete(self, name: str, reference: str) -> bool:
        """Delete a tag or manifest; False when the registry does not delete that way."""
        try:
            return self.client.delete_manifest(name, reference)
        except upstream.NotFound:
            return True  # gone already


class PublisherDestination:
    """Another publisher's namespace in this Berth (which accepted the rule). Blobs are
    linked, never copied; the namespace's quota applies."""

    def __init__(self, rule: ReplicationRule, source: Repository | None) -> None:
        self.rule, self.source = rule, source
        self.actor = audit.Actor(f"replication from {rule.namespace.name}")

    def _repository(self, name: str) -> Repository | None:
        return Repository.objects.filter(name=name).first()

    def _created(self, name: str) -> Repository:
        repository = self._repository(name)
        if repository is None:
            repository = registry_services.repository_for_push(name=name, user_id=None)
            private = self.source.is_private or new_repository_private(name)
            Repository.objects.filter(pk=repository.pk).update(is_private=private)
            repository.is_private = private
        return repository

    def tag_digest(self, name: str, tag: str) -> str | None:
        return (
            Tag.objects.filter(repository__name=name, name=tag)
            .values_list("manifest__digest", flat=True)
            .first()
        )

    def has_manifest(self, name: str, digest: str) -> bool:
        return Manifest.objects.filter(repository__name=name, digest=digest).exists()

    def has_blob(self, name: str, digest: str) -> bool:
        return RepositoryBlob.objects.filter(repository__name=name, blob__digest=digest).exists()

    def mount_blob(self, name: str, digest: str, source: str) -> bool:
        origin = Repository.objects.filter(name=source).first()
        linked = registry_services.mount_blob(
            repository=self._created(name), digest=_digest(digest), source=origin
        )
        return linked is not None

    def upload_blob(self, name: str, blob: Blob, pieces: Callable) -> None:
        # Same Berth: the bytes are there already; link them from the source repository.
        if not self.mount_blob(name, blob.digest, self.source.name):
            raise upstream.BadResponse(f"{blob.digest} could not be linked into {name}")

    def put_manifest(self, name: str, manifest: Manifest, tags: list[str]) -> set[str]:
        stored, _ = registry_services.commit_manifest(
            repository=self._created(name),
            reference=manifest.digest,
            body=bytes(manifest.body),
            content_type=manifest.media_type,
            actor=self.actor,
            tags=tags,
        )
        return set(stored.tag_names)

    def put_tag(self, name: str, tag: str, manifest: Manifest) -> None:
        self.put_manifest(name, manifest, [tag])

    def delete(self, name: str, reference: str) -> bool:
        repository = self._repository(name)
        if repository is None:
            return True
        with contextlib.suppress(registry_services.ManifestUnknown):
            registry_services.delete_manifest(
                repository=repository, reference=reference, actor=self.actor
            )
        return True


def _digest(value: str) -> Digest:
    algorithm, _, encoded = value.partition(":")
    return Digest(algorithm, encoded)


def destination_for(rule: ReplicationRule, source: Repository | None):
    if rule.kind == ReplicationRule.Kind.PUBLISHER:
        return PublisherDestination(rule, source)
    return RegistryDestination(rule)


def pieces_of(blob: Blob, renew: Callable[[], None]) -> Callable:
    """A factory of the blob's plaintext pieces (one per upload attempt), renewing the
    run's lease as they go."""

    def pieces():
        for data in blobs.read(blob):
            renew()
            yield data

    return pieces
