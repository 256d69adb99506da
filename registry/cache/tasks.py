"""The cache's scheduled work (CELERY_BEAT_SCHEDULE): sync of recently pulled tags, expiry of
what nobody pulls. Both idempotent and safe to kill: a blob is committed whole or not at all,
and what a killed run left undone the next one does."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services

RETRYING = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 3,
}


@shared_task(**RETRYING)
def sync_recent() -> int:
    return services.sync_recent()


@shared_task(**RETRYING)
def expire_unused() -> dict:
    return services.expire_unused()
