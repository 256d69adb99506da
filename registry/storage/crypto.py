"""The sealed format: a blob encrypted with its own data key, in fixed-size chunks.

    object  = HEADER || chunk_0 || chunk_1 || … || chunk_n
    chunk_i = AES-256-GCM(data key, nonce_i, plaintext_i, associated data = HEADER)
    nonce_i = i as 11 bytes big-endian || 0x01 for the last chunk, else 0x00

Every chunk holds CHUNK plaintext bytes except the last, which holds `size % CHUNK` bytes
(possibly none): a blob of `size` bytes has `size // CHUNK + 1` chunks, each CHUNK + 16
bytes long (the last: its bytes + 16), so any plaintext byte is found without reading
the ones before it (Range requests, streaming). The index in the nonce authenticates each
chunk's position, the final flag the end (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár); a data key seals exactly one blob, so nonces never repeat under a key.
Reordered, truncated, extended or altered content fails authentication: `Tampered`.

The plain codec stores bytes as they are (blobs stored before encryption was on, and
BERTH_ENCRYPTION=off): one code path handles both.
"""

from __future__ import annotations

import logging

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("registry.storage")

VERSION = 1
CHUNK = 64 * 1024  # plaintext bytes per chunk
TAG = 16
HEADER = b"BERTHENC" + bytes([VERSION, CHUNK.bit_length() - 1]) + bytes(6)
SEALED_CHUNK = CHUNK + TAG


class Tampered(Exception):
    """Stored content failed authentication: it is not what Berth wrote."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class Plain:
    """Bytes stored as they are."""

    sealed = False
    header = b""
    overhead = 0

    def stored_size(self, size: int) -> int:
        return size

    def chunk_span(self, start: int, end: int) -> tuple[int, int]:
        return start, end


class Sealed:
    """Bytes sealed with one data key in the format above."""

    sealed = True
    header = HEADER
    overhead = TAG

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)

    # -- positions ---------------------------------------------------------------------------

    @staticmethod
    def chunks(size: int) -> int:
        return size // CHUNK + 1

    def stored_size(self, size: int) -> int:
        return len(HEADER) + size + TAG * self.chunks(size)

    @staticmethod
    def chunk_offset(index: int) -> int:
        """Where chunk `index` starts in the stored object."""
        return len(HEADER) + index * SEALED_CHUNK

    # -- sealing ----------------------------------------------------------------------------

    def seal(self, index: int, plaintext, final: bool) -> bytes:
        return self._aead.encrypt(_nonce(index, final), plaintext, HEADER)

    def seal_into(self, index: int, plaintext, final: bool, out) -> None:
        """Seal into `out` (a writable buffer of len(plaintext) + TAG bytes): no allocation."""
        self._aead.encrypt_into(_nonce(index, final), plaintext, HEADER, out)

    def open(self, index: int, sealed, final: bool) -> bytes:
        try:
            return self._aead.decrypt(_nonce(index, final), sealed, HEADER)
        except InvalidTag:
            raise Tampered(f"chunk {index} failed authentication") from None

    def open_into(self, index: int, sealed, final: bool, out) -> None:
        try:
            self._aead.decrypt_into(_nonce(index, final), sealed, HEADER, out)
        except InvalidTag:
            raise Tampered(f"chunk {index} failed authentication") from None


def codec_for(data_key: bytes | None) -> Plain | Sealed:
    return Sealed(data_key) if data_key else Plain()


# -- reading ----------------------------------------------------------------------------------

# Chunks read (and plaintext yielded) per step when streaming a sealed blob: large reads and
# few Python-level iterations; the decryption itself runs at several GB/s.
READ_CHUNKS = 16  # 1 MiB of plaintext per step


def read_exact(source, length: int) -> bytes:
    """`length` bytes from a file-like object, fewer only where it ends."""
    data = source.read(length)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = source.read(length - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def open_range(codec: Sealed, source, size: int, start: int, end: int, *, label: str = ""):
    """Plaintext bytes [start, end] (inclusive) of a sealed blob of `size` bytes.

    `source` is a file-like object positioned at the first chunk the range touches
    (`Sealed.chunk_offset(start // CHUNK)`). Yields bytes in steps of READ_CHUNKS chunks.
    A chunk that fails authentication (or is missing) raises Tampered, logged, before any
    byte of its step is yielded.
    """
    last = size // CHUNK
    index, last_needed = start // CHUNK, min(end // CHUNK, last)
    if size == 0:
        # The empty blob still has its one (empty, final) chunk: check it.
        _open_step(codec, read_exact(source, TAG), 0, 1, last, label)
        return
    first = True
    while index <= last_needed:
        count = min(READ_CHUNKS, last_needed - index + 1)
        length = count * SEALED_CHUNK
        if index + count - 1 == last:
            length -= CHUNK - size % CHUNK
        plain = _open_step(codec, read_exact(source, length), index, count, last, label)
        lo = start - index * CHUNK if first else 0
        hi = min(len(plain), end + 1 - index * CHUNK)
        yield plain if (lo, hi) == (0, len(plain)) else plain[lo:hi]
        first = False
        index += count


def _open_step(codec: Sealed, stored: bytes, index: int, count: int, last: int, label: str):
    """Open `count` chunks from `index` on, read in one piece: their plaintext, joined."""
    view = memoryview(stored)
    pieces, position = [], 0
    for chunk_index in range(index, index + count):
        final = chunk_index == last
        piece = view[position : position + SEALED_CHUNK]
        if len(piece) < TAG or (not final and len(piece) < SEALED_CHUNK):
            _report(label, chunk_index, "is missing or truncated")
            raise Tampered(f"{label}: chunk {chunk_index} is missing or truncated")
        try:
            pieces.append(codec.open(chunk_index, piece, final))
        except Tampered:
            _report(label, chunk_index, "failed authentication")
            raise
        position += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _report(label: str, index: int, what: str) -> None:
    log.error("sealed blob %s: chunk %d %s; refusing to serve it", label, index, what)
