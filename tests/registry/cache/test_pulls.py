"""Pulls through the cache, in process, from Debian's docker-registry on loopback behind a
proxy that injects faults: misses, hits, freshness, stale copies, faults that must store
nothing, multi-arch indexes kept sparse, read-only repositories."""

import inspect
import json

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections

from registry.cache import services as cache
from registry.models import (
    Blob,
    BlobFetch,
    CachedRepository,
    CachedTag,
    Manifest,
    PendingReference,
    Repository,
)
from registry.storage import blobs
from registry.upstream import http
from tests.factories import UserFactory
from tests.oci import RegistryClient, error_codes
from tests.peers import Fault, push_image, push_index, sha256, unique

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(proxy):
    return cache.create_rule(prefix="hub", upstream_url=proxy.url, allow_private_networks=True)


@pytest.fixture
def pulled(peer):
    """An image upstream, under library/…; its name in Berth is hub/library/…."""
    upstream = unique("library")
    image = push_image(peer.url, upstream, "1.0", [b"first layer", b"second layer"])
    return f"hub/{upstream}", image


def close(response) -> None:
    """What a WSGI server does when its client leaves: close the response. (Django's test
    client wraps a streamed body in a generator that, once started, closes the response
    itself with its request_finished signal kept from closing the test's database
    connection; before it started, that is done here.)"""
    body = response._iterator  # the test client's wrapper generator
    if inspect.getgeneratorstate(body) != inspect.GEN_CREATED:
        body.close()
        return
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def get(client, path, **headers):
    response = client.get(path, headers=headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_a_tag_is_fetched_on_a_miss_and_served_from_berth_afterwards(
    rule, pulled, proxy, anonymous
):
    name, image = pulled
    first, body = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert first.status_code == 200
    assert body == image.body
    assert first["Docker-Content-Digest"] == image.digest
    assert first["Berth-Cache"] == "miss"
    second, _ = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert second["Berth-Cache"] == "hit"
    assert proxy.count("GET", "/manifests/") == 1
    assert CachedRepository.objects.get(repository__name=name).upstream_name == name[4:]


def test_blobs_are_streamed_on_a_miss_stored_verified_and_served_from_berth(
    rule, pulled, proxy, anonymous
):
    name, _image = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    layer = sha256(b"second layer")
    miss, body = get(anonymous, f"/v2/{name}/blobs/{layer}")
    assert miss.status_code == 200
    assert (body, miss["Berth-Cache"], miss["Content-Length"]) == (b"second layer", "miss", "12")
    assert blobs.verify(Blob.objects.get(digest=layer))
    hit, body = get(anonymous, f"/v2/{name}/blobs/{layer}")
    assert (body, hit["Berth-Cache"]) == (b"second layer", "hit")
    assert proxy.count("GET", f"/blobs/{layer}") == 1
    assert not BlobFetch.objects.exists()


def test_a_tag_is_revalidated_with_a_head_once_it_is_no_longer_fresh(
    rule, pulled, proxy, anonymous, settings
):
    name, image = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    response, body = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert (response["Berth-Cache"], body) == ("revalidated", image.body)
    assert proxy.count("HEAD", "/manifests/1.0") == 2
    assert proxy.count("GET", "/manifests/") == 1


def test_a_tag_that_moved_upstream_is_fetched_anew(rule, pulled, peer, anonymous, settings):
    name, _ = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    moved = push_image(peer.url, name[4:], "1.0", [b"a newer layer"])
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    response, body = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert (response["Berth-Cache"], body) == ("miss", moved.body)
    assert CachedTag.objects.get(repository__name=name, name="1.0").digest == moved.digest


@pytest.mark.parametrize(
    "fault",
    [
        Fault(path="/manifests/1.0", method="HEAD", status=429, headers={"Retry-After": "60"}),
        Fault(path="/manifests/1.0", method="HEAD", status=500, times=None),
        Fault(path="/manifests/1.0", method="HEAD", status=503, times=None),
        Fault(path="/manifests/1.0", method="HEAD", delay=1.5, times=None),
    ],
    ids=["429", "500", "503", "timeout"],
)
def test_a_stale_copy_is_served_marked_when_the_upstream_fails(
    rule, pulled, proxy, anonymous, settings, fault
):
    settings.BERTH_UPSTREAM_READ_TIMEOUT = 0.5
    name, image = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    proxy.inject(fault)
    response, body = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert response.status_code == 200
    assert body == image.body
    assert response["Berth-Cache"] == "stale"
    assert response["Warning"] == '110 - "Response is Stale"'


def test_a_stale_copy_is_served_when_the_upstream_is_gone(peer, pulled, anonymous, settings):
    from tests.peers import FaultProxy

    name, image = pulled
    with FaultProxy(peer.url) as doomed:
        cache.create_rule(prefix="hub", upstream_url=doomed.url, allow_private_networks=True)
        get(anonymous, f"/v2/{name}/manifests/1.0")
    http.forget_connections()  # the kept-alive connection to it went with it
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    response, body = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert (response.status_code, response["Berth-Cache"], body) == (200, "stale", image.body)


def test_with_nothing_cached_a_429_is_passed_on_with_its_retry_after(
    rule, pulled, proxy, anonymous
):
    name, _ = pulled
    proxy.inject(
        Fault(path="/manifests/1.0", method="HEAD", status=429, headers={"Retry-After": "120"})
    )
    response, _ = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert response.status_code == 429
    assert error_codes(response) == ["TOOMANYREQUESTS"]
    assert response["Retry-After"] == "120"
    assert not Manifest.objects.exists()


def test_with_nothing_cached_a_failing_upstream_answers_502(rule, pulled, proxy, anonymous):
    name, _ = pulled
    proxy.inject(Fault(path="/manifests/", method="HEAD", status=500, times=None))
    response, _ = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert response.status_code == 502
    assert "500" in json.loads(response.content)["errors"][0]["message"]


def test_a_tag_the_upstream_does_not_have_is_manifest_unknown(rule, anonymous):
    response, _ = get(anonymous, f"/v2/hub/{unique('library')}/manifests/nope")
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_a_manifest_that_does_not_match_its_digest_is_not_stored(rule, pulled, proxy, anonymous):
    name, image = pulled
    proxy.inject(Fault(path=f"/manifests/{image.digest}", corrupt=True))
    response, _ = get(anonymous, f"/v2/{name}/manifests/1.0")
    assert response.status_code == 502
    assert "does not match" in json.loads(response.content)["errors"][0]["message"]
    assert not Manifest.objects.exists()


def staged_files(settings) -> list:
    return [p for p in settings.BERTH_UPLOAD_DIR.glob("*") if p.is_file()]


def test_a_blob_that_does_not_match_its_digest_is_not_stored_nor_sent_whole(
    rule, pulled, proxy, anonymous, settings
):
    name, _ = pulled
    layer = b"z" * 3_000_000
    push_image(proxy.url, name[4:], "big", [layer])
    get(anonymous, f"/v2/{name}/manifests/big")
    proxy.inject(Fault(path="/blobs/", corrupt=True))
    response = anonymous.get(f"/v2/{name}/blobs/{sha256(layer)}")
    received = []
    with pytest.raises(Exception, match=r"DIGEST_INVALID|does not match|provided digest"):
        received.extend(response.streaming_content)
    assert sum(map(len, received)) < len(layer)
    assert not Blob.objects.filter(digest=sha256(layer)).exists()
    assert not BlobFetch.objects.exists()
    assert staged_files(settings) == []


def test_a_connection_dropped_mid_blob_stores_nothing_and_the_next_pull_completes(
    rule, pulled, proxy, anonymous, settings
):
    name, _ = pulled
    layer = b"w" * 3_000_000
    push_image(proxy.url, name[4:], "big", [layer])
    get(anonymous, f"/v2/{name}/manifests/big")
    proxy.inject(Fault(path="/blobs/", drop_after=1_000_000))
    response = anonymous.get(f"/v2/{name}/blobs/{sha256(layer)}")
    with pytest.raises(Exception, match=r"broke off|ended after"):
        b"".join(response.streaming_content)
    assert not Blob.objects.filter(digest=sha256(layer)).exists()
    assert staged_files(settings) == []
    again, body = get(anonymous, f"/v2/{name}/blobs/{sha256(layer)}")
    assert (again.status_code, body == layer) == (200, True)
    assert blobs.verify(Blob.objects.get(digest=sha256(layer)))


def test_a_client_that_goes_away_mid_blob_still_leaves_it_stored(rule, pulled, proxy, anonymous):
    name, _ = pulled
    layer = bytes(range(256)) * 16_000
    push_image(proxy.url, name[4:], "big", [layer])
    get(anonymous, f"/v2/{name}/manifests/big")
    response = anonymous.get(f"/v2/{name}/blobs/{sha256(layer)}")
    next(response.streaming_content)
    close(response)
    assert blobs.verify(Blob.objects.get(digest=sha256(layer)))


def test_a_client_that_leaves_before_the_first_byte_gives_the_fetch_back(rule, pulled, anonymous):
    name, _ = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    layer = sha256(b"first layer")
    close(anonymous.get(f"/v2/{name}/blobs/{layer}"))
    assert not BlobFetch.objects.exists()
    response, body = get(anonymous, f"/v2/{name}/blobs/{layer}")
    assert (response["Berth-Cache"], body) == ("miss", b"first layer")


def test_a_range_on_a_miss_gets_its_range_and_the_whole_blob_is_stored(rule, pulled, anonymous):
    name, _ = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    response, body = get(
        anonymous, f"/v2/{name}/blobs/{sha256(b'second layer')}", Range="bytes=2-5"
    )
    assert (response.status_code, body) == (206, b"cond")
    assert response["Content-Range"] == "bytes 2-5/12"
    assert Blob.objects.filter(digest=sha256(b"second layer")).exists()


def test_a_blob_berth_holds_for_another_cached_repository_is_linked_not_fetched(
    rule, peer, proxy, anonymous
):
    one, two = unique("library"), unique("library")
    push_image(peer.url, one, "1.0", [b"a shared layer"])
    push_image(peer.url, two, "1.0", [b"a shared layer"])
    for upstream in (one, two):
        get(anonymous, f"/v2/hub/{upstream}/manifests/1.0")
        _response, body = get(anonymous, f"/v2/hub/{upstream}/blobs/{sha256(b'a shared layer')}")
        assert body == b"a shared layer"
    assert proxy.count("GET", "/blobs/") == 1
    assert proxy.count("HEAD", "/blobs/") == 1


def test_a_blob_the_upstream_does_not_have_for_this_repository_is_not_linked(
    rule, peer, anonymous, as_alice
):
    as_alice.push_blob("alice/private", b"a private layer")
    Repository.objects.filter(name="alice/private").update(is_private=True)
    response, _ = get(anonymous, f"/v2/hub/{unique('library')}/blobs/{sha256(b'a private layer')}")
    assert error_codes(response) == ["BLOB_UNKNOWN"]


def test_one_platform_of_an_index_is_cached_and_the_index_completed_as_others_are_pulled(
    rule, peer, anonymous
):
    upstream = unique("library")
    children = {
        arch: push_image(peer.url, upstream, None, [f"{arch} layer".encode()], architecture=arch)
        for arch in ("amd64", "arm64")
    }
    index = push_index(peer.url, upstream, "multi", children)
    name = f"hub/{upstream}"
    _response, body = get(anonymous, f"/v2/{name}/manifests/multi")
    assert body == index.body
    get(anonymous, f"/v2/{name}/manifests/{children['amd64'].digest}")
    stored = Manifest.objects.get(repository__name=name, digest=index.digest)
    assert list(stored.children.values_list("digest", flat=True)) == [children["amd64"].digest]
    assert set(stored.pending_references.values_list("digest", flat=True)) == {
        children["arm64"].digest
    }
    get(anonymous, f"/v2/{name}/manifests/{children['arm64'].digest}")
    assert stored.children.count() == 2
    assert not PendingReference.objects.filter(manifest=stored).exists()


def test_cached_repositories_are_read_only_to_everyone(rule, pulled, anonymous):
    name, image = pulled
    get(anonymous, f"/v2/{name}/manifests/1.0")
    UserFactory(username="root", is_superuser=True, is_staff=True)
    root = RegistryClient("root")
    for method, path in [
        ("PUT", f"/v2/{name}/manifests/2.0"),
        ("DELETE", f"/v2/{name}/manifests/1.0"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("DELETE", f"/v2/{name}/blobs/{sha256(b'first layer')}"),
        ("POST", f"/v2/hub/{unique('library')}/blobs/uploads/"),
    ]:
        response = root.request(method, path, image.body)
        assert response.status_code == 403, (method, path)
        assert error_codes(response) == ["DENIED"]
    assert anonymous.get(f"/v2/{name}/manifests/1.0").status_code == 200


def test_the_rule_namespace_is_put_in_front_of_the_upstream_name(proxy, peer, anonymous):
    cache.create_rule(
        prefix="mirror", upstream_url=proxy.url, namespace="library", allow_private_networks=True
    )
    short = unique("library").split("/", 1)[1]
    image = push_image(peer.url, f"library/{short}", "1.0", [b"layer"])
    _response, body = get(anonymous, f"/v2/mirror/{short}/manifests/1.0")
    assert body == image.body


def test_the_tags_list_of_a_cached_repository_is_the_upstreams(rule, pulled, peer, anonymous):
    name, _ = pulled
    push_image(peer.url, name[4:], "2.0", [b"another"])
    _response, body = get(anonymous, f"/v2/{name}/tags/list")
    assert json.loads(body)["tags"] == ["1.0", "2.0"]
    paged = json.loads(get(anonymous, f"/v2/{name}/tags/list?n=1")[1])
    assert paged["tags"] == ["1.0"]


def test_a_blob_head_on_a_miss_asks_the_upstream_and_fetches_nothing(rule, pulled, anonymous):
    name, _ = pulled
    response = anonymous.head(f"/v2/{name}/blobs/{sha256(b'first layer')}")
    assert (response.status_code, response["Content-Length"]) == (200, "11")
    assert not Blob.objects.filter(digest=sha256(b"first layer")).exists()


def test_a_pull_by_digest_is_served_from_berth_without_asking_the_upstream_again(
    rule, pulled, proxy, anonymous, settings
):
    settings.BERTH_CACHE_FRESHNESS_SECONDS = 0
    name, image = pulled
    get(anonymous, f"/v2/{name}/manifests/{image.digest}")
    response, body = get(anonymous, f"/v2/{name}/manifests/{image.digest}")
    assert (response["Berth-Cache"], body) == ("hit", image.body)
    assert proxy.count("GET", "/manifests/") + proxy.count("HEAD", "/manifests/") == 1
