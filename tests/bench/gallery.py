"""Gallery benchmark: search without its cache, at scale, over HTTP against gunicorn.

300 distinct searches of every kind people and API clients make (one word, two words, `or`,
phrases, excluded words, words with facets, facet-only browsing, every sort, deep cursor
pages, no results and typos, names as typed and pasted, one namespace) are each asked once
per run with the result cache off (BERTH_SEARCH_CACHE_SECONDS=0), by one client at a time and
by 8 concurrent clients, as pages (/search) and through the API (/api/v1/repositories, the
same parameters, 20 per page). A table gives the medians over the runs of each run's p50, p95, p99;
the bar is p95 < 50 ms and p99 < 100 ms (100,000 repositories on PostgreSQL) and p95 < 150
ms at 1,000,000. The same searches run against SQLite (the embedded default) at 10,000.
Before they are asked, a tenth of the catalog's rows are updated (download counts, as pulls
do all day; --changed): the catalog as it is in use, not just after its vacuum.
For reference, the same searches are then answered from the result cache (what the web stack
alone costs: no search answers faster here). Then: the pages of a repository with 10,000 tags.

Each catalog is generated into a fresh database (PostgreSQL: created on DATABASE_URL's server,
or postgres://postgres@127.0.0.1:5432/postgres, and dropped after) unless --database-url
names one generated before (with --keep).

    .venv/bin/python tests/bench/gallery.py                        # 100,000 + SQLite 10,000
    .venv/bin/python tests/bench/gallery.py --repositories 1000000 --runs 3 --no-sqlite
    .venv/bin/python tests/bench/gallery.py --keep                 # print the database kept
    .venv/bin/python tests/bench/gallery.py --database-url postgres://…/berth_bench_gallery_…
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: make `tests` importable

from tests.bench.run import cpu_seconds, process_tree  # noqa: E402
from tests.bench.seed_gallery import ARCHES, WELL_KNOWN, WORDS  # noqa: E402
from tests.pg import fresh_database  # noqa: E402

SORTS = ["relevance", "downloads", "updated", "name"]
TYPES = ["image", "helm", "policy", "artifact"]
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
    """Migrate and generate the catalog in a child process (Django configured from `env`)."""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    in_django(env, f"seed({repositories}, {tags})", "populating")


def in_django(env: dict[str, str], call: str, what: str) -> None:
    """Run `call` of tests.bench.seed_gallery in a child process (Django configured from
    `env`), logging what it prints."""
    code = "import django; django.setup(); from tests.bench.seed_gallery import churn, seed; "
    code += call
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stdout}\n{result.stderr}")
    for line in result.stdout.splitlines():
        log(line)


@contextlib.contextmanager
def serve(env: dict[str, str]):
    """gunicorn with deploy/gunicorn.conf.py (its worker and thread defaults) on a free port."""
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
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=15)


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[float, str]:
        started = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read().decode()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
        return elapsed, body

    def close(self) -> None:
        self.connection.close()


def search_path(**params) -> str:
    pairs = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(key, v) for v in values if v not in ("", None, False)]
    return "/search?" + urllib.parse.urlencode(pairs)


def names_on(body: str) -> list[str]:
    return re.findall(r'<h3><a href="/r/([^"]+)">', body)


def next_link(body: str) -> str:
    match = re.search(r'rel="next" href="([^"]+)"', body)
    return "/search" + match.group(1).replace("&amp;", "&") if match else ""


def typo(word: str, rng: random.Random) -> str:
    """One edit: swap two neighbours, drop, double or replace a letter."""
    i = rng.randrange(len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiouxz") + word[i + 1 :]


def make_queries(port: int, seed: int = 11) -> list[tuple[str, str]]:
    """300 distinct (kind, path) searches; names and deep pages are read from the server."""
    rng = random.Random(seed)
    client = Client(port)
    names = set(WELL_KNOWN)
    for word in rng.sample(WORDS, 12):
        names.update(names_on(client.get(search_path(q=word))[1]))
    names = sorted(n for n in names if "/" in n)
    found: dict[str, str] = {}

    def add(kind: str, path: str) -> bool:
        if path in found:
            return False
        found[path] = kind
        return True

    def facets() -> dict:
        chosen = {}
        for key, values in (("arch", ARCHES), ("type", TYPES)):
            if rng.random() < 0.6:
                chosen[key] = rng.sample(values, rng.choice([1, 1, 2]))
        if rng.random() < 0.2:
            chosen["os"] = "linux"
        if rng.random() < 0.3:
            chosen["verified"] = "on"
        return chosen or {"arch": [rng.choice(ARCHES)]}

    def sort(text: bool = True) -> str:
        return rng.choice(["relevance"] * 3 + SORTS[1:]) if text else rng.choice(SORTS)

    readme_words = [f"w{n}" for n in (1, 2, 3, 5, 8, 13, 40, 100, 400, 1500, 6000, 15000)]
    rare = [f"t{rng.randrange(3000)}" for _ in range(20)]
    plan = [
        (
            "one word",
            40,
            lambda: search_path(q=rng.choice(WORDS + rare + readme_words), sort=sort()),
        ),
        (
            "two words / or",
            30,
            lambda: search_path(
                q=f"{rng.choice(WORDS)} {rng.choice(['', 'or '])}{rng.choice(WORDS + rare)}",
                sort=sort(),
            ),
        ),
        (
            "phrase",
            20,
            lambda: search_path(
                q=rng.choice(['"{} {}"', "{}-{}"]).format(*rng.sample(WORDS, 2)),
                sort=sort(),
            ),
        ),
        (
            "excluded word",
            20,
            lambda: search_path(q=f"{rng.choice(WORDS)} -{rng.choice(WORDS)}", sort=sort()),
        ),
        (
            "word + facets",
            40,
            lambda: search_path(q=rng.choice(WORDS + readme_words[:4]), sort=sort(), **facets()),
        ),
        ("facets only", 40, lambda: search_path(sort=sort(False), **facets())),
        (
            "no results / typo",
            20,
            lambda: search_path(
                q=rng.choice(
                    [
                        "".join(rng.choice("bcdfghjklmnpqvwxz") for _ in range(rng.randint(4, 9))),
                        typo(rng.choice([w for w in WORDS if len(w) > 3]), rng),
                    ]
                )
            ),
        ),
        (
            "name prefix as typed",
            30,
            lambda: search_path(
                q=(lambda name: name[: rng.randint(3, max(3, len(name) - 1))])(
                    rng.choice(names).split("/", 1)[rng.randrange(2)]
                )
            ),
        ),
        ("name pasted", 20, lambda: search_path(q=rng.choice(names))),
        (
            "one namespace",
            20,
            lambda: search_path(
                namespace=f"pub{rng.randrange(1000)}", q=rng.choice(["", *WORDS]), sort=sort(False)
            ),
        ),
    ]
    for kind, count, make in plan:
        made = 0
        while made < count:
            made += add(kind, make())
    deep = 0
    while deep < 20:
        start = rng.choice(
            [
                search_path(sort=sort(False)),
                search_path(q=rng.choice(WORDS), sort=sort()),
                search_path(q=rng.choice(readme_words[:3]), sort=sort()),
                search_path(sort=sort(False), **facets()),
            ]
        )
        path = start
        for _ in range(rng.randint(5, 40)):
            following = next_link(client.get(path)[1])
            if not following:
                break
            path = following
        if path != start:
            deep += add("deep cursor page", path)
    client.close()
    return [(kind, path) for path, kind in found.items()]


def api_path(path: str) -> str:
    """The API's form of a page's search: the same parameters, its one cursor, its page size
    set to the page's (20), `verified=true`."""
    pairs = []
    for key, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query):
        if key == "after":
            key, value = "cursor", f"n.{value}"
        elif key == "before":
            key, value = "cursor", f"p.{value}"
        elif key == "verified":
            value = "true"
        pairs.append((key, value))
    return "/api/v1/repositories?" + urllib.parse.urlencode([*pairs, ("limit", "20")])


def ask_in_turn(port: int, queries) -> list[tuple[str, float]]:
    client = Client(port)
    timings = [(kind, client.get(path)[0]) for kind, path in queries]
    client.close()
    return timings


def ask_concurrently(port: int, queries, clients: int) -> tuple[list[tuple[str, float]], float]:
    """Every query once, `clients` connections each taking the next one as soon as it can."""
    pending = list(reversed(queries))
    lock = threading.Lock()
    timings: list[tuple[str, float]] = []

    def work():
        client = Client(port)
        while True:
            with lock:
                if not pending:
                    break
                kind, path = pending.pop()
            elapsed, _ = client.get(path)
            with lock:
                timings.append((kind, elapsed))
        client.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def churn(env: dict[str, str], share: float) -> None:
    """Raise the download counts of `share` of the catalog (seed_gallery.churn), in a child."""
    if share > 0:
        in_django(env, f"churn({share})", "updating download counts")


def measure_searches(env, runs: int, clients: int, label: str, changed: float = 0.0) -> dict:
    """Per run, for the search page and then for the API: every query in turn, then every
    query by `clients` concurrent clients. First `changed` of the catalog is updated as a
    catalog in use is between vacuums (see churn)."""
    churn(env, changed)
    targets = {"page": lambda path: path, "API": api_path}
    results = {
        target: {
            "label": f"{label}, {target}",
            "turn": [],
            "concurrent": [],
            "rates": [],
            "cpu": [],
            "by_kind": defaultdict(list),
        }
        for target in targets
    }
    # The benchmark's one address must not meet the API's rate limits.
    unlimited = {
        "BERTH_SEARCH_CACHE_SECONDS": "0",
        "BERTH_API_ANONYMOUS_RATE": "1000000/minute",
        "BERTH_API_USER_RATE": "1000000/minute",
    }
    with serve(env | unlimited) as (port, pid):
        meter = CpuMeter(pid, env.get("DATABASE_URL", ""))
        queries = make_queries(port)
        log(f"{label}: {len(queries)} distinct searches, {runs} runs")
        for convert in targets.values():
            # Warm-up with other searches: the server's code paths, not these answers.
            warm = random.Random(3).sample(queries, 40)
            ask_in_turn(port, [(k, convert(p + "&warm=1")) for k, p in warm])
        for run in range(runs):
            for target, convert in targets.items():
                result = results[target]
                order = [
                    (k, convert(p)) for k, p in random.Random(run).sample(queries, len(queries))
                ]
                meter.start()
                turn = ask_in_turn(port, order)
                web, database = meter.stop()
                result["cpu"].append((web * 1000 / len(turn), database * 1000 / len(turn)))
                together, seconds = ask_concurrently(port, order, clients)
                result["turn"].append([ms for _, ms in turn])
                result["concurrent"].append([ms for _, ms in together])
                result["rates"].append(len(together) / seconds)
                for kind, ms in turn:
                    result["by_kind"][kind].append(ms)
                log(
                    f"{result['label']} run {run + 1}: p95 "
                    f"{percentile(result['turn'][-1], 0.95):.1f} ms in turn, "
                    f"{percentile(result['concurrent'][-1], 0.95):.1f} ms with {clients} clients "
                    f"({result['rates'][-1]:.0f}/s)"
                )
    return results


def measure_floor(env, clients: int) -> dict:
    """The same searches answered from the result cache, for reference: each is asked once to
    fill the cache, then every answer is a cache hit (no matching, no counting: the request,
    the middleware, one read of the page's rows by key, the template or the serializer).
    No search, however it is done, answers faster than this in this stack on this machine.
    The cache is Redis (REDIS_URL, or database 15 of a local one), as in production: the
    embedded file cache keeps 300 entries, fewer than these searches fill."""
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    where = urllib.parse.urlsplit(redis_url)
    try:
        socket.create_connection((where.hostname, where.port or 6379), timeout=2).close()
    except OSError:
        log(f"no Redis at {redis_url}: no reference measured")
        return {}
    warm = {
        "REDIS_URL": redis_url,
        "BERTH_CACHE_PREFIX": f"berth-bench-{os.getpid()}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "BERTH_SEARCH_CACHE_SECONDS": "3600",
        "BERTH_API_ANONYMOUS_RATE": "1000000/minute",
        "BERTH_API_USER_RATE": "1000000/minute",
    }
    floor = {}
    with serve(env | warm) as (port, _):
        queries = make_queries(port)
        for target, convert in (("page", lambda path: path), ("API", api_path)):
            order = [(k, convert(p)) for k, p in random.Random(0).sample(queries, len(queries))]
            ask_in_turn(port, order)  # fills the cache
            turn = [ms for _, ms in ask_in_turn(port, order)]
            together = [ms for _, ms in ask_concurrently(port, order, clients)[0]]
            floor[target] = {"turn": turn, "concurrent": together}
    return floor


def print_floor(floor: dict, clients: int) -> None:
    print()
    print(
        "Reference, same run: the same searches answered from the result cache (no search "
        "done; what the web stack alone costs here), one run, ms"
    )
    print(f"{'':<26} {'p50':>7} {'p95':>7} {'p99':>7}")
    print("-" * 52)
    for target, series in floor.items():
        for key, title in (("turn", "one client"), ("concurrent", f"{clients} clients")):
            timings = series[key]
            print(
                f"{target + ', ' + title:<26} {percentile(timings, 0.5):7.1f} "
                f"{percentile(timings, 0.95):7.1f} {percentile(timings, 0.99):7.1f}"
            )


class CpuMeter:
    """CPU seconds used by gunicorn (master and workers) and by the PostgreSQL backends
    serving it (found in pg_stat_activity), from start() to stop()."""

    def __init__(self, server_pid: int, database_url: str):
        self.server_pid, self.database_url = server_pid, database_url

    def _database(self) -> dict[int, float]:
        if not self.database_url:
            return {}
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as db:
            pids = [
                pid
                for (pid,) in db.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        return {pid: cpu_seconds([pid]) for pid in pids}

    def start(self) -> None:
        self.web = cpu_seconds(process_tree(self.server_pid))
        self.database = self._database()

    def stop(self) -> tuple[float, float]:
        web = cpu_seconds(process_tree(self.server_pid)) - self.web
        now = self._database()
        database = sum(cpu - self.database.get(pid, 0.0) for pid, cpu in now.items())
        return web, database


def measure_pages(env, requests: int) -> list[tuple[str, list[float]]]:
    with serve(env) as (port, _):
        client = Client(port)
        timings = []
        for label, path in PAGES:
            client.get(path)
            timings.append((label, [client.get(path)[0] for _ in range(requests)]))
        client.close()
    return timings


def median_of(runs: list[list[float]], fraction: float) -> float:
    return statistics.median(percentile(run, fraction) for run in runs)


def print_searches(results: dict, *, repositories: int, bars, clients: int):
    p95_bar, p99_bar = bars
    runs = len(results["turn"])
    print()
    print(
        f"Search, {results['label']}, {repositories:,} repositories: "
        f"{len(results['turn'][0])} distinct "
        f"searches, each asked once per run, result cache off; {runs} runs; milliseconds "
        "over HTTP (gunicorn, deploy/gunicorn.conf.py), medians of the runs' percentiles."
    )
    print(f"{'':<26} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'req/s':>7}  bar")
    print("-" * 86)
    for key, title in (("turn", "one client at a time"), ("concurrent", f"{clients} clients")):
        series = results[key]
        p95, p99 = median_of(series, 0.95), median_of(series, 0.99)
        verdict = []
        if p95_bar:
            verdict.append(f"p95 < {p95_bar}: {'pass' if p95 < p95_bar else 'FAIL'}")
        if p99_bar:
            verdict.append(f"p99 < {p99_bar}: {'pass' if p99 < p99_bar else 'FAIL'}")
        rate = (
            statistics.median(results["rates"])
            if key == "concurrent"
            else 1000 / statistics.mean(statistics.mean(run) for run in series)
        )
        print(
            f"{title:<26} {median_of(series, 0.5):7.1f} {p95:7.1f} {p99:7.1f} "
            f"{statistics.median(max(run) for run in series):7.1f} {rate:7.0f}  "
            + ", ".join(verdict)
        )
    web = statistics.median(w for w, _ in results["cpu"])
    database = statistics.median(d for _, d in results["cpu"])
    where = f" + database {database:.1f} ms" if database else " (web and database)"
    print(f"CPU per search (one client): web {web:.1f} ms{where}")
    print(f"{'by kind, one client':<26} {'p50':>7} {'p95':>7} {'max':>7}  (all runs)")
    for kind, timings in results["by_kind"].items():
        print(
            f"  {kind:<24} {percentile(timings, 0.5):7.1f} {percentile(timings, 0.95):7.1f} "
            f"{max(timings):7.1f}"
        )


def run_postgresql(args, env: dict[str, str], workdir: str):
    admin_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    with contextlib.ExitStack() as stack:
        database_url = args.database_url
        if not database_url:
            create = _kept_database if args.keep else fresh_database
            database_url = stack.enter_context(create(admin_url, "berth_bench_gallery"))
        env = env | {"DATABASE_URL": database_url, "BERTH_DATA_DIR": workdir + "/pg"}
        if not args.database_url:
            log(f"generating {args.repositories:,} repositories and one with {args.tags:,} tags")
            populate(env, args.repositories, args.tags)
        else:  # generated by older code: its schema follows this code's migrations
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
            )
        if args.keep:
            log(f"kept: --database-url {database_url}")
        searches = measure_searches(env, args.runs, args.clients, "PostgreSQL", args.changed)
        searches["floor"] = measure_floor(env, args.clients)
        return searches, measure_pages(env, args.requests)


def run_sqlite(args, env: dict[str, str], workdir: str):
    env = env | {"BERTH_DATA_DIR": workdir + "/sqlite"}
    log(f"generating {args.sqlite_repositories:,} repositories in SQLite")
    populate(env, args.sqlite_repositories, 100)
    return measure_searches(env, args.runs, args.clients, "SQLite", args.changed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=100_000)
    parser.add_argument("--sqlite-repositories", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=30, help="GETs of each page")
    parser.add_argument(
        "--changed",
        type=float,
        default=0.1,
        help="share of the catalog whose rows are updated (download counts) before measuring, "
        "as in a catalog in use between vacuums; 0 measures it just after its vacuum",
    )
    parser.add_argument("--database-url", help="a database generated by an earlier --keep")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env |= {"DJANGO_SETTINGS_MODULE": "gallery.settings", "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory(prefix="berth-bench-gallery-") as workdir:
        postgres, pages = (None, []) if args.no_postgresql else run_postgresql(args, env, workdir)
        sqlite = None if args.no_sqlite else run_sqlite(args, env, workdir)

    floor = (postgres or {}).pop("floor", None)
    for results in (postgres or {}).values():
        print_searches(
            results,
            repositories=args.repositories,
            bars=(150, None) if args.repositories >= 1_000_000 else (50, 100),
            clients=args.clients,
        )
    if floor:
        print_floor(floor, args.clients)
    for results in (sqlite or {}).values():
        print_searches(
            results, repositories=args.sqlite_repositories, bars=(50, 100), clients=args.clients
        )
    if pages:
        print()
        print(f"Pages of a repository with {args.tags:,} tags (PostgreSQL, default settings), ms")
        print(f"{'request':<32} {'p50':>7} {'p95':>7}  bar")
        print("-" * 60)
        for label, timings in pages:
            p95 = percentile(timings, 0.95)
            verdict = "pass" if p95 < 100 else "FAIL"
            print(f"{label:<32} {statistics.median(timings):7.1f} {p95:7.1f}  p95 < 100: {verdict}")
    return 0


@contextlib.contextmanager
def _kept_database(admin_url: str, prefix: str):
    """A new database that outlives the run (for --database-url next time)."""
    import secrets

    import psycopg
    from psycopg import sql

    name = f"{prefix}_{secrets.token_hex(6)}"
    parts = urllib.parse.urlsplit(admin_url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield parts._replace(path=f"/{name}").geturl()


if __name__ == "__main__":
    sys.exit(main())
