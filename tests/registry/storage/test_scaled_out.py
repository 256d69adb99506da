"""The scaled-out form: two web servers and a worker on PostgreSQL, Redis and S3 (moto), with
no disk shared between them. Pushes to one are pulled from the other, chunked uploads
spread over both, a web process killed mid-upload loses nothing that was stored.

Runs only with DATABASE_URL and REDIS_URL (CI sets both).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.cli import run
from tests.conftest import require_tool
from tests.live import Account, celery_worker, free_port, manage, serve, wait_until_ready
from tests.pg import fresh_database
from tests.s3 import moto_server

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="the scaled-out form needs DATABASE_URL and REDIS_URL (CI sets both)",
    ),
]
ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024


@dataclass
class Web:
    port: int
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Cluster:
    webs: list[Web]
    alice: Account
    env: dict[str, str]

    def request(self, web: Web, method: str, path: str, body=b"", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
        auth = base64.b64encode(self.alice.creds.encode()).decode()
        try:
            connection.request(
                method,
                path,
                body=body,
                headers={"Authorization": f"Basic {auth}", **(headers or {})},
            )
            response = connection.getresponse()
            return response, response.read()
        finally:
            connection.close()


def start_web(stack, env: dict, tmp: Path, name: str) -> Web:
    """A gunicorn with a data directory of its own: no disk shared with the other one."""
    data_dir = tmp / name
    data_dir.mkdir()
    own = env | {"BERTH_DATA_DIR": str(data_dir)}
    port, log = free_port(), data_dir / "gunicorn.log"
    stack.enter_context(serve(own, port, log))
    return Web(port, log)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    alice = Account("alice", secrets.token_urlsafe(16))
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(moto_server(tmp / "moto.log"))
        database_url = stack.enter_context(
            fresh_database(os.environ["DATABASE_URL"], "berth_cluster")
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env |= moto.environment() | {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "gallery.settings",
            "GUNICORN_WORKERS": "2",
            "BERTH_DATA_DIR": str(tmp / "admin"),
            "BERTH_S3_BUCKET": moto.new_bucket(),
            "BERTH_S3_ENDPOINT_URL": moto.url,
            "BERTH_MASTER_KEY": secrets.token_urlsafe(40),
            "BERTH_UPLOAD_LEASE_SECONDS": "3",
            "BERTH_CELERY_QUEUE": f"berth-cluster-{secrets.token_hex(6)}",
        }
        manage(env, "migrate", "--noinput")
        users = json.dumps({alice.username: alice.password})
        create = (
            "import json, os\nfrom django.contrib.auth import get_user_model\n"
            "for u, p in json.loads(os.environ['USERS']).items():\n"
            "    get_user_model().objects.create_user(u, password=p)\n"
        )
        manage(env | {"USERS": users}, "shell", "-c", create)
        webs = [start_web(stack, env, tmp, name) for name in ("web-a", "web-b")]
        stack.enter_context(
            celery_worker(env | {"BERTH_DATA_DIR": str(tmp / "admin")}, tmp / "celery.log")
        )
        yield Cluster(webs, alice, env)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_blob_pushed_to_one_server_is_pulled_from_the_other(cluster):
    a, b = cluster.webs
    data = os.urandom(9 * MIB)
    response, _ = cluster.request(
        a, "POST", f"/v2/alice/shared/blobs/uploads/?digest={digest_of(data)}", data
    )
    assert response.status == 201
    response, body = cluster.request(b, "GET", f"/v2/alice/shared/blobs/{digest_of(data)}")
    assert (response.status, body == data) == (200, True)


def test_a_chunked_upload_spread_over_both_servers(cluster):
    a, b = cluster.webs
    data = os.urandom(12 * MIB + 5)
    response, _ = cluster.request(a, "POST", "/v2/alice/spread/blobs/uploads/")
    location = response.getheader("Location")
    pieces = [(0, 5 * MIB), (5 * MIB, 11 * MIB), (11 * MIB, len(data))]
    for (first, end), web in zip(pieces, [b, a, b], strict=True):
        headers = {
            "Content-Range": f"{first}-{end - 1}",
            "Content-Type": "application/octet-stream",
        }
        response, body = cluster.request(web, "PATCH", location, data[first:end], headers)
        assert response.status == 202, body
    response, _ = cluster.request(a, "PUT", f"{location}?digest={digest_of(data)}")
    assert response.status == 201
    response, body = cluster.request(b, "GET", f"/v2/alice/spread/blobs/{digest_of(data)}")
    assert body == data


def test_skopeo_pushes_to_one_server_and_pulls_from_the_other(
    cluster, build_image, client_env, tmp_path
):
    require_tool("skopeo")
    a, b = cluster.webs
    image = build_image()
    run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", cluster.alice.creds,
         image.reference, f"docker://{a.host}/alice/image:v1"],
        env=client_env,
    )  # fmt: skip
    run(
        ["skopeo", "copy", "--src-tls-verify=false", "--src-creds", cluster.alice.creds,
         f"docker://{b.host}/alice/image:v1", f"oci:{tmp_path}/pulled:v1"],
        env=client_env,
    )  # fmt: skip
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.digest


def test_a_web_process_killed_mid_upload_loses_nothing_stored(cluster, tmp_path):
    a, b = cluster.webs
    data = os.urandom(24 * MIB)
    response, _ = cluster.request(b, "POST", "/v2/alice/killed/blobs/uploads/")
    location = response.getheader("Location")
    first = 6 * MIB
    response, _ = cluster.request(
        b, "PATCH", location, data[:first], {"Content-Range": f"0-{first - 1}"}
    )
    assert response.status == 202
    # A third server takes the next chunk and dies half-way through it.
    env = cluster.env | {"BERTH_DATA_DIR": str(tmp_path), "GUNICORN_WORKERS": "1"}
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--no-control-socket", "gallery.wsgi"]  # fmt: skip
    log = (tmp_path / "victim.log").open("wb")
    victim = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", victim, tmp_path / "victim.log")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        auth = base64.b64encode(cluster.alice.creds.encode()).decode()
        connection.putrequest("PATCH", location)
        connection.putheader("Authorization", f"Basic {auth}")
        connection.putheader("Content-Range", f"{first}-{len(data) - 1}")
        connection.putheader("Content-Length", str(len(data) - first))
        connection.endheaders()
        connection.send(data[first : first + 9 * MIB])  # more than a part: some reached S3
        time.sleep(1)
        _kill_tree(victim.pid)
        connection.close()
    finally:
        victim.kill()
        victim.wait()
        log.close()
    # The session still says what was stored for sure; nothing under the digest yet.
    response, _ = cluster.request(a, "HEAD", f"/v2/alice/killed/blobs/{digest_of(data)}")
    assert response.status == 404
    deadline = time.monotonic() + 30
    while True:  # until the dead request's lease runs out (BERTH_UPLOAD_LEASE_SECONDS)
        response, _ = cluster.request(a, "GET", location)
        offset = int(response.getheader("Range").split("-")[1]) + 1
        headers = {"Content-Range": f"{offset}-{len(data) - 1}"}
        try:
            response, body = cluster.request(a, "PATCH", location, data[offset:], headers)
        except (BrokenPipeError, ConnectionResetError):  # answered 416 before the body
            response = None
        if (response and response.status == 202) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert response.status == 202, body
    assert offset == first
    response, _ = cluster.request(b, "PUT", f"{location}?digest={digest_of(data)}")
    assert response.status == 201
    response, body = cluster.request(a, "GET", f"/v2/alice/killed/blobs/{digest_of(data)}")
    assert body == data


def _kill_tree(pid: int) -> None:
    """SIGKILL the gunicorn master and its workers: nothing gets to clean up."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_garbage_collection_runs_on_the_worker(cluster):
    a, _ = cluster.webs
    data = os.urandom(1000)
    cluster.request(a, "POST", f"/v2/alice/gc/blobs/uploads/?digest={digest_of(data)}", data)
    argv = [sys.executable, "-m", "celery", "-A", "gallery", "call",
            "registry.storage.tasks.collect_garbage", "--args", "[0]",
            "--queue", cluster.env["BERTH_CELERY_QUEUE"]]  # fmt: skip
    subprocess.run(argv, cwd=ROOT, env=cluster.env, check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response, _ = cluster.request(a, "HEAD", f"/v2/alice/gc/blobs/{digest_of(data)}")
        if response.status == 404:
            break
        time.sleep(0.5)
    assert response.status == 404


def test_concurrent_pushes_of_one_blob_through_both_servers_store_it_once(cluster):
    a, b = cluster.webs
    data = os.urandom(6 * MIB)
    answers = []

    def push(web, name):
        response, _ = cluster.request(
            web, "POST", f"/v2/alice/{name}/blobs/uploads/?digest={digest_of(data)}", data
        )
        answers.append(response.status)

    threads = [
        threading.Thread(target=push, args=(w, f"same{i}")) for i, w in enumerate([a, b, a, b])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [201] * 4
    for i, web in enumerate([b, a, b, a]):
        _, body = cluster.request(web, "GET", f"/v2/alice/same{i}/blobs/{digest_of(data)}")
        assert body == data


@contextlib.contextmanager
def database_down(database_url: str):
    """What a PostgreSQL restart does to Berth: every connection to its database is cut,
    and new ones are refused until the server is back. (Done to the test's own database, so
    that the machine's server and everything else on it keep running.)"""
    import urllib.parse

    import psycopg

    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    admin = urllib.parse.urlsplit(database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        try:
            yield
        finally:
            connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_postgresql_restarted_mid_push_loses_nothing(cluster):
    """The client gets an error while the database is away (never a half-written blob), the
    upload goes on afterwards from what was stored, and what was stored before is intact."""
    a, b = cluster.webs
    before = os.urandom(3 * MIB)
    response, _ = cluster.request(
        a, "POST", f"/v2/alice/restart/blobs/uploads/?digest={digest_of(before)}", before
    )
    assert response.status == 201
    data = os.urandom(12 * MIB)
    response, _ = cluster.request(a, "POST", "/v2/alice/restart/blobs/uploads/")
    location = response.getheader("Location")
    half = 6 * MIB
    response, _ = cluster.request(
        a, "PATCH", location, data[:half], {"Content-Range": f"0-{half - 1}"}
    )
    assert response.status == 202
    with database_down(cluster.env["DATABASE_URL"]):
        for web in (a, b):
            headers = {"Content-Range": f"{half}-{len(data) - 1}"}
            try:
                response, body = cluster.request(web, "PATCH", location, data[half:], headers)
                assert response.status == 503, body  # an error the client retries
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered (an error) before the body was sent: as good
            response, body = cluster.request(
                web, "GET", f"/v2/alice/restart/blobs/{digest_of(data)}"
            )
            assert response.status == 503
            assert response.getheader("Retry-After") == "5"
            assert json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
            response, body = cluster.request(web, "GET", "/api/v1/repositories/alice/restart")
            assert response.status == 503
            assert json.loads(body)["error"]["code"] == "unavailable"
            response, body = cluster.request(web, "GET", "/r/alice/restart")
            assert response.status == 503
            assert b"unavailable for a moment" in body
    deadline = time.monotonic() + 30
    while True:  # the session's lease taken by the failed request runs out
        response, _ = cluster.request(b, "GET", location)
        assert response.status == 204
        offset = int(response.getheader("Range").split("-")[1]) + 1
        headers = {"Content-Range": f"{offset}-{len(data) - 1}"}
        try:
            response, body = cluster.request(b, "PATCH", location, data[offset:], headers)
        except (BrokenPipeError, ConnectionResetError):
            response = None
        if (response and response.status == 202) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert response.status == 202, body
    response, _ = cluster.request(a, "PUT", f"{location}?digest={digest_of(data)}")
    assert response.status == 201
    for web in (a, b):
        _, body = cluster.request(web, "GET", f"/v2/alice/restart/blobs/{digest_of(data)}")
        assert body == data
        _, body = cluster.request(web, "GET", f"/v2/alice/restart/blobs/{digest_of(before)}")
        assert body == before
