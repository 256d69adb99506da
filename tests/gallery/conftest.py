"""Scanned images for the gallery's and the API's vulnerability tests.

Real layers (a Debian package database, a Python site-packages, an npm project) pushed
through the registry, scanned by registry.scanning against the real OSV records of
tests/registry/scanning/osv/, and indexed into the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gallery import services
from registry.models import Manifest, Repository
from registry.scanning import advisories
from tests.oci import push_helm_chart
from tests.registry.scanning.conftest import OSV
from tests.registry.scanning.kit import push_layers, scan_now
from tests.registry.scanning.test_services import app_layer, debian_base


@dataclass(frozen=True)
class Scanned:
    repository: Repository
    old: str  # digest of alice/app:1.0: lodash 4.17.20 (high), requests 2.31.0 (medium), …
    new: str  # digest of alice/app:1.1: lodash 4.17.21, so its high finding is gone


def publish(client, name: str, tag: str, *layers: bytes, architecture="amd64") -> str:
    """Push an image, scan it here and now, index the repository; its digest."""
    digest = push_layers(client, name, tag, list(layers), architecture)
    scan_now(Manifest.objects.get(repository__name=name, digest=digest))
    services.index_repository(repository_id=Repository.objects.get(name=name).pk)
    return digest


@pytest.fixture
def scanned(as_alice) -> Scanned:
    """alice/app:1.0 and 1.1 (pushed after), both scanned; 1.1 has fixed lodash."""
    advisories.import_advisories(OSV)
    old = publish(as_alice, "alice/app", "1.0", debian_base(), app_layer())
    new = publish(as_alice, "alice/app", "1.1", debian_base(), app_layer(lodash="4.17.21"))
    return Scanned(Repository.objects.get(name="alice/app"), old, new)


@pytest.fixture
def scanned_index(as_alice, scanned) -> str:
    """alice/app:multi, an index of linux/amd64 and linux/arm64, each scanned; its digest."""
    from registry import mediatypes

    children = []
    for architecture in ("amd64", "arm64"):
        digest = publish(
            as_alice,
            "alice/app",
            f"multi-{architecture}",
            debian_base(),
            app_layer(),
            architecture=architecture,
        )
        manifest = Manifest.objects.get(repository__name="alice/app", digest=digest)
        children.append(
            {
                "mediaType": manifest.media_type,
                "digest": digest,
                "size": manifest.size,
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": children}
    response = as_alice.push_manifest("alice/app", "multi", index, mediatypes.OCI_INDEX)
    assert response.status_code == 201, response.content
    services.index_repository(repository_id=scanned.repository.pk)
    return response["Docker-Content-Digest"]


@pytest.fixture
def chart(as_alice) -> str:
    """alice/chart:0.1.0, a Helm chart: nothing to scan; its digest."""
    digest = push_helm_chart(as_alice, "alice/chart", "0.1.0")
    services.index_repository(repository_id=Repository.objects.get(name="alice/chart").pk)
    return digest


@pytest.fixture
def scanned_secret(as_alice, scanned) -> str:
    """alice/secret:1.0, private and scanned; its digest."""
    digest = publish(as_alice, "alice/secret", "1.0", debian_base(), app_layer())
    services.set_visibility(repository=Repository.objects.get(name="alice/secret"), private=True)
    return digest
