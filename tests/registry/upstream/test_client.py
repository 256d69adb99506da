"""The client for other registries, against Debian's docker-registry on loopback: anonymous,
behind a token server, with Basic authentication, and behind a proxy that injects faults."""

import pytest

from registry.upstream import (
    AuthFailed,
    DigestMismatch,
    NotFound,
    Refused,
    Registry,
    RetryPolicy,
    ServerError,
    Throttled,
    Unreachable,
    addresses,
    http,
)
from tests.peers import Fault, push_image, sha256, unique

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05, retry_after_max=5)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def registry(url: str, **kwargs) -> Registry:
    kwargs.setdefault("policy", FAST)
    return Registry(url, allow_private_networks=True, **kwargs)


def test_a_manifest_and_its_blobs_are_read_from_an_anonymous_registry(peer):
    name = unique()
    pushed = push_image(peer.url, name, "1.0", [b"layer one", b"layer two"])
    client = registry(peer.url)
    info = client.head_manifest(name, "1.0")
    assert (info.digest, info.size) == (pushed.digest, len(pushed.body))
    fetched = client.get_manifest(name, "1.0")
    assert (fetched.body, fetched.digest) == (pushed.body, pushed.digest)
    assert fetched.media_type == pushed.media_type
    assert b"".join(client.get_blob(name, sha256(b"layer two")).chunks()) == b"layer two"
    assert client.head_blob(name, sha256(b"layer one")) == len(b"layer one")


def test_what_is_not_there_is_not_found(peer):
    client = registry(peer.url)
    with pytest.raises(NotFound):
        client.head_manifest(unique(), "latest")
    with pytest.raises(NotFound):
        client.get_blob(unique(), sha256(b"nothing"))


def test_a_large_blob_streams_in_pieces_of_a_mebibyte(peer):
    name, layer = unique(), bytes(range(256)) * 20_000  # 5 MB
    push_image(peer.url, name, "big", [layer])
    pieces = list(registry(peer.url).get_blob(name, sha256(layer)).chunks())
    assert len(pieces) > 1
    assert max(len(piece) for piece in pieces) <= http.READ_SIZE
    assert b"".join(pieces) == layer


def test_a_registry_behind_token_authentication_is_read_with_a_token_from_its_realm(token_peer):
    name = unique()
    pushed = push_image(token_peer.writer.url, name, "1.0", [b"private layer"])
    client = registry(
        token_peer.registry.url, username=token_peer.username, password=token_peer.password
    )
    assert client.get_manifest(name, "1.0").digest == pushed.digest
    assert client.get_manifest(name, pushed.digest).body == pushed.body
    asked = token_peer.tokens.requests[-1]
    assert asked["query"]["scope"] == [f"repository:{name}:pull"]
    assert asked["authorization"].startswith("Basic ")


def test_credentials_go_to_the_realm_and_never_to_the_registry_itself(token_peer):
    from tests.peers import FaultProxy

    name = unique()
    push_image(token_peer.writer.url, name, "1.0", [b"layer"])
    with FaultProxy(token_peer.registry.url) as watched:
        client = registry(watched.url, username=token_peer.username, password="pw-not-leaked")
        with pytest.raises(AuthFailed, match="refused the credentials"):
            client.get_manifest(name, "1.0")
        sent = [authorization for _, _, authorization in watched.requests]
    assert sent
    assert not [a for a in sent if a.startswith("Basic")]
    assert token_peer.tokens.requests[-1]["authorization"].startswith("Basic ")


def test_tokens_are_reused_until_they_expire(token_peer):
    name = unique()
    pushed = push_image(token_peer.writer.url, name, "1.0", [b"layer"])
    client = registry(
        token_peer.registry.url, username=token_peer.username, password=token_peer.password
    )
    before = len(token_peer.tokens.requests)
    client.get_manifest(name, "1.0")
    client.head_manifest(name, "1.0")
    client.get_blob(name, sha256(b"layer")).close()
    registry(
        token_peer.registry.url, username=token_peer.username, password=token_peer.password
    ).get_manifest(name, pushed.digest)
    assert len(token_peer.tokens.requests) == before + 1


def test_an_anonymous_caller_of_a_registry_that_needs_credentials_is_told_so(token_peer):
    name = unique()
    push_image(token_peer.writer.url, name, "1.0", [b"layer"])
    with pytest.raises(AuthFailed, match="needs credentials"):
        registry(token_peer.registry.url).get_manifest(name, "1.0")


def test_basic_authentication_is_answered_when_the_registry_asks_for_it(basic_peer):
    name = unique()
    pushed = push_image(basic_peer.writer.url, name, "1.0", [b"layer"])
    client = registry(
        basic_peer.registry.url, username=basic_peer.username, password=basic_peer.password
    )
    assert client.get_manifest(name, "1.0").digest == pushed.digest
    with pytest.raises(AuthFailed, match="basic-user"):
        registry(basic_peer.registry.url, username="basic-user", password="wrong").get_manifest(
            name, "1.0"
        )


def test_429_is_retried_after_the_wait_its_retry_after_asks_for(proxy, peer):
    name = unique()
    pushed = push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/manifests/1.0", status=429, headers={"Retry-After": "2"}))
    sleeps = Sleeps()
    assert registry(proxy.url, sleep=sleeps).get_manifest(name, "1.0").digest == pushed.digest
    assert sleeps == [2.0]


def test_a_retry_after_longer_than_the_maximum_is_raised_at_once_with_its_wait(proxy, peer):
    name = unique()
    push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/manifests/1.0", status=429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    with pytest.raises(Throttled) as raised:
        registry(proxy.url, sleep=sleeps).get_manifest(name, "1.0")
    assert raised.value.retry_after == 3600
    assert sleeps == []


def test_5xx_is_retried_with_backoff_and_jitter_then_raised(proxy, peer):
    name = unique()
    push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/manifests/1.0", status=503, times=None))
    sleeps = Sleeps()
    with pytest.raises(ServerError, match="503"):
        registry(proxy.url, sleep=sleeps).get_manifest(name, "1.0")
    assert proxy.count("GET", "/manifests/1.0") == FAST.attempts
    assert len(sleeps) == FAST.attempts - 1
    assert all(0 <= s <= FAST.cap for s in sleeps)


def test_a_registry_that_does_not_answer_in_time_is_unreachable(proxy, peer):
    name = unique()
    push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/manifests/1.0", delay=2.0, times=None))
    client = registry(proxy.url, timeouts=http.Timeouts(connect=1, read=0.3), sleep=Sleeps())
    with pytest.raises(Unreachable, match="in time"):
        client.get_manifest(name, "1.0")


def test_a_registry_nobody_listens_on_is_unreachable():
    from tests.peers import free_port

    with pytest.raises(Unreachable):
        registry(f"http://127.0.0.1:{free_port()}", sleep=Sleeps()).head_manifest("a/b", "c")


def test_a_corrupted_blob_raises_digest_mismatch_before_its_last_piece(proxy, peer):
    name, layer = unique(), b"x" * 3_000_000
    push_image(peer.url, name, "1.0", [layer])
    proxy.inject(Fault(path="/blobs/", corrupt=True))
    handed_out = []
    pieces = registry(proxy.url).get_blob(name, sha256(layer)).chunks()
    with pytest.raises(DigestMismatch):
        handed_out.extend(pieces)
    assert sum(len(piece) for piece in handed_out) < len(layer)


def test_a_corrupted_manifest_raises_digest_mismatch(proxy, peer):
    name = unique()
    pushed = push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path=f"/manifests/{pushed.digest}", corrupt=True))
    with pytest.raises(DigestMismatch):
        registry(proxy.url).get_manifest(name, pushed.digest)


def test_a_connection_dropped_mid_blob_is_unreachable(proxy, peer):
    name, layer = unique(), b"y" * 2_000_000
    push_image(peer.url, name, "1.0", [layer])
    proxy.inject(Fault(path="/blobs/", drop_after=500_000))
    with pytest.raises(Unreachable, match=r"broke off|ended after"):
        b"".join(registry(proxy.url).get_blob(name, sha256(layer)).chunks())


def test_a_redirect_to_the_same_host_is_followed(proxy, peer):
    name = unique()
    pushed = push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/blobs/", redirect=f"{peer.url}/v2/{name}/blobs/{sha256(b'layer')}"))
    blob = registry(proxy.url).get_blob(name, sha256(b"layer"))
    assert b"".join(blob.chunks()) == b"layer"
    assert pushed


def test_a_redirect_to_a_host_not_allowed_is_refused(proxy, peer, settings):
    settings.BERTH_UPSTREAM_REDIRECT_HOSTS = ["*.cdn.example"]
    name = unique()
    push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/blobs/", redirect=f"http://localhost:1/v2/{name}/blobs/x"))
    with pytest.raises(Refused, match="localhost"):
        registry(proxy.url).get_blob(name, sha256(b"layer"))


@pytest.mark.parametrize("target", ["127.0.0.2", "169.254.169.254", "[::1]"])
def test_a_redirect_to_a_private_address_is_refused(proxy, peer, settings, monkeypatch, target):
    """Loopback peers need private networks allowed; here only 127.0.0.1 counts as public,
    so the redirect is the one thing that reaches for a forbidden address."""
    real = addresses.forbidden
    monkeypatch.setattr(addresses, "forbidden", lambda a: str(a) != "127.0.0.1" and real(a))
    settings.BERTH_UPSTREAM_REDIRECT_HOSTS = ["*"]
    name = unique()
    push_image(peer.url, name, "1.0", [b"layer"])
    port = proxy.url.rsplit(":", 1)[1]
    proxy.inject(Fault(path="/blobs/", redirect=f"http://{target}:{port}/v2/{name}/blobs/x"))
    client = Registry(proxy.url, policy=FAST)
    assert client.head_manifest(name, "1.0")  # the proxy itself is reached
    with pytest.raises(Refused, match="does not connect"):
        client.get_blob(name, sha256(b"layer"))


def test_a_redirect_to_a_name_that_resolves_to_loopback_is_refused(
    proxy, peer, settings, monkeypatch
):
    import socket

    real_forbidden, real_resolve = addresses.forbidden, socket.getaddrinfo
    monkeypatch.setattr(
        addresses, "forbidden", lambda a: str(a) != "127.0.0.1" and real_forbidden(a)
    )

    def resolve(host, port, *args, **kwargs):
        if host == "innocent.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.9", port))]
        return real_resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings.BERTH_UPSTREAM_REDIRECT_HOSTS = ["innocent.example"]
    name = unique()
    push_image(peer.url, name, "1.0", [b"layer"])
    proxy.inject(Fault(path="/blobs/", redirect=f"http://innocent.example/v2/{name}/blobs/x"))
    with pytest.raises(Refused, match=r"127\.0\.0\.9"):
        Registry(proxy.url, policy=FAST).get_blob(name, sha256(b"layer"))


def test_a_blob_and_a_manifest_are_pushed_and_then_found_by_digest(peer):
    from tests.peers import image

    name = unique()
    body, blobs = image([b"pushed layer"])
    client = registry(peer.url)
    for digest, data in blobs.items():
        assert not client.has_blob(name, digest)
        client.upload_blob(name, digest, len(data), lambda data=data: iter([data]))
        assert client.has_blob(name, digest)
    tags = client.put_manifest(
        name, sha256(body), body, "application/vnd.oci.image.manifest.v1+json", tags=["1.0"]
    )
    assert tags == set()  # distribution 2.8 does not know the tag parameter
    assert client.has_manifest(name, sha256(body)) == sha256(body)
    assert client.has_manifest(name, "1.0") is None


def test_a_blob_is_mounted_from_another_repository_of_the_same_registry(peer):
    source, target = unique(), unique()
    push_image(peer.url, source, "1.0", [b"shared layer"])
    client = registry(peer.url)
    assert client.mount_blob(target, sha256(b"shared layer"), source)
    assert client.has_blob(target, sha256(b"shared layer"))
    assert not client.mount_blob(target, sha256(b"nowhere"), source)
