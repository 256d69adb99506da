"""Real peers on loopback, for the upstream client, the cache and replication.

- `docker_registry()`: Debian's `docker-registry` (CNCF distribution 2.8) in a process of
  its own: anonymous, behind a token server (`TokenServer`: JWTs signed with a key whose
  self-signed certificate the registry trusts), or with htpasswd (Basic). Two of them may
  share one storage directory: tests push through an anonymous one and read through the
  one under test.
- `FaultProxy`: a small HTTP proxy in front of a peer that answers 429 or 500, stalls,
  corrupts a body, drops the connection mid-body or redirects, on the requests a test
  names, and records every request it saw.
- `push_image()`, `push_index()`: content pushed over plain HTTP, as a client would.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.client
import json
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import require_tool

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- docker-registry ----------------------------------------------------------------------------


@dataclass
class Peer:
    url: str  # http://127.0.0.1:PORT
    root: Path  # its storage directory
    log: Path
    process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
{auth}"""


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    parts = urllib.parse.urlsplit(url)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited:\n{log.read_text(errors='replace')}")
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            connection.request("GET", "/v2/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"docker-registry did not answer on {url}")


@contextlib.contextmanager
def docker_registry(workdir: Path, *, root: Path | None = None, auth: str = "") -> Iterator[Peer]:
    """docker-registry on a free loopback port; `auth` is the YAML of its `auth:` section."""
    require_tool("docker-registry")
    name = f"registry-{uuid.uuid4().hex[:8]}"
    root = root or workdir / f"{name}-data"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / f"{name}.yml"
    # The http secret is shared by registries serving one storage directory (uploads).
    secret = hashlib.sha256(str(root).encode()).hexdigest()
    config.write_text(CONFIG.format(root=root, port=port, secret=secret, auth=auth))
    log = workdir / f"{name}.log"
    binary = shutil.which("docker-registry")
    with log.open("wb") as output:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=output, stderr=output)
    peer = Peer(f"http://127.0.0.1:{port}", root, log, process)
    try:
        _wait_for(peer.url, process, log)
        yield peer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def htpasswd_auth(workdir: Path, username: str, password: str) -> str:
    """The `auth:` section for Basic authentication (bcrypt, as docker-registry requires)."""
    require_tool("htpasswd")
    path = workdir / f"htpasswd-{uuid.uuid4().hex[:8]}"
    line = subprocess.run(
        ["htpasswd", "-Bbn", username, password], capture_output=True, text=True, check=True
    ).stdout.strip()
    path.write_text(line + "\n")
    return f"auth:\n  htpasswd:\n    realm: test\n    path: {path}\n"


# -- a token server -----------------------------------------------------------------------------


class TokenServer:
    """Docker token authentication for docker-registry: `GET /token?service&scope` answers
    a JWT (RS256, with its certificate in `x5c`). With Basic credentials matching `users`
    it grants every action asked for; anonymous callers get pull (if `anonymous_pull`)."""

    service, issuer = "test-registry", "test-issuer"

    def __init__(self, workdir: Path, users: dict[str, str], *, anonymous_pull: bool = False):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.users, self.anonymous_pull = users, anonymous_pull
        self.requests: list[dict] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = workdir / f"token-{uuid.uuid4().hex[:8]}.pem"
        self.bundle.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(
            self.certificate.public_bytes(serialization.Encoding.DER)
        ).decode()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def auth_config(self) -> str:
        return (
            "auth:\n  token:\n"
            f"    realm: {self.url}\n    service: {self.service}\n"
            f"    issuer: {self.issuer}\n    rootcertbundle: {self.bundle}\n"
        )

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def issue(self, query: dict, authorization: str) -> tuple[int, dict]:
        import jwt

        user = None
        if authorization.lower().startswith("basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            username, _, password = pair.partition(":")
            if self.users.get(username) != password:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
            user = username
        access = []
        for scope in query.get("scope", []):
            for part in scope.split(" "):
                kind, _, rest = part.partition(":")
                name, _, actions = rest.rpartition(":")
                wanted = [a for a in actions.split(",") if a]
                granted = (
                    wanted if user else [a for a in wanted if a == "pull" and self.anonymous_pull]
                )
                if granted:
                    access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 300,
            "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access,
        }  # fmt: skip
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": [self._x5c]})
        return 200, {"token": token, "access_token": token, "expires_in": 300}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                authorization = self.headers.get("Authorization", "")
                server.requests.append({"query": query, "authorization": authorization})
                status, body = server.issue(query, authorization)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


# -- a fault-injecting proxy --------------------------------------------------------------------


@dataclass
class Fault:
    """What the proxy does to requests matching `method` and `path` (a regex), `times` times
    (None: every time): answer `status` (with `headers`), wait `delay` seconds first, flip a
    byte of the body (`corrupt`), drop the connection after `drop_after` body bytes (or
    stall there for `stall` seconds), or `redirect` to a URL."""

    path: str
    method: str = "GET"
    times: int | None = 1
    status: int | None = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    corrupt: bool = False
    drop_after: int | None = None
    stall: float = 0.0
    redirect: str | None = None
    stall_request_after: int | None = None  # read this much of the request body, then stall
    started: threading.Event = field(default_factory=threading.Event)  # it applied once


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-answer are part of the tests, not errors."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer"}


class FaultProxy:
    """An HTTP proxy to `target` (a peer's URL) that injects `Fault`s."""

    def __init__(self, target: str) -> None:
        parts = urllib.parse.urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Authorization)
        self._lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, path, _ in self.requests if m == method and re.search(pattern, path))

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path, ""))
            for fault in self.faults:
                if fault.method == method and re.search(fault.path, path):
                    if fault.times is not None:
                        if fault.times <= 0:
                            continue
                        fault.times -= 1
                    return fault
        return None

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self):
                fault = proxy._fault_for(self.command, self.path)
                with proxy._lock:
                    method, path, _ = proxy.requests[-1]
                    proxy.requests[-1] = (method, path, self.headers.get("Authorization", ""))
                length = int(self.headers.get("Content-Length") or 0)
                if fault and fault.stall_request_after is None:
                    fault.started.set()
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and (fault.status or fault.redirect):
                    self._drain(length)
                    status = fault.status or 307
                    headers = dict(fault.headers)
                    if fault.redirect:
                        headers["Location"] = fault.redirect
                    body = json.dumps(
                        {"errors": [{"code": "UNKNOWN", "message": f"injected {status}"}]}
                    ).encode()
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                try:
                    self._forward(upstream, fault, length)
                except (ConnectionError, TimeoutError):
                    self.close_connection = True  # the client (or the peer) went away
                finally:
                    upstream.close()

            def _forward(self, upstream, fault, length: int) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for key, value in headers.items():
                    upstream.putheader(key, value)
                upstream.endheaders()
                remaining, forwarded = length, 0
                while remaining > 0:
                    data = self.rfile.read(min(remaining, 64 * 1024))
                    if not data:
                        break
                    upstream.send(data)
                    remaining -= len(data)
                    forwarded += len(data)
                    cut = fault.stall_request_after if fault else None
                    if cut is not None and forwarded >= cut:
                        fault.started.set()
                        time.sleep(fault.stall)
                        self.close_connection = True
                        return
                answer = upstream.getresponse()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.end_headers()
                sent = 0
                while self.command != "HEAD":
                    data = answer.read(64 * 1024)
                    if not data:
                        break
                    if fault and fault.corrupt and sent == 0:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    cut = fault.drop_after if fault else None
                    if cut is not None and sent + len(data) > cut:
                        self.wfile.write(data[: cut - sent])
                        self.wfile.flush()
                        if fault.stall:
                            time.sleep(fault.stall)
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(data)
                    sent += len(data)

            def _drain(self, length: int) -> None:
                while length > 0:
                    data = self.rfile.read(min(length, 1 << 20))
                    if not data:
                        break
                    length -= len(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _proxy

            def log_message(self, *args):
                pass

        return Handler


# -- pushing content ----------------------------------------------------------------------------


@dataclass
class Pushed:
    digest: str
    body: bytes
    media_type: str
    blobs: dict[str, bytes]  # digest -> content (config and layers)


def _request(url: str, method: str, path: str, body=b"", headers=None, auth: str = ""):
    """One request; `auth` is an Authorization header's value."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = auth
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def push_blob(url: str, repository: str, data: bytes, auth: str = "") -> str:
    digest = sha256(data)
    response, body = _request(url, "POST", f"/v2/{repository}/blobs/uploads/", auth=auth)
    assert response.status == 202, (response.status, body)
    location = urllib.parse.urlsplit(response.getheader("Location"))
    path = location.path + "?" + (location.query + "&" if location.query else "")
    path += urllib.parse.urlencode({"digest": digest})
    headers = {"Content-Type": "application/octet-stream"}
    response, body = _request(url, "PUT", path, data, headers, auth=auth)
    assert response.status == 201, (response.status, body)
    return digest


def push_manifest(url, repository, reference, body: bytes, media_type, auth: str = "") -> str:
    response, answer = _request(
        url,
        "PUT",
        f"/v2/{repository}/manifests/{reference}",
        body,
        {"Content-Type": media_type},
        auth=auth,
    )
    assert response.status == 201, (response.status, answer)
    return response.getheader("Docker-Content-Digest") or sha256(body)


def image(layers: list[bytes], architecture: str = "amd64", **fields) -> tuple[bytes, dict]:
    """(manifest body, blobs) of an OCI image of `layers`."""
    config = json.dumps(
        {"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}, **fields}
    ).encode()
    blobs = {sha256(config): config, **{sha256(layer): layer for layer in layers}}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
            for layer in layers
        ],
    }
    return json.dumps(manifest).encode(), blobs


def push_image(
    url: str,
    repository: str,
    tag: str | None,
    layers: list[bytes],
    architecture: str = "amd64",
    auth: str = "",
    **fields,
) -> Pushed:
    body, blobs = image(layers, architecture, **fields)
    for data in blobs.values():
        push_blob(url, repository, data, auth)
    digest = push_manifest(url, repository, tag or sha256(body), body, OCI_MANIFEST, auth)
    return Pushed(digest, body, OCI_MANIFEST, blobs)


def push_index(url: str, repository: str, tag: str, children: dict[str, Pushed]) -> Pushed:
    """An index of `children` (architecture -> a pushed image)."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.body),
                "platform": {"architecture": architecture, "os": "linux"},
            }
            for architecture, child in children.items()
        ],
    }
    body = json.dumps(index).encode()
    digest = push_manifest(url, repository, tag, body, OCI_INDEX)
    return Pushed(digest, body, OCI_INDEX, {})


def get(url: str, path: str, headers=None) -> tuple[int, dict, bytes]:
    response, body = _request(url, "GET", path, headers=headers)
    return response.status, dict(response.getheaders()), body


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_upstream_state():
    """No token, challenge or kept-alive connection leaks from one test to the next."""
    from registry.upstream import client, http

    client.forget_tokens()
    http.forget_connections()
    yield
    http.forget_connections()


@pytest.fixture(scope="session")
def peer(tmp_path_factory) -> Iterator[Peer]:
    """An anonymous docker-registry for the session (tests use repositories of their own)."""
    with docker_registry(tmp_path_factory.mktemp("peer")) as started:
        yield started


@dataclass
class TokenPeer:
    """docker-registry behind a token server; `writer` is an anonymous registry on the same
    storage, through which tests put content there."""

    registry: Peer
    tokens: TokenServer
    writer: Peer
    username: str
    password: str


@pytest.fixture(scope="session")
def token_peer(tmp_path_factory) -> Iterator[TokenPeer]:
    workdir = tmp_path_factory.mktemp("token-peer")
    username, password = "puller", secrets.token_urlsafe(12)
    with (
        TokenServer(workdir, {username: password}, anonymous_pull=False) as tokens,
        docker_registry(workdir, auth=tokens.auth_config()) as registry,
        docker_registry(workdir, root=registry.root) as writer,
    ):
        yield TokenPeer(registry, tokens, writer, username, password)


@dataclass
class BasicPeer:
    registry: Peer
    writer: Peer
    username: str
    password: str


@pytest.fixture(scope="session")
def basic_peer(tmp_path_factory) -> Iterator[BasicPeer]:
    workdir = tmp_path_factory.mktemp("basic-peer")
    username, password = "basic-user", secrets.token_urlsafe(12)
    auth = htpasswd_auth(workdir, username, password)
    with (
        docker_registry(workdir, auth=auth) as registry,
        docker_registry(workdir, root=registry.root) as writer,
    ):
        yield BasicPeer(registry, writer, username, password)


@pytest.fixture
def proxy(peer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session's anonymous peer."""
    with FaultProxy(peer.url) as started:
        yield started


def unique(prefix: str = "test") -> str:
    """A repository name no other test uses."""
    return f"{prefix}/r{uuid.uuid4().hex[:12]}"
