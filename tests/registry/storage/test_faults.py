"""Faults of the object store: S3 answering 500s (a tiny proxy in front of moto).

The client sees an error or the request is retried; nothing half-written is ever served;
nothing already stored is lost.
"""

import http.client
import http.server
import os
import threading
from collections.abc import Callable

import pytest

from registry.models import Blob, Upload
from registry.storage import blobs, gc
from tests.oci import sha256

pytestmark = pytest.mark.django_db
MIB = 1024 * 1024
BIG = os.urandom(10 * MIB)


class Faults:
    """Which requests the proxy answers with 500 instead of forwarding them."""

    def __init__(self) -> None:
        self.rule: Callable[[str, str], bool] | None = None
        self.remaining = 0
        self.failed = 0
        self.lock = threading.Lock()

    def fail(self, rule: Callable[[str, str], bool], times: int = 10**9) -> None:
        with self.lock:
            self.rule, self.remaining = rule, times

    def heal(self) -> None:
        self.fail(lambda method, path: False, 0)

    def hit(self, method: str, path: str) -> bool:
        with self.lock:
            if self.rule and self.remaining and self.rule(method, path):
                self.remaining -= 1
                self.failed += 1
                return True
            return False


@pytest.fixture
def failing_s3(moto, settings):
    """Blobs on moto behind a proxy that answers 500 when told to."""
    faults = Faults()
    upstream = moto.url.removeprefix("http://")

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if faults.hit(self.command, self.path):
                message = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                self.send_response(500)
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
                return
            connection = http.client.HTTPConnection(upstream, timeout=60)
            connection.request(self.command, self.path, body=body, headers=dict(self.headers))
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy_url = f"http://127.0.0.1:{server.server_address[1]}"
    options = moto.storage_options(moto.new_bucket())
    options["endpoint_url"] = proxy_url
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield faults
    server.shutdown()
    server.server_close()


def upload_parts(method, path):
    return method == "PUT" and "partNumber=" in path


def writes(method, path):
    return method in {"PUT", "POST"}


def test_a_few_500s_are_retried_and_the_push_succeeds(as_alice, failing_s3):
    failing_s3.fail(upload_parts, times=2)
    digest = as_alice.push_blob("alice/app", BIG)
    assert failing_s3.failed == 2
    assert blobs.verify(Blob.objects.get(digest=digest))


def test_a_store_that_keeps_failing_is_an_error_and_leaves_nothing_visible(as_alice, failing_s3):
    kept = as_alice.push_blob("alice/app", BIG[: 2 * MIB])
    as_alice.http.raise_request_exception = False
    failing_s3.fail(writes)
    response = as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(BIG)}", BIG)
    assert response.status_code == 500
    failing_s3.heal()
    assert as_alice.head(f"/v2/alice/app/blobs/{sha256(BIG)}").status_code == 404
    assert not Blob.objects.filter(digest=sha256(BIG)).exists()
    assert blobs.verify(Blob.objects.get(digest=kept))  # nothing stored is lost


def test_a_chunked_session_survives_a_failed_chunk(as_alice, failing_s3):
    as_alice.http.raise_request_exception = False
    location = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")["Location"]
    half = len(BIG) // 2
    headers = {"Content-Range": f"0-{half - 1}"}
    assert as_alice.request("PATCH", location, BIG[:half], headers=headers).status_code == 202
    failing_s3.fail(writes)
    headers = {"Content-Range": f"{half}-{len(BIG) - 1}"}
    assert as_alice.request("PATCH", location, BIG[half:], headers=headers).status_code == 500
    failing_s3.heal()
    assert Upload.objects.get().offset == half  # what failed did not count
    assert as_alice.request("PATCH", location, BIG[half:], headers=headers).status_code == 202
    assert as_alice.request("PUT", f"{location}?digest={sha256(BIG)}").status_code == 201
    assert blobs.verify(Blob.objects.get(digest=sha256(BIG)))


def test_a_pull_while_the_store_fails_is_an_error_not_partial_content(as_alice, failing_s3):
    digest = as_alice.push_blob("alice/app", BIG)
    as_alice.http.raise_request_exception = False
    failing_s3.fail(lambda method, path: method == "GET")
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    with pytest.raises(Exception, match=r"500|InternalError"):
        b"".join(response.streaming_content)


def test_collection_with_a_failing_store_keeps_the_record_and_finishes_later(as_alice, failing_s3):
    digest = as_alice.push_blob("alice/app", b"unreferenced")
    failing_s3.fail(lambda method, path: method == "DELETE")
    with pytest.raises(Exception, match=r"500|InternalError"):
        gc.collect(grace=0)
    assert Blob.objects.filter(digest=digest).exists()
    failing_s3.heal()
    assert gc.collect(grace=0).blobs == [(digest, len(b"unreferenced"))]
