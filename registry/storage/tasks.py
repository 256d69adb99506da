"""Scheduled storage work (CELERY_BEAT_SCHEDULE): garbage collection and upload purging.

Both are idempotent and safe to kill: a collection deletes each blob under its lock, and
whatever a killed run left undone the next one does.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import gc, uploads

RETRYING = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 3,
}


@shared_task(**RETRYING)
def collect_garbage(grace: int | None = None) -> dict:
    report = gc.collect(grace=grace)
    return {"blobs": len(report.blobs), "bytes_freed": report.bytes_freed}


@shared_task(**RETRYING)
def purge_uploads() -> int:
    return uploads.purge_expired()
