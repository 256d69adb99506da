"""The pull-through cache and replication against the reference registry, in the same run:
`make bench` (after tests/bench/run.py).

Starts Debian's `docker-registry` (distribution 2.8, the upstream and the replication
destination) and Berth under gunicorn (as configured by default: encryption on) with a
cache rule `hub/` -> the reference, then measures, in rounds, each on content neither has
seen before:

- **cold pull**: an image of 4 layers pulled with `skopeo copy … dir:` from the reference
  directly, and through Berth's cache (a miss: fetched, streamed and stored); and one large
  blob with curl, both ways;
- **warm pull**: the same again through the cache (served by Berth), beside a pull of the
  same image pushed to Berth itself (a local pull) and the reference;
- **manifest GET** (wrk) of a cached tag, of a local tag, and of the reference;
- **replication** of a 20-tag repository of 1 GiB to the reference (`manage.py replicate`),
  beside `skopeo copy` of the same 20 tags, and a second run with nothing to copy.

Prints one table (medians); progress goes to stderr. Exit code 0 whatever the numbers.

    .venv/bin/python tests/bench/cache.py            # about 4 minutes
    .venv/bin/python tests/bench/cache.py --quick    # smaller content, one round
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: make `tests` importable

from tests.bench.run import (  # noqa: E402
    ACCEPT,
    MB,
    MIB,
    BenchError,
    Http,
    LargeBlob,
    Target,
    expect,
    location_path,
    log,
    registry_version,
    start_berth,
    start_reference,
    tail,
    with_query,
    wrk,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
STAFF = ("benchroot", "benchroot-pass-123")


# -- content ----------------------------------------------------------------------------------


def auth(target: Target, repository: str, *, push: bool = False) -> dict[str, str]:
    return target.auth(repository, push=push)


def push_file(target: Target, repository: str, path: Path, digest: str) -> None:
    headers = auth(target, repository, push=True)
    http_ = Http(target.port)
    started = expect(
        http_.request("POST", f"/v2/{repository}/blobs/uploads/", headers=headers),
        202,
        f"{target.name}: start upload",
    )
    put = with_query(location_path(started.headers["Location"]), digest=digest)
    argv = ["curl", "-sS", "-X", "PUT", "-T", str(path), "-o", "/dev/null", "-w", "%{http_code}"]
    argv += ["-H", "Expect:", "-H", "Content-Type: application/octet-stream"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    done = subprocess.run([*argv, target.url + put], capture_output=True, text=True)
    http_.close()
    if done.stdout.strip() != "201":
        raise BenchError(f"{target.name}: blob PUT answered {done.stdout!r} {done.stderr[-300:]}")


def push_bytes(target: Target, repository: str, data: bytes) -> str:
    import hashlib

    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    headers = auth(target, repository, push=True)
    http_ = Http(target.port)
    started = expect(
        http_.request("POST", f"/v2/{repository}/blobs/uploads/", headers=headers),
        202,
        f"{target.name}: start upload",
    )
    put = with_query(location_path(started.headers["Location"]), digest=digest)
    headers = {**headers, "Content-Type": "application/octet-stream"}
    expect(http_.request("PUT", put, body=data, headers=headers), 201, f"{target.name}: blob")
    http_.close()
    return digest


def push_image(target: Target, repository: str, tag: str, layers: list[LargeBlob]) -> int:
    """Push an image of `layers` (their files as they are now); returns its size in bytes."""
    import hashlib

    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"},
         "created": f"{time.time()}"}
    ).encode()  # fmt: skip
    config_digest = push_bytes(target, repository, config)
    for layer in layers:
        push_file(target, repository, layer.path, layer.digest)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer.digest,
                    "size": layer.size,
                }
                for layer in layers
            ],
        }
    ).encode()
    headers = {**auth(target, repository, push=True), "Content-Type": OCI_MANIFEST}
    response = Http(target.port).request(
        "PUT", f"/v2/{repository}/manifests/{tag}", body=manifest, headers=headers
    )
    expect(response, 201, f"{target.name}: manifest")
    assert hashlib  # the digests come from the layers themselves
    return sum(layer.size for layer in layers) + len(config)


# -- pulls ------------------------------------------------------------------------------------


def skopeo_pull(reference: str, workdir: Path) -> float:
    """Seconds `skopeo copy docker://reference dir:` takes (it verifies every digest)."""
    destination = workdir / "pulled"
    shutil.rmtree(destination, ignore_errors=True)
    argv = ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{reference}"]
    began = time.perf_counter()
    done = subprocess.run([*argv, f"dir:{destination}"], capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    shutil.rmtree(destination, ignore_errors=True)
    if done.returncode:
        raise BenchError(f"skopeo copy {reference} failed: {done.stderr[-500:]}")
    return elapsed


def curl_pull(target: Target, repository: str, digest: str, size: int, push=False) -> float:
    """MB/s of one blob GET into /dev/null (`push`: with a push token, for a repository
    that has blobs and no manifest yet)."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    for key, value in auth(target, repository, push=push).items():
        argv += ["-H", f"{key}: {value}"]
    done = subprocess.run(
        [*argv, f"{target.url}/v2/{repository}/blobs/{digest}"], capture_output=True, text=True
    )
    status, received, seconds = [*done.stdout.split(), "", "", ""][:3]
    if status != "200" or int(received or 0) != size:
        raise BenchError(f"{target.name}: GET answered {done.stdout!r} {done.stderr[-300:]}")
    return size / float(seconds) / MB


def manage(workdir: Path, berth: Target, *args: str) -> str:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env |= {"BERTH_DATA_DIR": str(workdir / "berth"), "DJANGO_SETTINGS_MODULE": "gallery.settings"}
    if berth.database_url:
        env["DATABASE_URL"] = berth.database_url
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise BenchError(f"manage.py {args[0]} failed:\n{done.stdout[-1000:]}{done.stderr[-2000:]}")
    return done.stdout


SET_UP = """
from django.contrib.auth import get_user_model
from registry.cache import services as cache
get_user_model().objects.create_superuser({name!r}, password={password!r})
cache.create_rule(prefix="hub", upstream_url={url!r}, allow_private_networks=True)
"""
# Made once the repository is pushed: no push event starts a copy before the timed run.
REPLICATION_RULE = """
from django.contrib.auth import get_user_model
from registry.models import Namespace
from registry.replication import services
rule = services.create_rule(
    namespace=Namespace.objects.get(name="bench"), actor=get_user_model().objects.get(
    username={name!r}), filter="repl", url={url!r}, destination_namespace="replica",
    allow_private_networks=True)
print(rule.pk)
"""


# -- the run ----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure(args, workdir: Path, berth: Target, reference: Target) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    set_up = SET_UP.format(name=STAFF[0], password=STAFF[1], url=reference.url)
    manage(workdir, berth, "shell", "-c", set_up)
    layers = [LargeBlob(workdir / f"layer{i}", args.layer_mib * MIB) for i in range(4)]
    big = LargeBlob(workdir / "big", args.blob_mib * MIB)
    # Warm-up, untimed: each gunicorn worker's first request loads the URLconf and opens its
    # connections, a fixed cost paid once per process, not per pull.
    small = LargeBlob(workdir / "small", MIB)
    small.vary(1)
    push_image(reference, "library/warmup", "1", [small])
    for _ in range(2):
        skopeo_pull(f"{berth.url.removeprefix('http://')}/hub/library/warmup:1", workdir)
        skopeo_pull(f"{reference.url.removeprefix('http://')}/library/warmup:1", workdir)
    for n in range(args.rounds):
        log(f"round {n + 1} of {args.rounds}")
        for i, layer in enumerate(layers):
            layer.vary(1000 * (n + 1) + i)
        size = push_image(reference, f"library/cold{n}", "1", layers)
        big.vary(5000 + n)
        push_file(reference, f"library/raw{n}", big.path, big.digest)
        direct = f"{reference.url.removeprefix('http://')}/library/cold{n}:1"
        cached = f"{berth.url.removeprefix('http://')}/hub/library/cold{n}:1"
        order = [("direct", direct), ("cold", cached)]
        for key, source in order if n % 2 == 0 else order[::-1]:
            add(f"pull_{key}", size / skopeo_pull(source, workdir) / MB)
            log(f"  {key} pull: {samples[f'pull_{key}'][-1]:,.0f} MB/s")
        blob_order = [
            (reference, f"library/raw{n}", "blob_direct"),
            (berth, f"hub/library/raw{n}", "blob_cold"),
        ]
        for target, repository, key in blob_order if n % 2 == 0 else blob_order[::-1]:
            add(key, curl_pull(target, repository, big.digest, big.size))
            log(f"  {key}: {samples[key][-1]:,.0f} MB/s")
        # Warm: the cache serves what it stored; beside it, the same pushed to Berth.
        push_image(berth, f"bench/local{n}", "1", layers)
        push_file(berth, f"bench/rawlocal{n}", big.path, big.digest)  # provisional: no manifest
        local = f"{berth.url.removeprefix('http://')}/bench/local{n}:1"
        for key, source in (("warm", cached), ("local", local), ("reference", direct)):
            add(f"pull_{key}", size / skopeo_pull(source, workdir) / MB)
            log(f"  {key} pull: {samples[f'pull_{key}'][-1]:,.0f} MB/s")
        for target, repository, key in (
            (berth, f"hub/library/raw{n}", "blob_warm"),
            (berth, f"bench/rawlocal{n}", "blob_local"),
            (reference, f"library/raw{n}", "blob_reference"),
        ):
            push = repository.startswith("bench/")
            add(key, curl_pull(target, repository, big.digest, big.size, push=push))
            log(f"  {key}: {samples[key][-1]:,.0f} MB/s")
    if not args.no_load:
        log("manifest GET (wrk)")
        for target, repository, key in (
            (berth, "hub/library/cold0", "get_cached"),
            (berth, "bench/local0", "get_local"),
            (reference, "library/cold0", "get_reference"),
        ):
            headers = {**auth(target, repository), "Accept": ACCEPT}
            url = f"{target.url}/v2/{repository}/manifests/1"
            for _ in range(args.wrk_reps):
                rate, _ = wrk(url, headers, seconds=args.seconds, connections=32)
                add(key, rate)
            log(f"  {key}: {median(samples[key]):,.0f} req/s")
    replicate(args, workdir, berth, reference, add)
    return samples


def replicate(args, workdir, berth, reference, add) -> None:
    count = 20
    log(f"replication: {count} tags, {args.replication_mib} MiB in all")
    layer = LargeBlob(workdir / "replicated", args.replication_mib * MIB // count)
    pushed = 0
    for i in range(count):
        layer.vary(9000 + i)
        pushed += push_image(berth, "bench/repl", f"v{i + 1:02d}", [layer])
    add("replicated_bytes", pushed)
    rule = REPLICATION_RULE.format(name=STAFF[0], url=reference.url)
    rule_id = int(manage(workdir, berth, "shell", "-c", rule).split()[-1])
    began = time.perf_counter()
    manage(workdir, berth, "replicate", "--rule", str(rule_id), "--repository", "bench/repl")
    add("replication", time.perf_counter() - began)
    log(f"  replication: {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    manage(workdir, berth, "replicate", "--rule", str(rule_id), "--repository", "bench/repl")
    add("replication_again", time.perf_counter() - began)
    began = time.perf_counter()
    host = berth.url.removeprefix("http://")
    for i in range(count):
        done = subprocess.run(
            ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
             f"docker://{host}/bench/repl:v{i + 1:02d}",
             f"docker://{reference.url.removeprefix('http://')}/skopeo/repl:v{i + 1:02d}"],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise BenchError(f"skopeo copy failed: {done.stderr[-500:]}")
    add("skopeo_copy", time.perf_counter() - began)
    log(f"  skopeo copy of the same tags: {time.perf_counter() - began:.1f} s")


def table(samples: dict[str, list[float]], args) -> str:
    m = {key: median(values) for key, values in samples.items()}

    def ratio(a: str, b: str) -> str:
        return f"{m[a] / m[b]:.2f}x" if m.get(a) and m.get(b) else ""

    rows = [
        ("figure", "Berth", "reference", "ratio", "bar"),
        ("---", "---:", "---:", "---:", "---"),
        (f"cold pull through the cache, skopeo (4 x {args.layer_mib} MiB layers)",
         f"{m['pull_cold']:,.0f} MB/s", f"{m['pull_direct']:,.0f} MB/s (direct)",
         ratio("pull_cold", "pull_direct"), ">= 0.8x"),
        (f"cold pull through the cache, curl (one {args.blob_mib} MiB blob)",
         f"{m['blob_cold']:,.0f} MB/s", f"{m['blob_direct']:,.0f} MB/s (direct)",
         ratio("blob_cold", "blob_direct"), ""),
        ("warm pull through the cache, skopeo", f"{m['pull_warm']:,.0f} MB/s",
         f"{m['pull_reference']:,.0f} MB/s", ratio("pull_warm", "pull_reference"),
         f"= local pull ({ratio('pull_local', 'pull_reference')})"),
        ("local pull from Berth, skopeo", f"{m['pull_local']:,.0f} MB/s",
         f"{m['pull_reference']:,.0f} MB/s", ratio("pull_local", "pull_reference"), ""),
        ("warm blob through the cache, curl", f"{m['blob_warm']:,.0f} MB/s",
         f"{m['blob_reference']:,.0f} MB/s", ratio("blob_warm", "blob_reference"),
         f"= local ({ratio('blob_local', 'blob_reference')})"),
        ("local blob from Berth, curl", f"{m['blob_local']:,.0f} MB/s",
         f"{m['blob_reference']:,.0f} MB/s", ratio("blob_local", "blob_reference"), ""),
    ]  # fmt: skip
    if "get_cached" in m:
        rows += [
            ("manifest GET of a cached tag (fresh)", f"{m['get_cached']:,.0f} req/s",
             f"{m['get_reference']:,.0f} req/s", ratio("get_cached", "get_reference"),
             f"= local ({ratio('get_local', 'get_reference')})"),
            ("manifest GET of a local tag", f"{m['get_local']:,.0f} req/s",
             f"{m['get_reference']:,.0f} req/s", ratio("get_local", "get_reference"), ""),
        ]  # fmt: skip
    size = m["replicated_bytes"]
    rows += [
        (f"replication of 20 tags, {size / 2**30:.2f} GiB, to the reference",
         f"{m['replication']:.1f} s ({size / m['replication'] / MB:,.0f} MB/s)",
         f"{m['skopeo_copy']:.1f} s (skopeo copy, tag by tag)",
         ratio("skopeo_copy", "replication"), ""),
        ("replication again, nothing to copy", f"{m['replication_again']:.1f} s", "", "", ""),
    ]  # fmt: skip
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small content, one round")
    parser.add_argument("--rounds", type=int, help="rounds of pulls (default 3)")
    parser.add_argument("--layer-mib", type=int, help="each of the 4 layers (default 128)")
    parser.add_argument("--blob-mib", type=int, help="the curl blob (default 512)")
    parser.add_argument("--replication-mib", type=int, help="the 20 tags in all (default 1024)")
    parser.add_argument("--seconds", type=float, help="each wrk run (default 5)")
    parser.add_argument("--wrk-reps", type=int, help="wrk runs per figure (default 3)")
    parser.add_argument("--no-load", action="store_true", help="no manifest GET load")
    args = parser.parse_args(argv)
    defaults = (1, 16, 64, 128, 2, 1) if args.quick else (3, 128, 512, 1024, 5, 3)
    names = ("rounds", "layer_mib", "blob_mib", "replication_mib", "seconds", "wrk_reps")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("curl", "wrk", "skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            log(f"bench: {tool} is not installed")
            return 1
    began = time.monotonic()
    admin_url = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="berth-bench-cache-") as tmp:
        workdir = Path(tmp)
        try:
            with contextlib.ExitStack() as stack:
                reference = stack.enter_context(start_reference(workdir))
                # Thousands of anonymous manifest GETs from one address: no pull limit.
                unlimited = {"BERTH_RATELIMIT_ANONYMOUS_PULLS": "0"}
                berth = stack.enter_context(
                    start_berth(workdir, admin_url, name="Berth", env_extra=unlimited)
                )
                samples = measure(args, workdir, berth, reference)
        except (BenchError, OSError) as error:
            log(f"bench: could not run: {error}")
            for path in workdir.glob("*.log"):
                log(f"--- the end of {path.name} ---\n{tail(path)}")
            return 1
    workers = os.environ.get("GUNICORN_WORKERS") or str((os.cpu_count() or 1) * 2)
    print()
    print(
        f"The pull-through cache and replication vs the reference registry (distribution "
        f"{registry_version()}), same run, {os.cpu_count()} CPUs, loopback; medians of "
        f"{args.rounds} rounds, each on content not seen before. Berth: gunicorn {workers} "
        f"workers, {'PostgreSQL' if admin_url else 'SQLite'}, encryption on; MB = 10^6 bytes."
    )
    print()
    print(table(samples, args))
    print(f"\n({time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
