"""Rate limits hold across web processes: two gunicorn servers sharing Redis count together."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import urllib.error
import urllib.request

import pytest

from tests.conftest import IN_CI
from tests.live import CREATE_USERS, free_port, manage, serve
from tests.pg import fresh_database

pytestmark = pytest.mark.clients
LIMIT = 5


@pytest.fixture
def two_servers(tmp_path):
    """(url_a, url_b): two servers on one PostgreSQL database and one Redis."""
    if not (os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL")):
        reason = "needs REDIS_URL and DATABASE_URL: two processes share their limits there"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "BERTH_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "gallery.settings",
        "GUNICORN_WORKERS": "1",
        "BERTH_RATELIMIT_ANONYMOUS_PULLS": f"{LIMIT}/hour",
        "BERTH_CELERY_QUEUE": f"berth-test-{secrets.token_hex(6)}",
        # Keys of its own in the shared Redis: the limits of other runs stay apart.
        "BERTH_CACHE_PREFIX": f"berth-test-{secrets.token_hex(6)}",
    }
    with fresh_database(os.environ["DATABASE_URL"], "berth_limits") as database_url:
        env["DATABASE_URL"] = database_url
        manage(env, "migrate", "--noinput")
        users = json.dumps({"alice": "a-long-passphrase-42"})
        manage(env | {"BERTH_CLIENT_TEST_USERS": users}, "shell", "-c", CREATE_USERS)
        ports = free_port(), free_port()
        with contextlib.ExitStack() as stack:
            for port in ports:
                stack.enter_context(serve(env, port, tmp_path / f"gunicorn-{port}.log"))
            yield tuple(f"http://127.0.0.1:{port}" for port in ports)


def call(method: str, url: str, body: bytes = b"", headers: dict | None = None):
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our http URL)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_anonymous_pulls_are_limited_across_two_processes(two_servers):
    import base64

    first, second = two_servers
    auth = {"Authorization": "Basic " + base64.b64encode(b"alice:a-long-passphrase-42").decode()}
    config = b'{"architecture": "amd64", "os": "linux"}'
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    status, _, body = call(
        "POST", f"{first}/v2/alice/app/blobs/uploads/?digest={digest}", config, auth
    )
    assert status == 201, body
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest,
                   "size": len(config)},
        "layers": [],
    }).encode()  # fmt: skip
    headers = {**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    status, _, body = call("PUT", f"{first}/v2/alice/app/manifests/v1", manifest, headers)
    assert status == 201, body

    statuses = []
    for i in range(LIMIT + 1):
        server = (first, second)[i % 2]
        status, headers, _ = call("GET", f"{server}/v2/alice/app/manifests/v1")
        statuses.append(status)
    assert statuses == [200] * LIMIT + [429]
    assert int(headers["Retry-After"]) > 0
    assert headers["RateLimit-Remaining"] == "0"
