"""A live Berth server and tiny images, for tests that drive real OCI clients and browsers.

One gunicorn serves the whole session from a fresh data directory. With REDIS_URL (CI), a
real Celery worker runs the catalog tasks from a queue of the session's own; without it,
tasks run eagerly in the server. When DATABASE_URL is set
(CI) the server gets a fresh PostgreSQL database, dropped afterwards; otherwise it uses
SQLite in the data directory. Images are built with umoci (no container engine needed):
one small layer with unique content, so every image has its own digest.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.cli import layout_manifest_digest, run
from tests.conftest import require_tool
from tests.pg import fresh_database

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 30.0
LOG_TAIL_LINES = 60

CREATE_USERS = """
import json, os
from django.contrib.auth import get_user_model
for username, password in json.loads(os.environ["BERTH_CLIENT_TEST_USERS"]).items():
    get_user_model().objects.create_user(username, password=password)
"""
CREATE_STAFF = """
import json, os
from django.contrib.auth import get_user_model
for username, password in json.loads(os.environ["BERTH_CLIENT_TEST_USERS"]).items():
    get_user_model().objects.create_superuser(username, password=password, is_staff=True)
"""


@dataclass(frozen=True)
class Account:
    username: str
    password: str

    @property
    def creds(self) -> str:
        """USERNAME:PASSWORD, as skopeo's and podman's --creds take it."""
        return f"{self.username}:{self.password}"


@dataclass(frozen=True)
class LiveRegistry:
    url: str  # http://127.0.0.1:PORT
    host: str  # 127.0.0.1:PORT, as image references spell it
    alice: Account
    bob: Account
    log: Path
    env: dict[str, str]  # the server's environment, for manage.py commands against it

    def get(self, path: str, *, account: Account | None = None) -> tuple[int, bytes]:
        """GET `path` with HTTP Basic credentials (or none): (status, body)."""
        request = urllib.request.Request(self.url + path)  # noqa: S310 (our http URL)
        if account is not None:
            pair = base64.b64encode(account.creds.encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our http URL)
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def api(
        self, method: str, path: str, body=None, *, account: Account | None = None
    ) -> tuple[int, dict]:
        """A REST API call with HTTP Basic credentials: (status, JSON body or {})."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if account is not None:
            pair = base64.b64encode(account.creds.encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our http URL)
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw.startswith(b"{") else {}

    def catalog(self, account: Account) -> list[str]:
        status, body = self.get("/v2/_catalog", account=account)
        assert status == 200, body
        return json.loads(body)["repositories"]

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> None:
    argv = [sys.executable, "manage.py", *args]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")


def wait_until_ready(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url + "/v2/", timeout=2).close()  # noqa: S310 (our http URL)
            return
        except urllib.error.HTTPError:  # 401 asks for credentials: the server is up
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer within {READY_TIMEOUT} s:\n{log.read_text()}")


@contextlib.contextmanager
def serve(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    argv = [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py"]
    # No control socket: gunicorn's default (~/.gunicorn/gunicorn.ctl) is shared by every
    # server the user runs, so a test server would take over a developer's `make run`.
    argv += ["--bind", f"127.0.0.1:{port}", "--no-control-socket", "gallery.wsgi"]
    with log.open("wb") as output:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", server, log)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def celery_worker(env: dict[str, str], log: Path) -> Iterator[None]:
    """A real Celery worker on the session's queue when a broker is configured."""
    if not env.get("REDIS_URL"):
        yield
        return
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "gallery",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "2",
        "--queues",
        env["BERTH_CELERY_QUEUE"],
        "--loglevel",
        "INFO",
    ]
    with log.open("wb") as output:
        worker = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@contextlib.contextmanager
def berth_server(
    data_dir: Path,
    accounts: list[Account],
    *,
    staff: Account | None = None,
    env_extra: dict[str, str] | None = None,
    worker: bool = True,
) -> Iterator[LiveRegistry]:
    """A Berth of its own under gunicorn (2 workers): a data directory, a fresh PostgreSQL
    database when DATABASE_URL is set, the `accounts` (the first two are its alice and bob),
    `staff` as a superuser, and (with REDIS_URL and `worker`) a Celery worker."""
    with berth_setup(data_dir, accounts, staff=staff, env_extra=env_extra) as env:
        port, log = free_port(), data_dir / "gunicorn.log"
        tasks = celery_worker(env, data_dir / "celery.log") if worker else contextlib.nullcontext()
        with serve(env, port, log), tasks:
            yield live_registry_at(port, accounts, log, env)


def live_registry_at(
    port: int, accounts: list[Account], log: Path, env: dict[str, str]
) -> LiveRegistry:
    return LiveRegistry(
        url=f"http://127.0.0.1:{port}",
        host=f"127.0.0.1:{port}",
        alice=accounts[0],
        bob=accounts[1],
        log=log,
        env=env,
    )


@contextlib.contextmanager
def berth_setup(
    data_dir: Path,
    accounts: list[Account],
    *,
    staff: Account | None = None,
    env_extra: dict[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """What berth_server runs its server on, without the server: the environment of a
    migrated database with the accounts (for a test that stops and starts the server)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "BERTH_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "gallery.settings",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_ACCESS_LOG": "-",
        # A queue of this server's own: no other worker on a shared Redis takes its tasks.
        "BERTH_CELERY_QUEUE": f"berth-test-{secrets.token_hex(6)}",
        "BERTH_CACHE_PREFIX": f"berth-test-{secrets.token_hex(6)}",
        # Pull counts reach the catalog within seconds (the default interval is 10 s).
        "BERTH_PULL_FLUSH_SECONDS": "1",
        # Tests read search counts right after their changes, on a server other tests push
        # to as well: a count cached for a minute (a new public repository does not end it)
        # made a "before" reading stale. The cache has tests of its own (tests/gallery).
        "BERTH_SEARCH_CACHE_SECONDS": "0",
        **(env_extra or {}),
    }
    admin_url = os.environ.get("DATABASE_URL", "")
    with (
        fresh_database(admin_url, "berth_clients")
        if admin_url
        else contextlib.nullcontext() as database_url
    ):
        if database_url:
            env["DATABASE_URL"] = database_url
        manage(env, "migrate", "--noinput")
        users = json.dumps({account.username: account.password for account in accounts})
        manage(env | {"BERTH_CLIENT_TEST_USERS": users}, "shell", "-c", CREATE_USERS)
        if staff is not None:
            users = json.dumps({staff.username: staff.password})
            manage(env | {"BERTH_CLIENT_TEST_USERS": users}, "shell", "-c", CREATE_STAFF)
        yield env


@pytest.fixture(scope="session")
def live_registry(tmp_path_factory) -> Iterator[LiveRegistry]:
    """Berth under gunicorn (2 workers) with two users, alice and bob, and nothing else."""
    alice = Account("alice", secrets.token_urlsafe(16))
    bob = Account("bob", secrets.token_urlsafe(16))
    with berth_server(tmp_path_factory.mktemp("berth-data"), [alice, bob]) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed client test shows the end of the server's log next to the client's output."""
    report = yield
    registry = getattr(item, "funcargs", {}).get("live_registry")
    if report.failed and isinstance(registry, LiveRegistry):
        report.sections.append(("berth server log (tail)", registry.log_tail()))
    return report


# -- the clients' surroundings ------------------------------------------------------------------


def make_client_env(base: Path) -> dict[str, str]:
    """Environment for client runs in `base`: its own HOME, configuration and auth files.

    As root, containers/image reads registries.conf only from CONTAINERS_REGISTRIES_CONF or
    /etc; the trust policy it takes from $HOME/.config/containers/policy.json first.
    """
    home = base / "home"
    config = home / ".config" / "containers"
    config.mkdir(parents=True)
    (config / "registries.conf").write_text("unqualified-search-registries = []\n")
    (config / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    (config / "containers.conf").write_text(
        '[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n'
    )
    (home / "auth.json").write_text('{"auths": {}}\n')  # podman insists that it exists
    for directory in ("run", "tmp"):
        (base / directory).mkdir(mode=0o700)
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_RUNTIME_DIR": str(base / "run"),
        "TMPDIR": str(base / "tmp"),
        "CONTAINERS_REGISTRIES_CONF": str(config / "registries.conf"),
        "CONTAINERS_CONF": str(config / "containers.conf"),
        "REGISTRY_AUTH_FILE": str(home / "auth.json"),
        "DOCKER_CONFIG": str(home / ".docker"),
        # No engine: the docker CLI must fall back to what it does on its own.
        "DOCKER_HOST": f"unix://{base}/no-docker-engine.sock",
    }


@pytest.fixture
def client_env(tmp_path) -> dict[str, str]:
    """Client environment of one test: nothing leaks between tests or to the machine."""
    return make_client_env(tmp_path)


# -- images -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    layout: Path
    tag: str
    digest: str  # of the image manifest
    architecture: str
    payload: str  # the content of /berth-test.txt, unique to this image

    @property
    def reference(self) -> str:
        """The image as skopeo's `oci:` transport names it."""
        return f"oci:{self.layout}:{self.tag}"


@pytest.fixture
def build_image(tmp_path, client_env) -> Callable[..., Image]:
    """Build a one-layer OCI image with umoci: build_image(architecture="arm64")."""
    require_tool("umoci")

    def build(*, architecture: str = "amd64", tag: str = "latest") -> Image:
        name = uuid.uuid4().hex
        layout, image = tmp_path / f"layout-{name}", f"{tmp_path}/layout-{name}:{tag}"
        payload = f"berth client test {name}\n"
        source = tmp_path / f"payload-{name}.txt"
        source.write_text(payload)
        run(["umoci", "init", "--layout", str(layout)], env=client_env)
        run(["umoci", "new", "--image", image], env=client_env)
        run(["umoci", "insert", "--image", image, str(source), "/berth-test.txt"], env=client_env)
        config = ["--config.cmd", "/bin/true", "--architecture", architecture, "--os", "linux"]
        run(["umoci", "config", "--image", image, *config], env=client_env)
        return Image(layout, tag, layout_manifest_digest(layout, tag), architecture, payload)

    return build


@pytest.fixture
def push_image(live_registry, client_env) -> Callable[..., str]:
    """Push an image as alice with skopeo: push_image(image, "alice/repo:tag") -> reference."""
    require_tool("skopeo")

    def push(image: Image, destination: str) -> str:
        reference = f"{live_registry.host}/{destination}"
        run(
            [
                "skopeo", "copy", "--dest-tls-verify=false",
                "--dest-creds", live_registry.alice.creds,
                image.reference, f"docker://{reference}",
            ],
            env=client_env,
        )  # fmt: skip
        return reference

    return push
