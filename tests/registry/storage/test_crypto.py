"""The sealed format, without a database."""

import io
import os

import pytest

from registry.storage import crypto

KEY = bytes(range(32))


def seal(data: bytes, key: bytes = KEY) -> bytes:
    codec = crypto.Sealed(key)
    chunks = [
        codec.seal(i, data[o : o + crypto.CHUNK], o + crypto.CHUNK > len(data))
        for i, o in enumerate(range(0, len(data) + 1, crypto.CHUNK))
    ]
    return crypto.HEADER + b"".join(chunks)


def open_all(stored: bytes, size: int, start: int = 0, end: int | None = None) -> bytes:
    end = size - 1 if end is None else end
    source = io.BytesIO(stored)
    source.seek(crypto.Sealed.chunk_offset(start // crypto.CHUNK))
    return b"".join(crypto.open_range(crypto.Sealed(KEY), source, size, start, end))


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK - 1, crypto.CHUNK, crypto.CHUNK * 3 + 7])
def test_sealed_content_opens_to_the_same_bytes(size):
    data = os.urandom(size)
    stored = seal(data)
    assert len(stored) == crypto.Sealed(KEY).stored_size(size)
    assert open_all(stored, size) == data


def test_sealed_content_does_not_contain_the_plaintext():
    data = b"secret layer " * 10_000
    assert b"secret layer" not in seal(data)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (crypto.CHUNK - 5, crypto.CHUNK + 5),  # across one boundary
        (10, crypto.CHUNK * 2 + 10),  # across two
        (crypto.CHUNK, crypto.CHUNK),  # the first byte of a chunk
        (crypto.CHUNK * 3, crypto.CHUNK * 3 + 6),  # inside the short last chunk
    ],
)
def test_a_range_across_chunk_boundaries_opens_only_what_it_needs(start, end):
    data = os.urandom(crypto.CHUNK * 3 + 7)
    assert open_all(seal(data), len(data), start, end) == data[start : end + 1]


def test_a_flipped_byte_fails_authentication(caplog):
    data = os.urandom(crypto.CHUNK * 2)
    stored = bytearray(seal(data))
    stored[crypto.Sealed.chunk_offset(1) + 100] ^= 1
    with pytest.raises(crypto.Tampered):
        open_all(bytes(stored), len(data))
    assert "chunk 1 failed authentication" in caplog.text


def test_swapped_chunks_fail_authentication():
    data = os.urandom(crypto.CHUNK * 2 + 1)
    stored = seal(data)
    first, second = (
        stored[crypto.Sealed.chunk_offset(i) : crypto.Sealed.chunk_offset(i + 1)] for i in (0, 1)
    )
    swapped = crypto.HEADER + second + first + stored[crypto.Sealed.chunk_offset(2) :]
    with pytest.raises(crypto.Tampered):
        open_all(swapped, len(data))


def test_a_truncated_blob_fails_even_at_a_chunk_boundary():
    data = os.urandom(crypto.CHUNK * 2 + 10)
    stored = seal(data)
    with pytest.raises(crypto.Tampered):
        open_all(stored[: crypto.Sealed.chunk_offset(2)], len(data))


def test_content_sealed_with_another_key_does_not_open():
    data = os.urandom(100)
    with pytest.raises(crypto.Tampered):
        open_all(seal(data, key=bytes(32)), len(data))
