"""Pull counting without a database write per pull.

Every manifest GET adds one to an in-process counter; the counters are written in one
statement per batch: every BERTH_PULL_FLUSH_SECONDS by a background thread of the process
(started with its first pull, so counts arrive whatever the traffic), at once when
FLUSH_PULLS pulls have piled up, and when the process exits (gunicorn's worker_exit hook
and atexit: a restarted worker keeps its counts). A worker killed with SIGKILL loses at
most one interval of counts.

A pull is counted once per client, repository and tag within BERTH_PULL_COUNT_WINDOW
seconds. The client is its address and its credential (the token's id, or the account):
each run of docker, podman or skopeo fetches a new token, so separate pulls count, while a
loop of GETs from one address with one token (or none) counts once. The child manifest a
client fetches by digest right after resolving a tag is part of that pull, not another.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from . import services
from .models import PullCount

FLUSH_PULLS = 5_000

log = logging.getLogger(__name__)
_lock = threading.Lock()
_recent: dict[tuple, float] = {}  # (client, repository, tag) -> when last counted
_RECENT_MAX = 50_000
_pending: Counter[tuple[int, str, object]] = Counter()
_pending_pulls = 0
_flusher: threading.Thread | None = None


def continues_a_pull(repository_id: int, tag: str, client: tuple) -> bool:
    """Is this a by-digest GET of a platform manifest right after the same client resolved
    a tag of the repository (the second half of one pull)?"""
    window = settings.BERTH_PULL_COUNT_WINDOW
    if tag or not client or not window:
        return False
    return time.monotonic() - _recent.get((client, repository_id, None), -window) < window


def record(repository_id: int, tag: str, client: tuple = ()) -> None:
    """Count one pull of `tag` ("" for a pull by digest) in the repository by `client`
    (address and credential), unless that client pulled it within the window."""
    global _pending_pulls
    now = time.monotonic()
    window = settings.BERTH_PULL_COUNT_WINDOW
    key = (repository_id, tag, timezone.now().date())
    with _lock:
        if window and client:
            seen, pulled = (client, repository_id, tag), (client, repository_id, None)
            if now - _recent.get(seen, -window) < window or (
                not tag and now - _recent.get(pulled, -window) < window
            ):
                return
            if len(_recent) >= _RECENT_MAX:
                _recent.clear()
            _recent[seen] = _recent[pulled] = now
        _pending[key] += 1
        _pending_pulls += 1
        due = _pending_pulls >= FLUSH_PULLS
        if _flusher is None and settings.BERTH_PULL_FLUSH_SECONDS:
            _start_flusher()
    if due:
        flush()


def _start_flusher() -> None:
    """Start the thread that writes counts every BERTH_PULL_FLUSH_SECONDS (under _lock)."""
    global _flusher
    _flusher = threading.Thread(target=_flush_forever, name="berth-pull-counts", daemon=True)
    _flusher.start()


def _flush_forever() -> None:
    while True:
        time.sleep(settings.BERTH_PULL_FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # keep counting: the next round writes what this one could not
            log.exception("could not write pull counts")
        finally:
            connection.close()  # this thread's own connection


def flush() -> None:
    """Write every pending count (upsert: count = count + pending)."""
    global _pending_pulls
    with _lock:
        batch = dict(_pending)
        _pending.clear()
        _pending_pulls = 0
    if not batch:
        return
    table = PullCount._meta.db_table
    # The table name comes from the model; every value is a bound parameter.
    sql = (
        f"INSERT INTO {table} (repository_id, tag, day, count) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (repository_id, tag, day) "
        f"DO UPDATE SET count = {table}.count + excluded.count"
    )
    rows = [(repo, tag, day, count) for (repo, tag, day), count in batch.items()]
    _write(sql, rows)
    for repository_id in {repo for repo, _, _ in batch}:
        services.notify(services.RegistryEvent("pull", repository_id, ""))


def _write(sql: str, rows: list[tuple]) -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
    except DatabaseError:
        # e.g. a repository deleted since its pulls were counted; keep the others.
        log.warning("could not write a batch of pull counts; retrying row by row")
        for row in rows:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, row)
            except DatabaseError:
                pass


def discard() -> None:
    """Forget pending counts without writing them (a test starting afresh)."""
    global _pending_pulls
    with _lock:
        _pending.clear()
        _recent.clear()
        _pending_pulls = 0


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # the process is going away; never block its exit
        log.exception("could not write pull counts at exit")


atexit.register(_flush_at_exit)
