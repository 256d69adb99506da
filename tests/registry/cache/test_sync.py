"""The cache's background work and its rules: the sync of recently pulled tags, the expiry of
what nobody pulls, an upstream behind token authentication, the admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.cache import services as cache
from registry.models import Blob, CachedManifest, CachedTag, CacheRule, Manifest, Repository
from registry.storage import gc
from tests.factories import UserFactory
from tests.peers import push_image, push_index, sha256, unique

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(peer):
    return cache.create_rule(prefix="hub", upstream_url=peer.url, allow_private_networks=True)


def pull(client, name: str, reference: str) -> bytes:
    response = client.get(f"/v2/{name}/manifests/{reference}")
    assert response.status_code == 200, response.content
    return response.content


def test_the_sync_refreshes_a_recently_pulled_tag_that_moved_with_its_blobs(
    rule, peer, anonymous, settings
):
    upstream = unique("library")
    push_image(peer.url, upstream, "1.0", [b"old layer"])
    name = f"hub/{upstream}"
    pull(anonymous, name, "1.0")
    moved = push_image(peer.url, upstream, "1.0", [b"new layer"])
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    assert cache.sync_recent() == 1
    assert CachedTag.objects.get(repository__name=name, name="1.0").digest == moved.digest
    assert Blob.objects.filter(
        digest=sha256(b"new layer"), repositoryblob__repository__name=name
    ).exists()
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 600
    response = anonymous.get(f"/v2/{name}/manifests/1.0")
    assert (response["Berth-Cache"], response.content) == ("hit", moved.body)


def test_the_sync_refreshes_the_platforms_that_were_cached_and_no_others(
    rule, peer, anonymous, settings
):
    upstream = unique("library")
    first = {
        a: push_image(peer.url, upstream, None, [f"{a} 1".encode()], architecture=a)
        for a in ("amd64", "arm64")
    }
    push_index(peer.url, upstream, "multi", first)
    name = f"hub/{upstream}"
    pull(anonymous, name, "multi")
    pull(anonymous, name, first["arm64"].digest)
    second = {
        a: push_image(peer.url, upstream, None, [f"{a} 2".encode()], architecture=a)
        for a in ("amd64", "arm64")
    }
    push_index(peer.url, upstream, "multi", second)
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    cache.sync_recent()
    held = set(Manifest.objects.filter(repository__name=name).values_list("digest", flat=True))
    assert second["arm64"].digest in held
    assert second["amd64"].digest not in held
    assert Blob.objects.filter(digest=sha256(b"arm64 2")).exists()


def test_the_sync_leaves_tags_nobody_pulled_lately(rule, peer, anonymous, settings):
    upstream = unique("library")
    push_image(peer.url, upstream, "1.0", [b"layer"])
    name = f"hub/{upstream}"
    pull(anonymous, name, "1.0")
    CachedTag.objects.update(pulled_at=timezone.now() - timedelta(days=30))
    push_image(peer.url, upstream, "1.0", [b"newer"])
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    assert cache.sync_recent() == 0


def test_what_nobody_pulls_expires_and_garbage_collection_reclaims_its_blobs(rule, peer, anonymous):
    keep, drop = unique("library"), unique("library")
    push_image(peer.url, keep, "1.0", [b"kept layer"])
    push_image(peer.url, drop, "1.0", [b"dropped layer"])
    for upstream, layer in ((keep, b"kept layer"), (drop, b"dropped layer")):
        pull(anonymous, f"hub/{upstream}", "1.0")
        b"".join(anonymous.get(f"/v2/hub/{upstream}/blobs/{sha256(layer)}").streaming_content)
    long_ago = timezone.now() - timedelta(days=60)
    CachedTag.objects.filter(repository__name=f"hub/{drop}").update(pulled_at=long_ago)
    CachedManifest.objects.filter(repository__name=f"hub/{drop}").update(pulled_at=long_ago)
    counts = cache.expire_unused()
    assert counts == {"tags": 1, "manifests": 1, "repositories": 1}
    assert not Repository.objects.filter(name=f"hub/{drop}").exists()
    assert Repository.objects.filter(name=f"hub/{keep}").exists()
    gc.collect(grace=0)
    assert not Blob.objects.filter(digest=sha256(b"dropped layer")).exists()
    assert Blob.objects.filter(digest=sha256(b"kept layer")).exists()


def test_a_manifest_pulled_by_digest_lately_survives_the_expiry_of_its_tag(rule, peer, anonymous):
    upstream = unique("library")
    image = push_image(peer.url, upstream, "1.0", [b"layer"])
    name = f"hub/{upstream}"
    pull(anonymous, name, "1.0")
    CachedTag.objects.update(pulled_at=timezone.now() - timedelta(days=60))
    counts = cache.expire_unused()
    assert counts["tags"] == 1
    assert counts["manifests"] == 0
    assert pull(anonymous, name, image.digest) == image.body


def test_an_upstream_behind_token_authentication_is_cached_with_the_rules_credentials(
    token_peer, anonymous
):
    upstream = unique("library")
    image = push_image(token_peer.writer.url, upstream, "1.0", [b"a private layer"])
    rule = cache.create_rule(
        prefix="priv",
        upstream_url=token_peer.registry.url,
        username=token_peer.username,
        password=token_peer.password,
        allow_private_networks=True,
    )
    assert token_peer.password not in rule.password_sealed
    assert pull(anonymous, f"priv/{upstream}", "1.0") == image.body
    blob = anonymous.get(f"/v2/priv/{upstream}/blobs/{sha256(b'a private layer')}")
    assert b"".join(blob.streaming_content) == b"a private layer"
    assert token_peer.tokens.requests[-1]["authorization"].startswith("Basic ")


def test_staff_add_a_rule_in_the_admin_with_its_password_sealed(client, peer):
    staff = UserFactory(username="sam", is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(
        "/admin/registry/cacherule/add/",
        {
            "prefix": "hub",
            "upstream": peer.url,
            "namespace": "library",
            "username": "robot",
            "password": "s3cret-pw",
            "allow_private_networks": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    rule = CacheRule.objects.get()
    assert cache.password_of(rule) == "s3cret-pw"
    refused = client.post(
        "/admin/registry/cacherule/add/", {"prefix": "other", "upstream": "http://10.0.0.1"}
    )
    assert refused.status_code == 200
    assert b"does not connect to" in refused.content
