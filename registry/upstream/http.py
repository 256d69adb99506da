"""HTTP for the upstream client: connections to checked addresses, redirects to allowed
hosts only, timeouts, and keep-alive connections reused.

Built on `http.client`: every connection is made to an address `addresses` allowed (the
name is never resolved a second time: no DNS rebinding between the check and the
connection), with TLS verified against the host name. A redirect is followed (GET and HEAD
only) when it stays on http(s), never goes from https to http, and leads to the host it
came from or to one of BERTH_UPSTREAM_REDIRECT_HOSTS; the Authorization header never
follows a redirect to another host or port (pre-signed URLs carry their own).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from . import addresses
from .errors import BadResponse, Refused, Unreachable

READ_SIZE = 1024 * 1024  # blob bodies are read in pieces of this size
REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
IDLE_SECONDS = 30.0  # a kept-alive connection unused this long is closed, not reused
IDLE_PER_HOST = 4


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float

    @classmethod
    def default(cls) -> Timeouts:
        return cls(settings.BERTH_UPSTREAM_CONNECT_TIMEOUT, settings.BERTH_UPSTREAM_READ_TIMEOUT)


def split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL; Refused for anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": an unclosed or invalid IPv6 literal
        raise Refused(f"not an http(s) URL: {url[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url[:200]!r}")
    if parts.username or parts.password:
        raise Refused("URLs with credentials in them are not used")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused(f"bad port in {url[:200]!r}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname.lower(), port, path


def host_allowed(host: str, origin: str, patterns: Iterable[str]) -> bool:
    """May a redirect from `origin` lead to `host`? The same host, or one of `patterns`
    ("*" for any host, "*.example.com" for its subdomains, or an exact name)."""
    host, origin = host.lower().rstrip("."), origin.lower().rstrip(".")
    if host == origin:
        return True
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class _Connection(http.client.HTTPConnection):
    """Plain HTTP to one checked address; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeouts: Timeouts) -> None:
        super().__init__(host, port, timeout=timeouts.read)
        self.address, self.timeouts = address, timeouts

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.address, self.port), self.timeouts.connect)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeouts.read)
        return sock

    def connect(self) -> None:
        self.sock = self._open()


class _TLSConnection(_Connection):
    """TLS to one checked address, verified against the host name."""

    context = ssl.create_default_context()

    def connect(self) -> None:
        self.sock = self.context.wrap_socket(self._open(), server_hostname=self.host)


_idle: dict[tuple, list[tuple[_Connection, float]]] = {}
_idle_lock = threading.Lock()


def _checkout(key: tuple) -> _Connection | None:
    now = time.monotonic()
    with _idle_lock:
        waiting = _idle.get(key, [])
        while waiting:
            connection, since = waiting.pop()
            if now - since < IDLE_SECONDS:
                return connection
            connection.close()
    return None


def _checkin(key: tuple, connection: _Connection) -> None:
    with _idle_lock:
        waiting = _idle.setdefault(key, [])
        if len(waiting) < IDLE_PER_HOST:
            waiting.append((connection, time.monotonic()))
            return
    connection.close()


def forget_connections() -> None:
    """Close every kept-alive connection (tests, and after settings change)."""
    with _idle_lock:
        for waiting in _idle.values():
            for connection, _ in waiting:
                connection.close()
        _idle.clear()


class Response:
    """An answer whose body is read on demand; `close()` hands its connection back."""

    def __init__(self, raw: http.client.HTTPResponse, connection, key, url: str) -> None:
        self.raw, self.connection, self.key, self.url = raw, connection, key, url
        self.status = raw.status
        self.headers = raw.headers
        self.received = 0

    def header(self, name: str) -> str:
        return self.raw.getheader(name) or ""

    @property
    def length(self) -> int | None:
        value = self.header("Content-Length")
        return int(value) if value.isascii() and value.isdigit() else None

    def read(self, limit: int) -> bytes:
        """The whole body, refused past `limit` bytes."""
        try:
            data = self.raw.read(limit + 1)
        except (OSError, http.client.HTTPException) as exc:
            self.close(broken=True)
            raise Unreachable(f"the answer from {self.url} broke off: {exc}") from None
        if len(data) > limit:
            self.close(broken=True)
            raise BadResponse(f"the answer from {self.url} is larger than {limit} bytes")
        self.received += len(data)
        self.close()
        return data

    def chunks(self, size: int = READ_SIZE) -> Iterator[bytes]:
        """The body in pieces (fresh bytes each); Unreachable if it breaks off early."""
        try:
            while True:
                try:
                    data = self.raw.read(size)
                except (OSError, http.client.HTTPException) as exc:
                    raise Unreachable(
                        f"the connection to {self.url} broke off after {self.received} bytes: "
                        f"{exc.__class__.__name__}"
                    ) from None
                if not data:
                    break
                self.received += len(data)
                yield data
        except BaseException:
            self.close(broken=True)
            raise
        self.close()

    def close(self, *, broken: bool = False) -> None:
        if self.connection is None:
            return
        connection, self.connection = self.connection, None
        reusable = not broken and self.raw.isclosed() and not self.raw.will_close
        if reusable:
            _checkin(self.key, connection)
        else:
            self.raw.close()
            connection.close()


def _connect(scheme, host, port, found, timeouts: Timeouts):
    last: Exception | None = None
    for address in found:
        kind = _TLSConnection if scheme == "https" else _Connection
        connection = kind(host, port, str(address), timeouts)
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            last = exc
            continue
        return connection, (scheme, host, port, str(address))
    raise Unreachable(f"cannot connect to {host}:{port}: {last}")


def _send_once(method, url, headers, body, *, allow_private, timeouts) -> Response:
    scheme, host, port, path = split(url)
    found = addresses.allowed_addresses(host, port, allow_private=allow_private)
    replayable = body is None or isinstance(body, bytes | bytearray)
    for attempt in (1, 2):
        reused, key = None, None
        if replayable and attempt == 1:
            for address in found:
                key = (scheme, host, port, str(address))
                reused = _checkout(key)
                if reused is not None:
                    break
        if reused is not None:
            connection = reused
        else:
            connection, key = _connect(scheme, host, port, found, timeouts)
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if reused is not None:  # a kept-alive connection the other side closed meanwhile
                continue
            if isinstance(exc, TimeoutError | socket.timeout):
                raise Unreachable(f"{host}:{port} did not answer in time") from None
            raise Unreachable(f"{method} {host}:{port} failed: {exc}") from None
        return Response(raw, connection, key, url)
    raise Unreachable(f"{method} {host}:{port} failed")  # pragma: no cover


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body=None,
    allow_private: bool = False,
    redirect_hosts: Iterable[str] = (),
    timeouts: Timeouts | None = None,
) -> Response:
    """One HTTP exchange, following allowed redirects for GET and HEAD."""
    headers = dict(headers or {})
    timeouts = timeouts or Timeouts.default()
    origin = split(url)[1]
    for _ in range(MAX_REDIRECTS + 1):
        response = _send_once(
            method, url, headers, body, allow_private=allow_private, timeouts=timeouts
        )
        location = response.header("Location")
        if response.status not in REDIRECTS or method not in ("GET", "HEAD") or not location:
            return response
        with contextlib.suppress(Exception):
            response.read(64 * 1024)
        response.close(broken=True)
        target = urljoin(url, location)
        scheme, host, _, _ = split(target)
        if url.startswith("https:") and scheme != "https":
            raise Refused(f"a redirect from https to {scheme} ({host}) is not followed")
        if not host_allowed(host, origin, redirect_hosts):
            raise Refused(
                f"a redirect to {host} is not followed: it is not the registry's host nor in "
                "BERTH_UPSTREAM_REDIRECT_HOSTS"
            )
        if split(target)[1:3] != split(url)[1:3]:  # another host or port: another server
            headers.pop("Authorization", None)
        url = target
    raise Refused(f"more than {MAX_REDIRECTS} redirects")
