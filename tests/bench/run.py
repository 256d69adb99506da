"""Berth against the reference registry (distribution 2.8), in the same run: `make bench`.

Starts Berth under gunicorn (deploy/gunicorn.conf.py, a fresh data directory; a fresh
PostgreSQL database, dropped afterwards, when DATABASE_URL is set) and Debian's
`docker-registry` (filesystem storage, no auth), then measures both, interleaved:

- push of a large blob the way docker and skopeo do it (POST, one PATCH streamed chunked by
  curl, PUT ?digest=), a new blob each time; pull of it (curl into /dev/null); in MB/s;
- manifest GET (wrk) and HEAD (ab: wrk cannot do HEAD) by tag, and a tags list of 1,000
  tags (wrk), in requests/s, with the server's CPU time per request beside;
- the RSS of each server (gunicorn: master + workers, summed) sampled every 50 ms while the
  blobs move: its peak, and how much it grew.

Prints one table with the issue's bars; progress goes to stderr. Benchmarks report and tests
assert: the exit code is 0 whatever the numbers (1 only when the benchmark could not run).

    .venv/bin/python tests/bench/run.py            # full run, about 4 minutes
    .venv/bin/python tests/bench/run.py --quick    # smoke run: 64 MiB blob, 3 s loads
    .venv/bin/python tests/bench/run.py --serve    # start and fill both, for profiling

GUNICORN_WORKERS and GUNICORN_THREADS pass through to deploy/gunicorn.conf.py.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: make `tests` importable

from tests.pg import fresh_database  # noqa: E402

MB = 1_000_000
MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

USERNAME, PASSWORD = "bench", "benchpass123"
BLOB_REPO = "bench/blob"  # the large blob
APP_REPO = "bench/app"  # a small image, pulled by tag
TAGS_REPO = "bench/tags"  # the same image under 1,000 tags
TAG_COUNT = 1000

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# What docker and containerd send; distribution 2.8 answers an OCI manifest only when asked.
ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
    ]
)

# Memory stays flat while blobs move (the other bars are in ROWS, with the table).
RSS_GROWTH_MAX_MIB = 8.0


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and the numbers are poor)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- HTTP -----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class Http:
    """One keep-alive connection to 127.0.0.1:port (one per thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body=None, headers=None) -> Response:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return Response(response.status, response.headers, response.read())
            except (ConnectionError, http.client.HTTPException):
                # A keep-alive connection the server closed meanwhile: retry once afresh.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def expect(response: Response, status: int, what: str) -> Response:
    if response.status != status:
        raise BenchError(
            f"{what}: expected {status}, got {response.status}: {response.body[:300]!r}"
        )
    return response


def location_path(location: str) -> str:
    """Path and query of a Location header (distribution sends absolute URLs)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(path: str, **params: str) -> str:
    return path + ("&" if "?" in path else "?") + urlencode(params)


# -- process memory -------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and its children (gunicorn: the master and its workers)."""
    pids = [root]
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    except OSError:
        return pids
    return pids + [int(pid) for pid in children]


def rss_by_process(pids: list[int]) -> dict[int, int]:
    sizes = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):  # a worker just exited
            sizes[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


class RssSampler:
    """Samples the RSS of a process tree every `interval` seconds.

    Keeps the peak of the sum, and each process's own peak (to tell which one grew).
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root, self.interval = root, interval
        self.baseline = self.peak = 0
        self.baselines: dict[int, int] = {}
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        sizes = rss_by_process(process_tree(self.root))
        for pid, size in sizes.items():
            self.peaks[pid] = max(self.peaks.get(pid, 0), size)
        total = sum(sizes.values())
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.baselines = rss_by_process(process_tree(self.root))
        self.baseline = sum(self.baselines.values())
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def growth_by_process(self) -> str:
        return ", ".join(
            f"{pid} +{(self.peaks.get(pid, base) - base) / MIB:.1f}"
            for pid, base in self.baselines.items()
        )


# -- the two registries -----------------------------------------------------------------------


@dataclass
class Target:
    """A registry under test: where it listens and how to authorize against it."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    tokens: Callable[[str, bool], dict[str, str]]  # (repository, push) -> headers
    database_url: str = ""
    local: threading.local = field(default_factory=threading.local)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self) -> Http:
        if not hasattr(self.local, "http"):
            self.local.http = Http(self.port)
        return self.local.http

    def auth(self, repository: str, *, push: bool = False) -> dict[str, str]:
        return self.tokens(repository, push)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            code = self.process.returncode
            raise BenchError(f"{self.name} exited ({code}):\n{tail(self.log_path)}")


def wait_until_serving(target: Target, status: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        target.check_alive()
        probe = Http(target.port)
        try:
            if probe.request("GET", "/v2/").status == status:
                return
        except OSError:
            pass
        finally:
            probe.close()
        time.sleep(0.2)
    raise BenchError(f"{target.name} did not answer on {target.url} in {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def database_for_run(url: str) -> Iterator[str]:
    """A PostgreSQL database created for this run (dropped afterwards); "" for SQLite."""
    if not url:
        yield ""
        return
    with fresh_database(url, "berth_bench") as created:
        yield created


@contextlib.contextmanager
def start_berth(
    workdir: Path, admin_url: str, *, name: str = "Berth", env_extra: dict | None = None
) -> Iterator[Target]:
    """Berth under gunicorn with a data directory (and a PostgreSQL database) of its own."""
    with (
        database_for_run(admin_url) as database_url,
        _start_berth(workdir, database_url, name, env_extra or {}) as target,
    ):
        yield target


@contextlib.contextmanager
def _start_berth(workdir: Path, database_url: str, name: str, env_extra: dict):
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    env = dict(os.environ)
    for variable in ("BERTH_UPLOAD_DIR", "GUNICORN_ACCESS_LOG", "DATABASE_URL"):
        env.pop(variable, None)
    env.update(
        BERTH_DATA_DIR=str(workdir / slug),
        DJANGO_SETTINGS_MODULE="gallery.settings",
        BERTH_NEW_REPOSITORIES_PRIVATE="false",
        LOG_LEVEL="WARNING",
        DEBUG="false",
    )
    env.update(env_extra)
    if database_url:
        env["DATABASE_URL"] = database_url
    manage = [sys.executable, "manage.py"]
    create_user = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})"
    )
    for argv in (["migrate", "--noinput", "-v0"], ["shell", "-c", create_user]):
        done = subprocess.run(manage + argv, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise BenchError(f"manage.py {argv[0]} failed:\n{done.stderr[-2000:]}")
    port = free_port()
    log_path = workdir / f"{slug}.log"
    argv = [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py"]
    argv += ["--bind", f"127.0.0.1:{port}", "gallery.wsgi"]
    # gunicorn's control socket has one default path per user: a second gunicorn on the
    # machine (a test's live server) would take it over. The benchmark needs none.
    argv.insert(-1, "--no-control-socket")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    def tokens(repository: str, push: bool) -> dict[str, str]:
        actions = "pull,push" if push else "pull"
        query = urlencode({"service": "berth", "scope": f"repository:{repository}:{actions}"})
        headers = {"Authorization": f"Basic {basic}"} if push else {}
        response = expect(
            Http(port).request("GET", f"/token?{query}", headers=headers), 200, "token"
        )
        return {"Authorization": f"Bearer {json.loads(response.body)['token']}"}

    target = Target(name, port, process, log_path, tokens, database_url)
    try:
        wait_until_serving(target, 401)
        yield target
    finally:
        stop(process)


REFERENCE_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


@contextlib.contextmanager
def start_reference(workdir: Path) -> Iterator[Target]:
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        raise BenchError("docker-registry is not installed (Debian package docker-registry)")
    port = free_port()
    root = workdir / "reference"
    root.mkdir()
    config = workdir / "reference.yml"
    config.write_text(REFERENCE_CONFIG.format(root=root, port=port))
    log_path = workdir / "reference.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
        )
    target = Target("reference", port, process, log_path, lambda repository, push: {})
    try:
        wait_until_serving(target, 200)
        yield target
    finally:
        stop(process)


@contextlib.contextmanager
def start_berth_on_s3(workdir: Path, admin_url: str) -> Iterator[Target]:
    """Berth with its blobs on moto's S3 server (loopback), encryption on."""
    from tests.s3 import moto_server

    with moto_server(workdir / "moto.log") as server:
        bucket = server.new_bucket()
        env = {
            **server.environment(),
            "BERTH_S3_BUCKET": bucket,
            "BERTH_S3_ENDPOINT_URL": server.url,
        }
        with start_berth(workdir, admin_url, name=S3, env_extra=env) as target:
            yield target


def registry_version() -> str:
    done = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True)
    return done.stdout.split()[-1] if done.returncode == 0 and done.stdout else "?"


# -- content ----------------------------------------------------------------------------------


class LargeBlob:
    """A file of random bytes, written once; `vary(n)` makes it a new blob cheaply.

    Every timed push sends bytes neither registry holds yet: a registry may skip storing a
    blob it already has (distribution does), and real clients do not push those anyway.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        with open(path, "wb") as handle:
            remaining = size
            while remaining:
                chunk = os.urandom(min(4 * MIB, remaining))
                handle.write(chunk)
                remaining -= len(chunk)
        self.digest = ""

    def vary(self, n: int) -> str:
        """Stamp `n` into the first bytes; return the new digest."""
        with open(self.path, "r+b", buffering=0) as handle:
            handle.write(n.to_bytes(8, "big"))
            handle.seek(0)
            self.digest = f"sha256:{hashlib.file_digest(handle, 'sha256').hexdigest()}"
        return self.digest


def forget_blob(workdir: Path, digest: str) -> None:
    """Remove a pushed blob's bytes from every data directory, behind the servers' backs.

    Only for blobs the run never reads again: otherwise gigabytes of dirty pages from
    earlier pushes are written back to disk during later ones and skew them.
    """
    encoded = digest.removeprefix("sha256:")
    paths = [p / "blobs" / "sha256" / encoded[:2] / encoded for p in workdir.iterdir()]
    paths.append(
        workdir / "reference" / "docker/registry/v2/blobs/sha256" / encoded[:2] / encoded / "data"
    )
    for path in paths:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def push_small_blob(target: Target, repository: str, data: bytes) -> str:
    digest = digest_of(data)
    http_, headers = target.http(), target.auth(repository, push=True)
    started = expect(
        http_.request("POST", f"/v2/{repository}/blobs/uploads/", headers=headers),
        202,
        f"{target.name}: start upload",
    )
    put = with_query(location_path(started.headers["Location"]), digest=digest)
    headers = {**headers, "Content-Type": "application/octet-stream"}
    expect(http_.request("PUT", put, body=data, headers=headers), 201, f"{target.name}: blob")
    return digest


def small_image() -> tuple[bytes, bytes, bytes]:
    """(config, layer, manifest) of a small single-layer OCI image."""
    layer = os.urandom(256 * 1024)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        },
        indent=3,
    ).encode()
    return config, layer, manifest


def push_image(target: Target, repository: str, image, tags: list[str], threads: int = 8) -> None:
    config, layer, manifest = image
    push_small_blob(target, repository, config)
    push_small_blob(target, repository, layer)
    headers = {**target.auth(repository, push=True), "Content-Type": OCI_MANIFEST}

    def put(tag: str) -> None:
        path = f"/v2/{repository}/manifests/{tag}"
        response = target.http().request("PUT", path, body=manifest, headers=headers)
        expect(response, 201, f"{target.name}: manifest {repository}:{tag}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, tags))


# -- measurements -----------------------------------------------------------------------------


def push_monolithic_blob(target: Target, blob: LargeBlob, workdir: Path) -> float:
    """POST, then one PUT ?digest= carrying the whole blob with its Content-Length (curl), as
    oras and helm push: MB/s over the two."""
    headers = target.auth(BLOB_REPO, push=True)
    http_ = Http(target.port)
    began = time.perf_counter()
    started = expect(
        http_.request("POST", f"/v2/{BLOB_REPO}/blobs/uploads/", headers=headers),
        202,
        f"{target.name}: start upload",
    )
    put = with_query(location_path(started.headers["Location"]), digest=blob.digest)
    argv = ["curl", "-sS", "-X", "PUT", "-T", str(blob.path), "-o", "/dev/null"]
    argv += ["-w", "%{http_code}", "-H", "Expect:", "-H", "Content-Type: application/octet-stream"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(target.url + put)
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.stdout.strip() != "201":
        raise BenchError(f"{target.name}: PUT answered {done.stdout!r} {done.stderr[-300:]}")
    elapsed = time.perf_counter() - began
    http_.close()
    return blob.size / elapsed / MB


def push_large_blob(target: Target, blob: LargeBlob, workdir: Path) -> float:
    """POST, one PATCH streamed chunked (curl), PUT ?digest=: MB/s over the three."""
    headers = target.auth(BLOB_REPO, push=True)
    http_ = Http(target.port)
    began = time.perf_counter()
    started = expect(
        http_.request("POST", f"/v2/{BLOB_REPO}/blobs/uploads/", headers=headers),
        202,
        f"{target.name}: start upload",
    )
    patch_headers = workdir / "patch-headers.txt"
    argv = ["curl", "-sS", "-X", "PATCH", "-T", str(blob.path), "-o", "/dev/null"]
    argv += ["-D", str(patch_headers), "-w", "%{http_code}"]
    # Go clients stream an upload chunked and send no Expect: 100-continue.
    argv += ["-H", "Transfer-Encoding: chunked", "-H", "Expect:"]
    argv += ["-H", "Content-Type: application/octet-stream"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(target.url + location_path(started.headers["Location"]))
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.stdout.strip() != "202":
        raise BenchError(f"{target.name}: PATCH answered {done.stdout!r} {done.stderr[-300:]}")
    location = re.search(r"(?im)^location:\s*(\S+)", patch_headers.read_text())
    if location is None:
        raise BenchError(f"{target.name}: PATCH answered without a Location")
    put = with_query(location_path(location[1]), digest=blob.digest)
    expect(http_.request("PUT", put, headers=headers), 201, f"{target.name}: finish upload")
    elapsed = time.perf_counter() - began
    http_.close()
    return blob.size / elapsed / MB


def pull_large_blob(target: Target, digest: str, size: int) -> float:
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    # The blob's repository has no manifest: it is provisional, pulled by its writers only.
    for key, value in target.auth(BLOB_REPO, push=True).items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(f"{target.url}/v2/{BLOB_REPO}/blobs/{digest}")
    done = subprocess.run(argv, capture_output=True, text=True)
    status, received, seconds = [*done.stdout.split(), "", "", ""][:3]
    if status != "200" or int(received or 0) != size:
        raise BenchError(f"{target.name}: pull answered {done.stdout!r} {done.stderr[-300:]}")
    return size / float(seconds) / MB


@dataclass(frozen=True)
class Load:
    """One wrk workload: `method` on `path` of a repository, with the pull token."""

    key: str
    repository: str
    path: str
    method: str = "GET"


def check_load(target: Target, load: Load, expected: bytes | None) -> None:
    """One request first: wrk counts requests, not whether the answers are right."""
    headers = {**target.auth(load.repository), "Accept": ACCEPT}
    response = target.http().request(load.method, load.path, headers=headers)
    expect(response, 200, f"{target.name}: {load.method} {load.path}")
    if expected is not None and response.body != expected:
        raise BenchError(f"{target.name}: {load.method} {load.path} answered other bytes")


@dataclass(frozen=True)
class LoadResult:
    rate: float  # requests/s
    requests: int
    cpu: float  # seconds of the server's CPU time (all its processes) during the run

    @property
    def cpu_per_request(self) -> float:
        """Microseconds: steadier than requests/s on a shared machine."""
        return 1e6 * self.cpu / self.requests if self.requests else float("nan")


def load_test(target: Target, load: Load, *, seconds: float, connections: int) -> LoadResult:
    """`load` against `target` for `seconds`: wrk for GET, ab for HEAD."""
    headers = {**target.auth(load.repository), "Accept": ACCEPT}
    url = target.url + load.path
    before = cpu_seconds(process_tree(target.process.pid))
    if load.method == "HEAD":
        rate, requests = ab_head(url, headers, seconds=seconds, connections=connections)
    else:
        rate, requests = wrk(url, headers, seconds=seconds, connections=connections)
    used = cpu_seconds(process_tree(target.process.pid)) - before
    return LoadResult(rate, requests, used)


def wrk(url: str, headers: dict[str, str], *, seconds: float, connections: int):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True)
    found = re.search(r"Requests/sec:\s*([\d.]+)", done.stdout)
    count = re.search(r"(\d+) requests in", done.stdout)
    if done.returncode or found is None or count is None:
        raise BenchError(f"wrk failed against {url}: {done.stdout}{done.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", done.stdout)
    if bad:
        raise BenchError(f"{bad[1]} error answers under wrk ({url}):\n{done.stdout}")
    errors = re.search(r"Socket errors:.*", done.stdout)
    if errors:
        log(f"    ({url}: {errors[0]})")
    return float(found[1]), int(count[1])


def ab_head(url: str, headers: dict[str, str], *, seconds: float, connections: int):
    """wrk cannot measure HEAD: its parser waits for the Content-Length bytes that a HEAD
    answer announces but never sends. ab (-i: HEAD, -k: keep-alive) can."""
    argv = ["ab", "-q", "-k", "-i", "-c", str(connections), "-t", f"{seconds:g}", "-n", "100000000"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True)
    found = re.search(r"Requests per second:\s*([\d.]+)", done.stdout)
    count = re.search(r"Complete requests:\s*(\d+)", done.stdout)
    if done.returncode or found is None or count is None:
        raise BenchError(f"ab failed against {url}: {done.stdout}{done.stderr}")
    for pattern in (r"Failed requests:\s*([1-9]\d*)", r"Non-2xx responses:\s*(\d+)"):
        bad = re.search(pattern, done.stdout)
        if bad:
            raise BenchError(f"{bad[1]} failed or error answers under ab ({url}):\n{done.stdout}")
    return float(found[1]), int(count[1])


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    rss_peak: dict[str, float] = field(default_factory=dict)
    rss_growth: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, target: str, value: float) -> None:
        self.samples.setdefault((key, target), []).append(value)

    def median(self, key: str, target: str) -> float | None:
        values = self.samples.get((key, target))
        return statistics.median(values) if values else None


def seed(targets: list[Target], tag_count: int) -> list[tuple[Load, bytes | None]]:
    """Push the small image (tag `latest`) and `tag_count` tags; return the loads to run."""
    log(f"pushing a small image and {tag_count:,} tags to each registry")
    image = small_image()
    tags = [f"v{i:04d}" for i in range(tag_count)]
    for target in targets:
        began = time.perf_counter()
        push_image(target, APP_REPO, image, ["latest"])
        push_image(target, TAGS_REPO, image, tags)
        log(f"  {target.name}: {time.perf_counter() - began:.1f} s")
    return [
        (Load("manifest_get", APP_REPO, f"/v2/{APP_REPO}/manifests/latest"), image[2]),
        (Load("manifest_head", APP_REPO, f"/v2/{APP_REPO}/manifests/latest", "HEAD"), None),
        (Load("tags_list", TAGS_REPO, f"/v2/{TAGS_REPO}/tags/list?n={tag_count}"), None),
    ]


def serve(targets: list[Target], tag_count: int) -> None:
    """--serve: leave both registries up with the content, for profiling by hand."""
    loads = seed(targets, tag_count)
    for target in targets:
        log(f"{target.name}: {target.url} (pid {target.process.pid})")
        for load, _ in loads:
            auth = target.auth(load.repository).get("Authorization", "")
            log(f"  {load.method} {target.url}{load.path}" + (f"\n    {auth}" if auth else ""))
    log("Berth push: Basic bench:benchpass123. Ctrl-C stops both.")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


PUSH_FLOWS = {"push": push_large_blob, "push_mono": push_monolithic_blob}


def measure(args, workdir: Path, berths: list[Target], reference: Target) -> Results:
    """`berths[0]` is Berth as configured by default (encryption on); the others are
    variants (encryption off, S3) measured on blobs only."""
    results = Results()
    berth = berths[0]
    targets = [berth, reference]
    if not args.blobs_only:
        loads = seed(targets, args.tags)
        for target in targets:
            for load, expected in loads:
                check_load(target, load, expected)
            # Warm every worker and thread (imports, database connections, caches).
            load_test(target, loads[0][0], seconds=1, connections=args.connections)
        for load, _ in loads:
            for rep in range(args.wrk_reps):
                for target in targets:  # interleaved: drift in machine load hits both alike
                    done = load_test(
                        target, load, seconds=args.seconds, connections=args.connections
                    )
                    results.add(load.key, target.name, done.rate)
                    results.add(f"{load.key}_cpu", target.name, done.cpu_per_request)
                    log(
                        f"  {load.key:14} {target.name:10} rep {rep + 1}: {done.rate:9.0f} req/s"
                        f"  ({done.cpu_per_request:.0f} us CPU/request)"
                    )

    everyone = [*berths, reference]
    # Every worker takes a few small pushes of each kind first (imports, buffers, thread
    # pools): the RSS bar is about staying flat while large blobs move, not about warming.
    warm = LargeBlob(workdir / "warm.bin", 4 * MIB)
    for n in range(3 * int(os.environ.get("GUNICORN_WORKERS") or 2 * os.cpu_count())):
        for push in PUSH_FLOWS.values():
            warm.vary(10_000 + n)
            for target in everyone:
                push(target, warm, workdir)
    log(f"writing a {args.blob_mib} MiB random blob")
    blob = LargeBlob(workdir / "blob.bin", args.blob_mib * MIB)
    samplers = {target.name: RssSampler(target.process.pid) for target in everyone}
    with contextlib.ExitStack() as stack:
        for sampler in samplers.values():
            stack.enter_context(sampler)
        # Rep 0 is a warm-up (untimed): the first large write of a run is slower on these
        # VMs (fresh page-cache memory), for whichever registry comes first.
        stamp = 0
        for rep in range(args.push_reps + 1):
            for key, push in PUSH_FLOWS.items():
                previous = blob.digest
                stamp += 1
                blob.vary(stamp)
                for target in everyone:  # interleaved
                    value = push(target, blob, workdir)
                    if rep:
                        results.add(key, target.name, value)
                    log(f"  {key:10} {target.name:18} rep {rep or 'warm-up'}: {value:6.0f} MB/s")
                if previous:
                    forget_blob(workdir, previous)
        for rep in range(args.pull_reps):
            for target in everyone:
                value = pull_large_blob(target, blob.digest, blob.size)
                results.add("pull", target.name, value)
                log(f"  pull       {target.name:18} rep {rep + 1}: {value:6.0f} MB/s")
    for name, sampler in samplers.items():
        log(f"  RSS growth MiB of {name}, by process: {sampler.growth_by_process()}")
        results.rss_peak[name] = sampler.peak / MIB
        results.rss_growth[name] = (sampler.peak - sampler.baseline) / MIB
    for target in everyone:
        target.check_alive()
    return results


# -- the table --------------------------------------------------------------------------------

BERTH, PLAIN, S3 = "Berth", "Berth, unencrypted", "Berth on moto S3"
PUSH_STREAMED = "push streamed (POST, chunked PATCH, PUT)"
PUSH_MONO = "push monolithic (POST, PUT with body)"
# (metric, Berth variant, label, bar vs the reference; None: reported only)
ROWS = [
    ("push", BERTH, f"{PUSH_STREAMED}, encrypted, MB/s", 1.0),
    ("push", PLAIN, f"{PUSH_STREAMED}, unencrypted, MB/s", 1.5),
    ("push_mono", BERTH, f"{PUSH_MONO}, encrypted, MB/s", 1.0),
    ("push_mono", PLAIN, f"{PUSH_MONO}, unencrypted, MB/s", 1.5),
    ("pull", BERTH, "pull, encrypted (decrypted by Berth), MB/s", None),
    ("pull", PLAIN, "pull, unencrypted (sendfile), MB/s", 1.0),
    ("push", S3, f"{PUSH_STREAMED}, moto S3, encrypted, MB/s", None),
    ("push_mono", S3, f"{PUSH_MONO}, moto S3, encrypted, MB/s", None),
    ("pull", S3, "pull, moto S3, encrypted, MB/s", None),
    ("manifest_get", BERTH, "manifest GET req/s", 1.5),
    ("manifest_get_cpu", BERTH, "manifest GET CPU us/req", None),
    ("manifest_head", BERTH, "manifest HEAD req/s (ab)", None),
    ("tags_list", BERTH, "tags list ({tags:,} tags) req/s", None),
]


def table(results: Results, *, tags: int) -> str:
    lines = [("metric", "Berth", "reference", "ratio", "bar", "result")]
    for key, variant, label, bar in ROWS:
        ours, theirs = results.median(key, variant), results.median(key, "reference")
        if ours is None:
            continue
        ratio = ours / theirs if theirs else None
        if bar is None:
            verdict = "info"
        elif ratio is None:
            verdict = "n/a"
        else:
            verdict = "PASS" if ratio >= bar else "FAIL"
        lines.append(
            (
                label.format(tags=tags),
                f"{ours:,.0f}",
                f"{theirs:,.0f}" if theirs is not None else "n/a",
                f"{ratio:.2f}x" if ratio is not None else "n/a",
                f">= {bar:.1f}x" if bar is not None else "-",
                verdict,
            )
        )
    peak, growth = results.rss_peak, results.rss_growth
    for name in [n for n in (BERTH, PLAIN, S3) if n in peak]:
        bar = RSS_GROWTH_MAX_MIB if name != S3 else None
        lines.append(
            (
                f"peak RSS MiB (growth), {name}",
                f"{peak[name]:.0f} (+{growth[name]:.1f})",
                f"{peak['reference']:.0f} (+{growth['reference']:.1f})",
                f"{peak[name] / peak['reference']:.2f}x",
                f"growth <= {bar:g} MiB" if bar else "-",
                ("PASS" if growth[name] <= bar else "FAIL") if bar else "info",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = []
    for n, row in enumerate(lines):
        cells = [
            cell.ljust(width) if i in (0, 4, 5) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="64 MiB blob, 3 s wrk, 200 tags, fewer reps"
    )
    parser.add_argument("--blob-mib", type=int, help="blob size in MiB (default 512)")
    parser.add_argument("--seconds", type=float, help="duration of each wrk or ab run (default 6)")
    parser.add_argument("--wrk-reps", type=int, help="load runs per figure (default 5)")
    parser.add_argument("--push-reps", type=int, help="pushes per registry (default 3)")
    parser.add_argument("--pull-reps", type=int, help="pulls per registry (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--tags", type=int, help=f"tags in the tags list (default {TAG_COUNT})")
    parser.add_argument(
        "--serve", action="store_true", help="only start and fill both registries, for profiling"
    )
    parser.add_argument(
        "--blobs-only", action="store_true", help="only blob pushes and pulls (no wrk, ab)"
    )
    parser.add_argument(
        "--no-s3", action="store_true", help="skip Berth on S3 (moto's server on loopback)"
    )
    args = parser.parse_args(argv)
    defaults = (64, 3, 1, 2, 3, 200) if args.quick else (512, 6, 5, 3, 5, TAG_COUNT)
    names = ("blob_mib", "seconds", "wrk_reps", "push_reps", "pull_reps", "tags")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def _terminated(signum, frame):
    raise SystemExit(f"bench: stopped by signal {signum}")  # unwinds: servers stop, files go


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    for tool in ("curl", "wrk"):
        if shutil.which(tool) is None:
            log(f"bench: {tool} is not installed (Debian package {tool})")
            return 1
    workers = os.environ.get("GUNICORN_WORKERS") or str(multiprocessing.cpu_count() * 2)
    threads = os.environ.get("GUNICORN_THREADS") or "4"
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    began = time.monotonic()
    admin_url = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        workdir = Path(tmp)
        try:
            with contextlib.ExitStack() as stack:
                berths = [stack.enter_context(start_berth(workdir, admin_url, name=BERTH))]
                if not args.serve:
                    plain = {"BERTH_ENCRYPTION": "off"}
                    berths.append(
                        stack.enter_context(
                            start_berth(workdir, admin_url, name=PLAIN, env_extra=plain)
                        )
                    )
                    if not args.no_s3:
                        berths.append(stack.enter_context(start_berth_on_s3(workdir, admin_url)))
                reference = stack.enter_context(start_reference(workdir))
                if args.serve:
                    serve([berths[0], reference], args.tags)
                    return 0
                results = measure(args, workdir, berths, reference)
        except (BenchError, OSError) as error:
            log(f"bench: could not run: {error}")
            for path in workdir.glob("*.log"):
                log(f"--- the end of {path.name} ---\n{tail(path)}")
            return 1
    print()
    print(
        f"Berth vs reference registry (distribution {registry_version()}), same run, "
        f"{os.cpu_count()} CPUs, loopback; medians of {args.push_reps} pushes, "
        f"{args.pull_reps} pulls, {args.wrk_reps} x {args.seconds:g} s of each load "
        f"(wrk -t2, ab for HEAD; {args.connections} connections)."
    )
    print(
        f"Berth: gunicorn {workers} workers x {threads} threads, {database}, each variant with "
        f"its own data directory; blob {args.blob_mib} MiB; MB = 10^6 bytes; RSS sums "
        "gunicorn's master and workers; the reference stores blobs unencrypted."
    )
    print()
    print(table(results, tags=args.tags))
    print(f"\n({time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
