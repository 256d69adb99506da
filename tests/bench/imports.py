"""Benchmark: importing a large `docker save` archive with the server's memory flat.

Builds a docker save tar of --size GiB (four layers of random bytes) on disk, starts Berth
under gunicorn, uploads the archive through `POST /api/v1/repositories/{name}/-/imports`
(the body streamed from the file) and waits for the import, sampling the memory of every
gunicorn process (the import runs in a thread of the web process without REDIS_URL, on a
worker with it). Prints one table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.run import (
    MIB,
    PASSWORD,
    USERNAME,
    BenchError,
    RssSampler,
    database_for_run,
    log,
    start_berth,
)

RSS_GROWTH_MAX_MIB = 64.0
BLOCK = 8 * MIB


def random_file(path: Path, size: int) -> str:
    """`size` random bytes (a few MiB of randomness, varied per block); the sha256."""
    seed = os.urandom(BLOCK)
    hasher = hashlib.sha256()
    with open(path, "wb") as output:
        written, n = 0, 0
        while written < size:
            block = (n.to_bytes(8, "big") + seed)[: min(BLOCK, size - written)]
            output.write(block)
            hasher.update(block)
            written += len(block)
            n += 1
    return hasher.hexdigest()


def build_archive(work: Path, size: int) -> Path:
    """A docker save tar of about `size` bytes: four layer tars and their config."""
    log(f"building a {size / 2**30:.1f} GiB docker save archive")
    layer_paths, diff_ids = [], []
    for i in range(4):
        payload = work / f"payload{i}"
        random_file(payload, size // 4)
        layer = work / f"layer{i}.tar"
        with tarfile.open(layer, "w") as archive:
            archive.add(payload, arcname=f"data{i}.bin")
        payload.unlink()
        hasher = hashlib.sha256()
        with open(layer, "rb") as handle:
            while chunk := handle.read(BLOCK):
                hasher.update(chunk)
        layer_paths.append(layer)
        diff_ids.append("sha256:" + hasher.hexdigest())
    rootfs = {"type": "layers", "diff_ids": diff_ids}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    (work / config_name).write_bytes(config)
    manifest = [{"Config": config_name, "RepoTags": ["big:1.0"],
                 "Layers": [f"layer{i}/layer.tar" for i in range(4)]}]  # fmt: skip
    (work / "manifest.json").write_text(json.dumps(manifest))
    archive_path = work / "big.tar"
    with tarfile.open(archive_path, "w") as archive:
        archive.add(work / config_name, arcname=config_name)
        for i, layer in enumerate(layer_paths):
            archive.add(layer, arcname=f"layer{i}/layer.tar")
        archive.add(work / "manifest.json", arcname="manifest.json")
    for layer in layer_paths:
        layer.unlink()
    return archive_path


def request(port: int, method: str, path: str, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=float, default=2.0, help="archive size in GiB")
    args = parser.parse_args(argv)
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    auth = {"Authorization": f"Basic {basic}"}
    with tempfile.TemporaryDirectory(prefix="berth-bench-import-") as scratch:
        work = Path(scratch)
        archive = build_archive(work, int(args.size * 2**30))
        size = archive.stat().st_size
        with (
            database_for_run(os.environ.get("DATABASE_URL", "")) as database_url,
            start_berth(work, database_url) as berth,
        ):
            created = json.dumps({"name": f"{USERNAME}/big"})
            headers = {**auth, "Content-Type": "application/json"}
            status, body = request(berth.port, "POST", "/api/v1/repositories", created, headers)
            if status != 201:
                raise BenchError(f"create: {status} {body[:300]!r}")
            for _ in range(40):  # every worker loads its code before memory is measured
                request(berth.port, "GET", f"/api/v1/repositories/{USERNAME}/big", headers=auth)
                request(berth.port, "POST", f"/api/v1/repositories/{USERNAME}/big/-/imports",
                        b"", {**auth, "Content-Length": "0"})  # fmt: skip
            with RssSampler(berth.process.pid) as memory:
                started = time.monotonic()
                with open(archive, "rb") as handle:
                    status, body = request(
                        berth.port, "POST", f"/api/v1/repositories/{USERNAME}/big/-/imports",
                        handle, {**auth, "Content-Type": "application/octet-stream",
                                 "Content-Length": str(size)},
                    )  # fmt: skip
                uploaded = time.monotonic()
                if status != 202:
                    raise BenchError(f"upload: {status} {body[:300]!r}")
                url = json.loads(body)["url"].split("127.0.0.1", 1)[1].split("/", 1)[1]
                state = {}
                while state.get("state") not in ("done", "failed"):
                    time.sleep(0.5)
                    berth.check_alive()
                    _, raw = request(berth.port, "GET", "/" + url, headers=auth)
                    state = json.loads(raw)
                finished = time.monotonic()
            if state["state"] != "done":
                raise BenchError(f"import failed: {state.get('message')}")
    growth = (memory.peak - memory.baseline) / MIB
    flat = "pass" if growth < RSS_GROWTH_MAX_MIB else "FAIL"
    rate = size / (uploaded - started) / 1e6
    rows = [
        ("archive", f"{size / 2**30:.2f} GiB"),
        ("upload (one streamed request)", f"{uploaded - started:.1f} s, {rate:.0f} MB/s"),
        ("import after upload", f"{finished - uploaded:.1f} s"),
        ("peak RSS of all gunicorn processes", f"{memory.peak / MIB:.0f} MiB"),
        (
            "growth during upload and import",
            f"{growth:.1f} MiB (bar < {RSS_GROWTH_MAX_MIB:.0f}: {flat})",
        ),
        ("by process", memory.growth_by_process()),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nArchive import (docker save), Berth under gunicorn")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0 if flat == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
