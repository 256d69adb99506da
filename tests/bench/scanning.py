"""Scanning benchmark: `make bench` runs it after the registry and gallery benchmarks.

- the scan of a 200 MiB Debian image: a `debootstrap --variant=minbase` root filesystem
  (cached in ~/.cache/berth-debootstrap, made on first use, as root) as one gzip layer,
  pushed through the registry's services and scanned end to end (read, catalog, match,
  store), median of 3 (bar: under 10 s);
- matching 1,000 packages against 100,000 advisories (bar: under 1 s), median of 5; the
  advisories are generated and imported through the importer, whose time is shown too.

Runs Django in this process on a fresh data directory: SQLite, or a fresh PostgreSQL
database (dropped afterwards) when DATABASE_URL is set. Prints one table; exits 0 whatever
the numbers (1 only when the benchmark could not run).

    .venv/bin/python tests/bench/scanning.py [--advisories N] [--packages N]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: make `tests` importable

from tests.pg import fresh_database  # noqa: E402

SUITE = "bookworm"
CACHE = Path(os.environ.get("BERTH_DEBOOTSTRAP_CACHE", Path.home() / ".cache/berth-debootstrap"))
MIRROR = os.environ.get("BERTH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BARS = {"scan": 10.0, "match": 1.0}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def rootfs() -> Path:
    target = CACHE / SUITE
    if (target / "var/lib/dpkg/status").exists():
        return target
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise SystemExit(f"needs {target} (debootstrap --variant=minbase {SUITE}, as root)")
    partial = CACHE / f"{SUITE}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap {SUITE} into {partial} (once)")
    subprocess.run(
        ["debootstrap", "--variant=minbase", SUITE, str(partial), MIRROR],
        check=True,
        capture_output=True,
    )
    partial.rename(target)
    return target


def layer_of(root: Path, work: Path) -> tuple[Path, int]:
    """A gzip layer of the root filesystem; (its path, its uncompressed size)."""
    plain = work / "layer.tar"
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(plain), "."],
        check=True,
    )
    size = plain.stat().st_size
    layer = work / "layer.tar.gz"
    with plain.open("rb") as source, gzip.open(layer, "wb", compresslevel=6) as target:
        shutil.copyfileobj(source, target, 1024 * 1024)
    plain.unlink()
    return layer, size


def push_image(layer: Path):
    import json

    from registry import digests, mediatypes, services

    repository = services.repository_for_push(name="bench/debian", user_id=None)

    def upload(path: Path):
        data_digest = digests.Digest("sha256", _sha256(path))
        with path.open("rb") as handle:
            chunks = iter(lambda: handle.read(1024 * 1024), b"")
            return services.upload_blob(repository=repository, digest=data_digest, chunks=chunks)

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    config_path = layer.with_name("config.json")
    config_path.write_bytes(config)
    config_blob, layer_blob = upload(config_path), upload(layer)

    def descriptor(media_type, blob):
        return {"mediaType": media_type, "digest": blob.digest, "size": blob.size}

    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": descriptor(mediatypes.OCI_CONFIG, config_blob),
        "layers": [descriptor(mediatypes.OCI_LAYER_GZIP, layer_blob)],
    }
    body = json.dumps(manifest).encode()
    stored, _ = services.commit_manifest(
        repository=repository,
        reference=str(digests.compute(body)),
        body=body,
        content_type=mediatypes.OCI_MANIFEST,
    )
    return stored


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def time_scan(manifest, runs: int) -> tuple[float, int]:
    from registry.scanning import services
    from registry.scanning.models import ImageScan

    times, tokens = [], []
    for _ in range(runs):
        services.queue_scan(manifest=manifest, force=True, enqueue=lambda m, t: tokens.append(t))
        ImageScan.objects.filter(digest=manifest.digest).update(status="queued")
        started = time.perf_counter()
        scan = services.scan_image(manifest_id=manifest.pk, token=tokens[-1])
        times.append(time.perf_counter() - started)
        if scan is None or scan.status != "done":
            raise SystemExit(f"the scan did not finish: {scan and scan.reason}")
    return statistics.median(times), scan.packages.count()


# -- advisories ---------------------------------------------------------------------------------

VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
ECOSYSTEMS = [("Debian:12", "deb"), ("PyPI", "python"), ("npm", "npm"), ("Go", "golang")]


def advisory_documents(count: int, names: dict[str, list[str]], rng: random.Random):
    for number in range(count):
        ecosystem, _ = ECOSYSTEMS[number % len(ECOSYSTEMS)]
        name = rng.choice(names[ecosystem])
        major, minor = rng.randrange(1, 9), rng.randrange(0, 30)
        fixed = f"{major}.{minor}.{rng.randrange(0, 20)}"
        if ecosystem.startswith("Debian"):
            fixed += f"-{rng.randrange(1, 5)}+deb12u{rng.randrange(1, 9)}"
        events = [{"introduced": "0"}, {"fixed": fixed}]
        affected = {
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }
        yield {
            "id": f"BENCH-{number}",
            "aliases": [f"CVE-2099-{number}"],
            "modified": "2025-01-01T00:00:00Z",
            "summary": f"synthetic advisory {number}",
            "severity": [{"type": "CVSS_V3", "score": VECTOR}],
            "affected": [affected],
        }


def time_matching(advisory_count: int, package_count: int) -> tuple[float, float, int]:
    from registry.scanning import advisories, matching
    from registry.scanning.catalogers import Package
    from registry.scanning.models import AdvisoryImport

    rng = random.Random(11)
    names = {
        ecosystem: [f"{kind}-package-{n}" for n in range(advisory_count // 40)]
        for ecosystem, kind in ECOSYSTEMS
    }
    run = AdvisoryImport.objects.create(source="bench")
    started = time.perf_counter()
    batch = []
    for document in advisory_documents(advisory_count, names, rng):
        batch.append(advisories.parse_record(document))
        if len(batch) == advisories.BATCH:
            advisories._store(batch, run)
            batch = []
    if batch:
        advisories._store(batch, run)
    imported = time.perf_counter() - started

    packages = []
    for number in range(package_count):
        ecosystem, kind = ECOSYSTEMS[number % len(ECOSYSTEMS)]
        name = rng.choice(names[ecosystem])
        version = f"{rng.randrange(1, 9)}.{rng.randrange(0, 30)}.{rng.randrange(0, 20)}"
        if kind == "deb":
            version += "-1"
        packages.append(Package(kind, name, version, ecosystem, name, version, 0, "/"))
    times, found = [], 0
    for _ in range(5):
        started = time.perf_counter()
        found = len(matching.match(packages))
        times.append(time.perf_counter() - started)
    return statistics.median(times), imported, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--advisories", type=int, default=100_000)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    root = rootfs()
    admin_url = os.environ.get("DATABASE_URL", "")
    database = (
        fresh_database(admin_url, "berth_bench_scan") if admin_url else contextlib.nullcontext()
    )
    with tempfile.TemporaryDirectory(prefix="berth-bench-scan-") as work, database as url:
        os.environ["BERTH_DATA_DIR"] = work
        os.environ["DJANGO_SETTINGS_MODULE"] = "gallery.settings"
        os.environ["BERTH_SCAN_ON_PUSH"] = "false"
        os.environ.pop("REDIS_URL", None)
        if url:
            os.environ["DATABASE_URL"] = url
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        engine = "PostgreSQL" if url else "SQLite"

        log("packing the root filesystem into a gzip layer")
        layer, raw_size = layer_of(root, Path(work))
        gzip_size = layer.stat().st_size
        manifest = push_image(layer)
        log(f"scanning ({options.runs} runs)")
        scan_time, package_count = time_scan(manifest, options.runs)
        log(f"importing {options.advisories:,} advisories and matching")
        match_time, import_time, matches = time_matching(options.advisories, options.packages)

    mib = 1024 * 1024
    rows = [
        (
            f"scan of a {raw_size / mib:.0f} MiB Debian image ({gzip_size / mib:.0f} MiB gzip, "
            f"{package_count} packages)",
            f"{scan_time:.2f} s",
            f"< {BARS['scan']:.0f} s",
            "yes" if scan_time < BARS["scan"] else "NO",
        ),
        (
            f"matching {options.packages:,} packages against {options.advisories:,} advisories "
            f"({matches:,} findings)",
            f"{match_time:.3f} s",
            f"< {BARS['match']:.0f} s",
            "yes" if match_time < BARS["match"] else "NO",
        ),
        (f"importing {options.advisories:,} advisories", f"{import_time:.1f} s", "", ""),
    ]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    print(f"\nScanning ({engine}, median of runs)\n")
    print(f"{'measure'.ljust(width)}  {'time':>9}  {'bar':>6}  within")
    for name, value, bar, ok in rows:
        print(f"{name.ljust(width)}  {value:>9}  {bar:>6}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
