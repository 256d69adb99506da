"""Gallery benchmark: search latency with 100,000 repositories, and a repository with
10,000 tags (its page and its Tags tab), measured over HTTP against gunicorn.

Needs PostgreSQL (DATABASE_URL, or postgres://postgres@127.0.0.1:5432/postgres): the numbers
that matter are production's. A fresh database is created for the run and dropped after.

    .venv/bin/python tests/bench/gallery.py [--repositories N] [--tags N] [--requests N]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: make `tests` importable

from tests.pg import fresh_database  # noqa: E402

SEARCHES = [
    ("browse, by downloads", "/search?sort=downloads"),
    ("text: one word", "/search?q=proxy"),
    ("text: two words", "/search?q=redis+exporter"),
    ("text + arm64 + helm", "/search?q=operator&arch=arm64&type=helm"),
    ("filter: arm64, verified", "/search?arch=arm64&verified=on"),
    ("recently updated", "/search?sort=updated"),
    ("text: rare words", "/search?q=riscv64+vault+backup"),
    ("text: in most READMEs (worst)", "/search?q=w1"),
]


PAGES = [
    ("repository page (10k tags)", "/r/pub0/many-tags"),
    ("Tags tab, page 1", "/r/pub0/many-tags/-/tags"),
    ("Tags tab, page 200", "/r/pub0/many-tags/-/tags?page=200"),
    ("Tags tab, filtered", "/r/pub0/many-tags/-/tags?name=42."),
]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def populate(env: dict[str, str], repositories: int, tags: int) -> None:
    """Generate the catalog in a child process (Django configured from `env`)."""
    code = (
        "import django; django.setup(); from tests.bench.seed_gallery import seed; "
        f"seed({repositories}, {tags})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"populating failed:\n{result.stdout}\n{result.stderr}")
    for line in result.stdout.splitlines():
        if ":" in line and "objects imported" not in line:
            log(line)


def timed_gets(port: int, path: str, count: int) -> list[float]:
    """Milliseconds per GET of `path`, over one keep-alive connection, after one warm-up."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    timings = []
    for i in range(count + 1):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
        if i:
            timings.append(elapsed)
    connection.close()
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def deep_cursor_path(port: int, pages: int) -> str:
    """Follow `Next` links `pages` times from the browse page; return the last page's path."""
    import re

    path = "/search?sort=downloads"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(pages):
        connection.request("GET", path)
        body = connection.getresponse().read().decode()
        match = re.search(r'href="(\?[^"]*after=[^"]*)" *>Next|rel="next" href="([^"]+)"', body)
        if not match:
            break
        path = "/search" + (match.group(1) or match.group(2)).replace("&amp;", "&")
    connection.close()
    return path


def measure(env: dict[str, str], requests: int) -> dict[str, list]:
    """Start gunicorn with `env`, time every search and page, stop it."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py"]
    argv += ["--bind", f"127.0.0.1:{port}", "gallery.wsgi"]
    server = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            time.sleep(0.2)
        cases = [*SEARCHES, ("page 50 of browse (keyset)", deep_cursor_path(port, 49))]
        searches = [(label, timed_gets(port, path, requests)) for label, path in cases]
        pages = [(label, timed_gets(port, path, requests)) for label, path in PAGES]
    finally:
        server.terminate()
        server.wait(timeout=15)
    return {"search": searches, "pages": pages}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)

    admin_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    with (
        tempfile.TemporaryDirectory(prefix="berth-bench-gallery-") as workdir,
        fresh_database(admin_url, "berth_bench_gallery") as database_url,
    ):
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
        env |= {
            "DATABASE_URL": database_url,
            "BERTH_DATA_DIR": workdir,
            "DJANGO_SETTINGS_MODULE": "gallery.settings",
            "GUNICORN_WORKERS": "2",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        log(f"generating {args.repositories:,} repositories and one with {args.tags:,} tags")
        populate(env, args.repositories, args.tags)
        uncached = measure(env | {"BERTH_SEARCH_CACHE_SECONDS": "0"}, args.requests)
        cached = measure(env, args.requests)

    print()
    print(
        f"Gallery: {args.repositories:,} repositories (PostgreSQL), {args.requests} GETs each "
        "after one warm-up, p50/p95 in ms; 'uncached' runs every query, 'cached' is the "
        "default (pages and counts cached per query for BERTH_SEARCH_CACHE_SECONDS)."
    )
    print(f"{'request':<32} {'uncached':>15} {'cached':>15}  bar")
    print("-" * 78)

    def cells(timings):
        return f"{statistics.median(timings):7.1f}/{percentile(timings, 0.95):7.1f}"

    for (label, cold), (_, warm) in zip(uncached["search"], cached["search"], strict=True):
        print(f"{label:<32} {cells(cold):>15} {cells(warm):>15}")
    cold_all = [t for _, timings in uncached["search"] for t in timings]
    warm_all = [t for _, timings in cached["search"] for t in timings]
    verdict = "pass" if percentile(warm_all, 0.95) < 50 else "FAIL"
    print(f"{'all searches':<32} {cells(cold_all):>15} {cells(warm_all):>15}  p95 < 50: {verdict}")
    print("-" * 78)
    for label, timings in cached["pages"]:
        verdict = "pass" if percentile(timings, 0.95) < 100 else "FAIL"
        print(f"{label:<32} {'':>15} {cells(timings):>15}  p95 < 100: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
