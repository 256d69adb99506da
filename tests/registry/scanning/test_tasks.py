"""Scans start on push without holding the push up, and survive a worker killed mid-scan."""

import gzip
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from gallery.celery import app
from registry.models import Manifest
from registry.scanning import tasks
from registry.scanning.models import ImagePackage, ImageScan
from tests.conftest import IN_CI

from .kit import DEBIAN_OS_RELEASE, File, dpkg_entry, gz, header, push_layers, tar

ROOT = Path(__file__).resolve().parents[3]


def wait_for(condition, timeout: float = 60.0, what: str = "the scan"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := condition():
                return value
        except OperationalError:  # SQLite's shared in-memory test database: a busy table
            pass
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {timeout} s")


@pytest.mark.django_db(transaction=True)
def test_a_push_queues_a_scan_that_runs_after_the_push_answered(as_alice, settings):
    settings.BERTH_SCAN_ON_PUSH = True
    status = (dpkg_entry("coreutils", "9.1-1")).encode()
    layer = gz(tar(File("etc/os-release", DEBIAN_OS_RELEASE), File("var/lib/dpkg/status", status)))
    digest = push_layers(as_alice, "alice/app", "1.0", [layer])
    tasks.wait_for_background()
    scan = ImageScan.objects.get(digest=digest)
    assert (scan.status, scan.packages.count()) == ("done", 1)


@pytest.mark.django_db(transaction=True)
def test_without_scan_on_push_nothing_is_queued(as_alice, settings):
    settings.BERTH_SCAN_ON_PUSH = False
    digest = push_layers(as_alice, "alice/app", "1.0", [gz(tar(File("a", b"1")))])
    tasks.wait_for_background()
    assert not ImageScan.objects.filter(digest=digest).exists()


@pytest.mark.django_db(transaction=True)
def test_scan_images_all_scans_what_was_pushed_while_scanning_was_off(as_alice, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.BERTH_SCAN_ON_PUSH = False
    status = (dpkg_entry("coreutils", "9.1-1")).encode()
    layer = gz(tar(File("etc/os-release", DEBIAN_OS_RELEASE), File("var/lib/dpkg/status", status)))
    digest = push_layers(as_alice, "alice/app", "1.0", [layer])
    out = StringIO()
    call_command("scan_images", "--all", stdout=out)
    assert "1 image scans queued" in out.getvalue()
    scan = ImageScan.objects.get(digest=digest)
    assert (scan.status, scan.packages.count()) == ("done", 1)
    out = StringIO()
    call_command("scan_images", "--all", stdout=out)  # nothing left to do
    assert "0 image scans queued" in out.getvalue()


@pytest.mark.django_db
def test_the_scan_lag_is_the_age_of_the_oldest_waiting_scan():
    from datetime import timedelta

    from django.utils import timezone

    from registry.scanning import services

    assert services.lag_seconds() == 0.0
    for letter, status in (("a", "queued"), ("b", "done")):
        ImageScan.objects.create(digest="sha256:" + letter * 64, status=status)
    ImageScan.objects.filter(status="queued").update(
        queued_at=timezone.now() - timedelta(minutes=2)
    )
    assert 119 < services.lag_seconds() < 180


# -- a real worker, killed mid-scan -------------------------------------------------------------


def slow_layer(entries: int) -> bytes:
    """A layer that takes seconds to read (many empty files), then a package database."""
    status = dpkg_entry("coreutils", "9.1-1") + "\n" + dpkg_entry("apt", "2.6.1")
    member = gzip.compress(header("f", 0) * 2048, compresslevel=9)
    tail = tar(
        File("etc/os-release", DEBIAN_OS_RELEASE),
        File("var/lib/dpkg/status", status.encode()),
        end_blocks=False,
    )
    return member * (entries // 2048) + gzip.compress(tail)


def database_url() -> str:
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return (
        f"postgres://{settings['USER']}{password}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def pool_children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
def prefork_worker(settings, tmp_path):
    """A Celery worker process (prefork, one child) on a queue of its own, with Redis."""
    url = os.environ.get("REDIS_URL")
    if not url or connection.vendor != "postgresql":
        reason = "needs REDIS_URL and DATABASE_URL (PostgreSQL) for a worker in another process"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    queue = f"berth-scan-test-{secrets.token_hex(4)}"
    blobs = settings.STORAGES["blobs"]  # the test's own: a directory, or a bucket on S3
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gallery.settings",
        "DATABASE_URL": database_url(),
        "BERTH_DATA_DIR": str(tmp_path / "worker"),
        # The blobs this test stores are sealed with its master key: the worker reads them.
        "BERTH_MASTER_KEY_FILE": settings.BERTH_MASTER_KEY_FILE,
        "BERTH_BLOB_STORAGE_BACKEND": blobs["BACKEND"],
        "BERTH_BLOB_STORAGE_OPTIONS": json.dumps(blobs["OPTIONS"]),
        "BERTH_CELERY_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    argv = [sys.executable, "-m", "celery", "-A", "gallery", "worker", "--pool", "prefork"]
    argv += ["--concurrency", "1", "--queues", queue, "--loglevel", "INFO"]
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=output)
    app.conf.update(broker_url=url, task_always_eager=False, task_default_queue=queue)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    try:
        wait_for(lambda: pool_children(worker.pid), 30, "the worker's start")
        yield worker
    finally:
        app.conf.update(
            task_always_eager=True, task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE
        )
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        print(log.read_text(errors="replace")[-3000:])


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_scan_has_the_scan_redelivered_and_finished_once(
    as_alice, prefork_worker
):
    digest = push_layers(as_alice, "alice/slow", "1.0", [slow_layer(300_000)])
    tasks.queue_manifest(Manifest.objects.get(digest=digest))
    wait_for(lambda: ImageScan.objects.filter(digest=digest, status="scanning").exists())
    [child] = pool_children(prefork_worker.pid)
    os.kill(child, signal.SIGKILL)
    scan = wait_for(lambda: ImageScan.objects.filter(digest=digest, status="done").first(), 120)
    assert scan.attempts == 2
    assert ImagePackage.objects.filter(scan=scan).count() == 2


@pytest.mark.django_db
def test_scan_images_pending_says_how_many_lost_scans_it_queued_again():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("scan_images", "--pending", stdout=out)
    assert out.getvalue() == "0 lost image scans queued again\n"
