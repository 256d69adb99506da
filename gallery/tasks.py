"""Background work. Tasks take ids, are idempotent, and only call services.

The registry's hook (`on_registry_event`) coalesces bursts: pushing 1,000 tags to one
repository indexes it a few times, not 1,000 times. With a broker, a cache marker keeps one
task per repository pending; in the embedded mode (tasks run eagerly, no worker), a timer
thread in the web process runs it once the burst has settled, after the push answered.
"""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connections

from . import services

log = logging.getLogger(__name__)
RETRYING = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}
PENDING_SECONDS = 300  # a marker outlives a lost task by at most this long

_timers: dict[str, threading.Timer] = {}
_timers_lock = threading.Lock()


def _pending_key(task_name: str, repository_id: int) -> str:
    return f"gallery:pending:{task_name}:{repository_id}"


@shared_task(**RETRYING)
def index_repository(repository_id: int) -> None:
    cache.delete(_pending_key("index", repository_id))  # later events schedule a new run
    services.index_repository(repository_id=repository_id)


@shared_task(**RETRYING)
def refresh_downloads(repository_id: int) -> None:
    cache.delete(_pending_key("downloads", repository_id))
    services.refresh_downloads(repository_ids=[repository_id])


@shared_task(**RETRYING)
def import_archive(archive_id: str) -> None:
    from .publishing import imports

    imports.run(archive_id)


@shared_task(**RETRYING)
def send_password_reset(email: str, domain: str, use_https: bool) -> None:
    from .accounts import deliver_password_reset

    deliver_password_reset(email, domain, use_https)


_background: list[threading.Thread] = []


def run_soon(task, *args) -> None:
    """Run `task(*args)` outside the request: on a worker, or (embedded mode, no broker) in
    a thread of this process, after the response has been sent."""
    if not settings.CELERY_TASK_ALWAYS_EAGER or settings.BERTH_BACKGROUND_INLINE:
        task.delay(*args)
        return
    thread = threading.Thread(target=_run_in_thread, args=(task, args), daemon=True)
    _background[:] = [t for t in _background if t.is_alive()] + [thread]
    thread.start()


def wait_for_background(timeout: float = 10.0) -> None:
    """Wait for work handed to threads by run_soon (tests, and a clean exit)."""
    for thread in list(_background):
        thread.join(timeout)


def _run_in_thread(task, args) -> None:
    try:
        task.apply(args)
    except Exception:  # a background thread has nobody to raise to
        log.exception("task %s failed", task.name)
    finally:
        connections.close_all()


def on_registry_event(event) -> None:
    """BERTH_REGISTRY_HOOK: the registry's one way of telling the gallery what happened."""
    if event.action == "pull":
        schedule("downloads", refresh_downloads, event.repository_id)
        return
    if event.action == "update":
        # Privacy reaches the catalog at once, never after a delay. (A deleted repository
        # takes its catalog entry with it: the database cascades.)
        services.sync_privacy(repository_id=event.repository_id)
    schedule("index", index_repository, event.repository_id)


def schedule(name: str, task, repository_id: int) -> None:
    """Run `task(repository_id)` after BERTH_INDEX_DELAY seconds, once per burst of events."""
    delay = settings.BERTH_INDEX_DELAY
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        if cache.add(_pending_key(name, repository_id), 1, PENDING_SECONDS):
            task.apply_async((repository_id,), countdown=delay)
        return
    if delay <= 0:
        task.delay(repository_id)
        return
    key = _pending_key(name, repository_id)
    with _timers_lock:
        if key in _timers:
            return
        timer = threading.Timer(delay, _run_later, (key, task, repository_id))
        timer.daemon = True
        _timers[key] = timer
    timer.start()


def finish_pending(timeout: float = 10.0) -> None:
    """Run at once what timers still wait for, and let background threads finish: a process
    about to exit (gunicorn's worker_exit) would otherwise take with it the indexing of its
    last pushes and the download counts it has just written (embedded mode)."""
    with _timers_lock:
        waiting = list(_timers.items())
    for _, timer in waiting:
        timer.cancel()
        timer.join(timeout)  # one already running its task finishes it
    for key, timer in waiting:
        with _timers_lock:
            never_ran = _timers.get(key) is timer  # _run_later forgets its key first
        if never_ran:
            timer.function(*timer.args)
    wait_for_background(timeout)


def _run_later(key: str, task, repository_id: int) -> None:
    with _timers_lock:
        _timers.pop(key, None)
    try:
        task.delay(repository_id)
    except Exception:  # a background thread has nobody to raise to
        log.exception("task %s for repository %s failed", task.name, repository_id)
    finally:
        connections.close_all()  # this thread's own database connections
