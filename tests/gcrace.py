"""Garbage collection racing pushes and mounts of the same blobs, against a live server.

Threads push images that share one layer (uploaded again, or mounted from another
repository) and delete tags, while `manage.py gc` runs again and again with a short grace
period and untagged manifests reclaimed. Afterwards: every manifest that was accepted and
is still tagged pulls whole, blob by blob; and one last collection with no grace leaves no
blob that nothing references, and no stored bytes without a record.

Used by tests/registry/storage/test_gc_race.py (seconds) and tests/bench/gc_soak.py (a
minute and more).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHECK = """
import json
from registry.models import Blob, RepositoryBlob, Manifest
from registry.storage import stores
held = set(RepositoryBlob.objects.values_list("blob_id", flat=True))
used = set(Manifest.blobs.through.objects.values_list("blob_id", flat=True))
rows = set(Blob.objects.values_list("digest", flat=True))
stored = [key for key, _, _ in stores.blob_store().listing() if key.startswith("sha")]
print(json.dumps({
    "blobs": len(rows),
    "unreferenced": Blob.objects.exclude(pk__in=held | used).count(),
    "held_unused": len(held - used),
    "stored": len(stored),
    "stored_without_record": sum(
        1 for key in stored if f"{key.split('/')[0]}:{key.split('/')[-1]}" not in rows
    ),
}))
"""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Race:
    pushes: int = 0
    refused: int = 0  # a push the registry refused (its layer collected meanwhile): allowed
    mounts: int = 0
    collections: int = 0
    reclaimed: dict = field(default_factory=lambda: {"manifests": 0, "links": 0, "blobs": 0})
    accepted: list = field(default_factory=list)  # (repository, tag, digest, [blobs])
    untagged: set = field(default_factory=set)  # (repository, tag)
    violations: list[str] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Pushes and collections go on past `stop` until this many collections have run (a
    # loaded machine starts `manage.py gc` slowly), but never past `deadline`.
    min_collections: int = 0
    deadline: float = 0.0

    def running(self, stop: float) -> bool:
        now = time.monotonic()
        return now < stop or (self.collections < self.min_collections and now < self.deadline)


class Client:
    def __init__(self, url: str, creds: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.auth = "Basic " + base64.b64encode(creds.encode()).decode()
        self.namespace = creds.split(":", 1)[0]
        self.connection = None

    def request(self, method, path, body=b"", headers=None):
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.connection.request(
                    method, path, body=body, headers={"Authorization": self.auth, **(headers or {})}
                )
                response = self.connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()


def _push_blob(client, repository, data) -> bool:
    status, _, _ = client.request(
        "POST", f"/v2/{repository}/blobs/uploads/?digest={digest_of(data)}", data
    )
    return status == 201


def _pusher(race: Race, client: Client, index: int, layer: bytes, stop: float) -> None:
    namespace = client.namespace
    repository = f"{namespace}/race-{index}"
    n = 0
    while race.running(stop):
        n += 1
        if index % 2 and n > 1:  # mount the shared layer from another repository
            status, _, _ = client.request(
                "POST",
                f"/v2/{repository}/blobs/uploads/?mount={digest_of(layer)}&from={namespace}/race-0",
            )
            if status == 201:
                with race.lock:
                    race.mounts += 1
            elif not _push_blob(client, repository, layer):
                continue
        elif not _push_blob(client, repository, layer):
            continue
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": [index, n]}).encode()
        if not _push_blob(client, repository, config):
            continue
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
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
            }
        ).encode()
        tag = f"t{n}"
        status, _, _ = client.request(
            "PUT", f"/v2/{repository}/manifests/{tag}", manifest, {"Content-Type": MANIFEST}
        )
        with race.lock:
            race.pushes += 1
            if status == 201:
                race.accepted.append(
                    (repository, tag, digest_of(manifest), [digest_of(config), digest_of(layer)])
                )
            else:
                race.refused += 1
        if n % 3 == 0:  # garbage: an older tag goes, its manifest is untagged
            old = f"t{n - 2}"
            status, _, _ = client.request("DELETE", f"/v2/{repository}/manifests/{old}")
            if status == 202:
                with race.lock:
                    race.untagged.add((repository, old))


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _collector(race: Race, env: dict, grace: int, stop: float) -> None:
    while race.running(stop):
        summary = manage(env, "gc", "--grace", str(grace)).strip().splitlines()[-1]
        # "reclaimed M manifests, L links, B blobs and N leftovers: …"
        words = summary.replace(",", "").split()
        with race.lock:
            race.collections += 1
            for kind in race.reclaimed:
                race.reclaimed[kind] += int(words[words.index(kind) - 1])


def run_race(
    *,
    url: str,
    creds: str,
    env: dict,
    seconds: float,
    threads: int = 4,
    grace: int = 1,
    min_collections: int = 0,
) -> Race:
    race = Race(min_collections=min_collections, deadline=time.monotonic() + 5 * seconds)
    env = {**env, "BERTH_GC_UNTAGGED": "reclaim", "LOG_LEVEL": "WARNING"}
    layer = os.urandom(256 * 1024)
    stop = time.monotonic() + seconds
    clients = [Client(url, creds) for _ in range(threads)]
    # The source of the mounts exists before the race starts.
    _push_blob(clients[0], f"{clients[0].namespace}/race-0", layer)
    workers = [
        threading.Thread(target=_pusher, args=(race, clients[i], i, layer, stop))
        for i in range(threads)
    ]
    workers.append(threading.Thread(target=_collector, args=(race, env, grace, stop)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    check = clients[0]
    for repository, tag, _, blob_digests in race.accepted:
        if (repository, tag) in race.untagged:
            continue
        status, _, _ = check.request("GET", f"/v2/{repository}/manifests/{tag}")
        if status != 200:
            race.violations.append(f"{repository}:{tag} answers {status}")
        for blob in blob_digests:
            status, _, body = check.request("GET", f"/v2/{repository}/blobs/{blob}")
            if status != 200 or digest_of(body) != blob:
                race.violations.append(f"{repository}@{blob} answers {status}")
    for client in clients:
        client.close()
    manage(env, "gc", "--grace", "0")
    race.final = json.loads(manage(env, "shell", "-c", CHECK).strip().splitlines()[-1])
    return race
