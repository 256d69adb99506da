"""The upstream client's HTTP: credentials never follow a redirect to another host."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry.upstream import http


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 and remembers the Authorization header each request carried, or, when the
    server has a `redirect_to`, answers 307 to it."""

    def do_GET(self):
        self.server.seen.append((self.headers["Host"], self.headers.get("Authorization")))
        if self.server.redirect_to and not self.path.startswith("/final"):
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to + "/final" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    started = []

    def start(redirect_to: str = ""):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        httpd.seen, httpd.redirect_to = [], redirect_to
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return httpd

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def get(url: str, **kwargs) -> bytes:
    response = http.request(
        "GET", url, headers={"Authorization": "Bearer secret"}, allow_private=True, **kwargs
    )
    try:
        return response.read(100)
    finally:
        response.close()


def test_the_authorization_header_is_dropped_on_a_redirect_to_another_host(server):
    cdn = server()
    origin = server(redirect_to=f"http://localhost:{cdn.server_port}")
    body = get(f"http://127.0.0.1:{origin.server_port}/v2/x/blobs/y", redirect_hosts=["localhost"])
    assert body == b"ok"
    assert origin.seen[0][1] == "Bearer secret"
    assert cdn.seen == [(f"localhost:{cdn.server_port}", None)]


def test_the_authorization_header_is_dropped_on_a_redirect_to_another_port(server):
    other = server()
    origin = server(redirect_to=f"http://127.0.0.1:{other.server_port}")
    assert get(f"http://127.0.0.1:{origin.server_port}/v2/x/blobs/y") == b"ok"
    assert other.seen[0][1] is None


def test_the_authorization_header_follows_a_redirect_on_the_same_server(server):
    origin = server(redirect_to="")
    origin.redirect_to = f"http://127.0.0.1:{origin.server_port}"
    assert get(f"http://127.0.0.1:{origin.server_port}/v2/x/blobs/y") == b"ok"
    assert [auth for _, auth in origin.seen] == ["Bearer secret", "Bearer secret"]
