"""Scanning's Celery tasks and its listener for registry events.

Tasks take ids, are idempotent and only call services. A scan belongs to the task holding
its token: a task redelivered after its worker died (acks_late, reject_on_worker_lost)
takes it up again, a duplicate delivery of a finished scan does nothing.

Without a broker (the embedded mode, tasks eager), a push must not wait for its scan: scans
run one at a time on a thread of the web process, after the push has answered (the idea of
gallery/tasks.py's timer thread, with a queue so that scans never run side by side).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings
from django.db import OperationalError, connections, transaction

from registry.models import Manifest

from . import services

log = logging.getLogger(__name__)

RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(**RELIABLE)
def scan_image(manifest_id: int, token: str) -> None:
    services.scan_image(manifest_id=manifest_id, token=token)


@shared_task(**RELIABLE)
def rematch_scans(scan_ids: list[int]) -> None:
    for scan_id in scan_ids:
        services.rematch(scan_id=scan_id)


# -- starting tasks -----------------------------------------------------------------------------

BACKGROUND_ATTEMPTS = 5
_background: ThreadPoolExecutor | None = None
_background_lock = threading.Lock()
_pending: set[Future] = set()


def _executor() -> ThreadPoolExecutor:
    global _background
    with _background_lock:
        if _background is None:
            _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-scan")
        return _background


def _run_in_background(task, *args) -> None:
    try:
        # No broker retries an eager task: a busy database is waited for here.
        for attempt in range(BACKGROUND_ATTEMPTS):
            try:
                task.apply(args=args, throw=True)
                return
            except (OperationalError, Retry):
                if attempt == BACKGROUND_ATTEMPTS - 1:
                    raise
                connections.close_all()
                time.sleep(0.2 * 2**attempt)
    except Exception:  # a background thread has nobody to raise to
        log.exception("%s%r failed", task.name, args)
    finally:
        connections.close_all()  # this thread's own database connections


def start(task, *args) -> None:
    """Run `task(*args)` on a worker, or (embedded mode) on the scan thread, never inline."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply_async(args)
        return
    future = _executor().submit(_run_in_background, task, *args)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def wait_for_background(timeout: float = 60.0) -> None:
    """Wait until the scan thread has nothing left to do (tests, management commands)."""
    for future in list(_pending):
        future.result(timeout=timeout)


def enqueue_scan(manifest_id: int, token: str) -> None:
    start(scan_image, manifest_id, token)


def queue_manifest(manifest: Manifest, *, force: bool = False):
    """Queue scans of a manifest (each image of an index); see services.queue_scan."""
    return services.queue_scan(manifest=manifest, force=force, enqueue=enqueue_scan)


def rescan_all() -> int:
    """Rebuild every image's findings: on workers with a broker, here without one."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return services.rescan_all()
    return services.rescan_all(rematch_ids=rematch_scans.delay)


# -- the registry's events ----------------------------------------------------------------------


def on_registry_event(event) -> None:
    """Told of every registry event after commit (registry.services.SUBSYSTEMS)."""
    if event.action != "push" or not settings.BERTH_SCAN_ON_PUSH or not event.digest:
        return
    manifest = Manifest.objects.filter(
        repository_id=event.repository_id, digest=event.digest
    ).first()
    if manifest is not None:
        with transaction.atomic():
            queue_manifest(manifest)
