import hashlib

import pytest

from registry import digests
from registry.errors import DigestInvalid

SHA256 = "sha256:" + "a" * 64


def test_parse_accepts_sha256_and_sha512():
    assert str(digests.parse(SHA256)) == SHA256
    assert digests.parse("sha512:" + "b" * 128).algorithm == "sha512"


@pytest.mark.parametrize(
    "value",
    [
        "sha256",
        "sha256:",
        "sha256:" + "a" * 63,
        "sha256:" + "A" * 64,
        "md5:" + "a" * 32,
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        ":" + "a" * 64,
    ],
)
def test_parse_rejects_malformed_or_unsupported_digests(value):
    with pytest.raises(DigestInvalid):
        digests.parse(value)


def test_storage_key_is_sharded_by_the_first_two_characters():
    assert digests.parse(SHA256).storage_key == f"sha256/aa/{'a' * 64}"


def test_compute_matches_hashlib():
    assert digests.compute(b"hello").encoded == hashlib.sha256(b"hello").hexdigest()
    assert digests.compute(b"hello", "sha512").encoded == hashlib.sha512(b"hello").hexdigest()


def test_looks_like_digest_tells_digests_from_tags():
    assert digests.looks_like_digest(SHA256)
    assert digests.looks_like_digest("sha256:baddigeststring")
    assert not digests.looks_like_digest("latest")
    assert not digests.looks_like_digest("v1.0")


def test_empty_json_digest_is_the_oci_empty_descriptor():
    assert str(digests.EMPTY_JSON) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
