"""Blob upload bodies read straight from the socket, when the server is gunicorn.

gunicorn's body readers hand the application bytes through several in-memory buffers:
a blob is copied five or six times on its way in, which costs more CPU than hashing it.
Under gunicorn (its WSGI environ carries the socket), a blob body is read here instead,
with `recv_into` into one reused buffer: a `Content-Length` body, or a chunked one (the
transfer coding Go clients stream uploads with). Whatever gunicorn had already read
ahead is taken from its buffer first, whatever follows the body is handed back to it,
and its reader is told how much is left at every step: a request abandoned half-way is
drained by gunicorn as usual, so the connection stays in sync.

Anything else (another server, the test client, an unexpected reader) gets None and the
caller reads the body the ordinary way. Pieces are memoryviews of the reused buffer:
each is valid until the next one is requested.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from .errors import SizeInvalid

READ_SIZE = 256 * 1024
GATHER = 256 * 1024
LINE_MAX = 8190  # a chunk-size line, or a trailer line (gunicorn's limit_request_field_size)


def _parts(environ):
    body = environ.get("wsgi.input")
    sock = environ.get("gunicorn.socket")
    reader = getattr(body, "reader", None)
    # A LengthReader holds the connection's unreader; a ChunkedReader reaches it through
    # its request.
    unreader = getattr(reader, "unreader", None) or getattr(
        getattr(reader, "req", None), "unreader", None
    )
    buf = getattr(body, "buf", None)
    if sock is None or unreader is None or not isinstance(buf, io.BytesIO) or buf.tell():
        return None
    if not isinstance(getattr(unreader, "buf", None), io.BytesIO):
        return None
    return sock, reader, unreader


def _take_buffered(unreader) -> bytes:
    data = unreader.buf.getvalue()
    unreader.buf = io.BytesIO()
    return data


def _give_back(unreader, data) -> None:
    if data:
        unreader.buf = io.BytesIO()
        unreader.buf.write(bytes(data))


def content_length_body(environ, length: int) -> Iterator[memoryview] | None:
    parts = _parts(environ)
    if parts is None:
        return None
    sock, reader, unreader = parts
    if type(reader).__name__ != "LengthReader" or getattr(reader, "length", None) != length:
        return None
    return _length_body(sock, reader, unreader, length)


def _length_body(sock, reader, unreader, length: int) -> Iterator[memoryview]:
    buffered = _take_buffered(unreader)
    head, rest = buffered[:length], buffered[length:]
    _give_back(unreader, rest)
    remaining = length - len(head)
    reader.length = remaining
    if head:
        yield memoryview(head)
    buffer = memoryview(bytearray(min(READ_SIZE, max(remaining, 1))))
    while remaining:
        # Gather GATHER bytes (or what is left) per piece: fewer, larger steps downstream.
        filled, want = 0, min(len(buffer), remaining)
        while filled < min(GATHER, want):
            n = sock.recv_into(buffer[filled:want])
            if not n:
                raise SizeInvalid("the request body ended early")
            filled += n
            remaining -= n
            reader.length = remaining
        yield buffer[:filled]


def chunked_body(environ) -> Iterator[memoryview] | None:
    parts = _parts(environ)
    if parts is None:
        return None
    sock, reader, unreader = parts
    if type(reader).__name__ != "ChunkedReader" or not isinstance(
        getattr(reader, "buf", None), io.BytesIO
    ):
        return None
    if reader.buf.tell() or getattr(reader, "parser", None) is None:
        return None
    return _chunked(sock, reader, unreader)


class _Stream:
    """The socket read in large pieces into one buffer; chunk-size lines found in it, and
    runs of body bytes yielded as views of it (no copies)."""

    def __init__(self, sock, pending: bytes) -> None:
        self.sock = sock
        self.buffer = bytearray(max(READ_SIZE, len(pending)))
        self.view = memoryview(self.buffer)
        self.buffer[: len(pending)] = pending
        self.start, self.end = 0, len(pending)

    def _fill(self) -> None:
        """Read more from the socket; keep the unread bytes (moved to the front)."""
        if self.start:
            unread = self.end - self.start
            self.buffer[:unread] = self.view[self.start : self.end]
            self.start, self.end = 0, unread
        if self.end == len(self.buffer):
            raise SizeInvalid("malformed chunked body: line too long")
        n = self.sock.recv_into(self.view[self.end :])
        if not n:
            raise SizeInvalid("the request body ended early")
        self.end += n

    def line(self) -> bytes:
        while (found := self.buffer.find(b"\r\n", self.start, self.end)) < 0:
            if self.end - self.start > LINE_MAX:
                raise SizeInvalid("malformed chunked body: line too long")
            self._fill()
        line = bytes(self.view[self.start : found])
        self.start = found + 2
        return line

    def run(self, size: int) -> Iterator[memoryview]:
        """The next `size` bytes, in views valid until the next one is requested."""
        while size:
            if self.start == self.end:
                self.start = self.end = 0
                self._fill()
            take = min(size, self.end - self.start)
            yield self.view[self.start : self.start + take]
            self.start += take
            size -= take

    def rest(self) -> bytes:
        return bytes(self.view[self.start : self.end])


def _chunked(sock, reader, unreader) -> Iterator[memoryview]:
    stream = _Stream(sock, _take_buffered(unreader))
    # gunicorn must not parse the body itself now; if this generator stops half-way the
    # connection cannot be resynchronised, so it is closed instead (see below).
    reader.parser = None
    finished = False
    try:
        while True:
            size_text = stream.line().split(b";", 1)[0].strip()
            if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise SizeInvalid("malformed chunked body: invalid chunk size")
            size = int(size_text, 16)
            if size == 0:
                while stream.line():  # trailers, up to the empty line
                    pass
                break
            yield from stream.run(size)
            if stream.line() != b"":
                raise SizeInvalid("malformed chunked body: missing chunk terminator")
        finished = True
    finally:
        if finished:
            _give_back(unreader, stream.rest())
        else:
            # The rest of the body is still on the wire: this connection is done.
            _close_after_response(reader)


def _close_after_response(reader) -> None:
    req = getattr(reader, "req", None)
    if req is not None:
        req.must_close = True
