"""Blob bodies read from gunicorn's socket (registry.bodies), against a live server:
every byte arrives, and the connection stays in step for the requests that follow."""

import base64
import hashlib
import json
import os
import socket

import pytest

pytestmark = pytest.mark.clients
DATA = os.urandom(3 * 1024 * 1024 + 17)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Connection:
    """One keep-alive connection speaking raw HTTP/1.1."""

    def __init__(self, registry):
        host, port = registry.host.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.file = self.sock.makefile("rb")
        self.auth = base64.b64encode(registry.alice.creds.encode()).decode()

    def head(self, method: str, path: str, extra: str = "") -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nHost: registry\r\nAuthorization: Basic {self.auth}\r\n"
            f"{extra}\r\n"
        ).encode()

    def response(self) -> tuple[int, dict, bytes]:
        status = int(self.file.readline().split()[1])
        headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self.file.readline().split(b";")[0], 16):
                body += self.file.read(size)
                self.file.readline()
            self.file.readline()
        else:
            body = self.file.read(int(headers.get("content-length", 0)))
        return status, headers, body

    def close(self):
        self.file.close()
        self.sock.close()


@pytest.fixture
def connection(live_registry):
    opened = Connection(live_registry)
    yield opened
    opened.close()


def start(connection, name: str) -> str:
    connection.sock.sendall(
        connection.head("POST", f"/v2/alice/{name}/blobs/uploads/", "Content-Length: 0\r\n")
    )
    status, headers, _ = connection.response()
    assert status == 202
    return headers["location"]


def chunked(data: bytes, sizes) -> bytes:
    out, position = [], 0
    for size in sizes:
        piece = data[position : position + size]
        out.append(f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n")
        position += size
    out.append(f"{len(data) - position:x}\r\n".encode() + data[position:] + b"\r\n")
    return b"".join(out) + b"0\r\nX-Trailer: yes\r\n\r\n"


def test_a_chunked_patch_in_odd_pieces_then_more_requests_on_the_connection(connection):
    location = start(connection, "chunked")
    body = chunked(DATA, [1, 70_000, 1_048_577, 3])
    head = connection.head("PATCH", location, "Transfer-Encoding: chunked\r\n")
    put = connection.head("PUT", f"{location}?digest={digest(DATA)}", "Content-Length: 0\r\n")
    connection.sock.sendall(head + body + put)  # the PUT pipelined right behind the body
    assert connection.response()[0] == 202
    assert connection.response()[0] == 201
    connection.sock.sendall(connection.head("GET", f"/v2/alice/chunked/blobs/{digest(DATA)}"))
    status, _, received = connection.response()
    assert (status, received) == (200, DATA)


def test_a_content_length_put_then_a_pipelined_request(connection):
    location = start(connection, "whole")
    put = connection.head(
        "PUT", f"{location}?digest={digest(DATA)}", f"Content-Length: {len(DATA)}\r\n"
    )
    connection.sock.sendall(put + DATA + connection.head("GET", "/v2/_catalog"))
    assert connection.response()[0] == 201
    status, _, body = connection.response()
    assert status == 200
    assert "repositories" in json.loads(body)


def test_a_malformed_chunked_body_is_refused(connection):
    location = start(connection, "broken")
    head = connection.head("PATCH", location, "Transfer-Encoding: chunked\r\n")
    connection.sock.sendall(head + b"zz\r\nnot hex\r\n0\r\n\r\n")
    status, _, body = connection.response()
    assert status == 400
    assert json.loads(body)["errors"][0]["code"] == "SIZE_INVALID"


@pytest.mark.parametrize("sent", [b"0123456789", b"0123"], ids=["longer", "shorter"])
def test_a_chunked_patch_of_another_length_than_its_content_range_is_416(connection, sent):
    location = start(connection, f"ranged-{len(sent)}")
    extra = "Transfer-Encoding: chunked\r\nContent-Range: 0-4\r\n"
    connection.sock.sendall(connection.head("PATCH", location, extra) + chunked(sent, []))
    status, headers, _ = connection.response()
    assert (status, headers["range"]) == (416, "0-0")
