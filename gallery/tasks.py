"""Background work. Tasks take ids, are idempotent, and only call services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services

RETRYING = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(**RETRYING)
def index_repository(repository_id: int) -> None:
    services.index_repository(repository_id=repository_id)


@shared_task(**RETRYING)
def refresh_downloads(repository_ids: list[int]) -> None:
    services.refresh_downloads(repository_ids=repository_ids)


def on_registry_event(event) -> None:
    """BERTH_REGISTRY_HOOK: the registry's one way of telling the gallery what happened."""
    if event.action == "pull":
        refresh_downloads.delay([event.repository_id])
    else:
        index_repository.delay(event.repository_id)
