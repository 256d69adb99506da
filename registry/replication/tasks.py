"""Replication's Celery tasks, its listener for registry events, and its schedule.

- `on_registry_event` (in registry.services.SUBSYSTEMS): a push or delete in a repository
  that a ready rule selects marks it changed and queues its replication, once per burst.
- `replicate_all` (on the beat, every BERTH_REPLICATION_INTERVAL): every repository of every
  ready rule, to catch up what events missed and to check the copies.
- `replicate_repository`: one rule and repository; acks_late and reject_on_worker_lost, so a
  run whose worker died is delivered again, and idempotent (services). Transient failures
  (the destination down, slow or rate-limiting) are retried with exponential backoff and
  jitter, up to BERTH_REPLICATION_RETRIES times; the others wait for a person (the error
  is in the rule's status) or the next scheduled run.

Without a broker (the embedded mode), runs go to a thread of the web process after the
push has answered, one at a time.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connections

from registry import names

from . import services
from .models import ReplicationRule

log = logging.getLogger("registry.replication")
PENDING_SECONDS = 300  # a queued marker outlives a lost task by at most this long


def _pending_key(rule_id: int, name: str) -> str:
    return f"replication:pending:{rule_id}:{name}"


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=(OperationalError,)
)
def replicate_repository(self, rule_id: int, name: str) -> str:
    cache.delete(_pending_key(rule_id, name))  # later events queue a new run
    try:
        outcome = services.replicate(rule_id=rule_id, name=name)
    except services.ReplicationFailed as failed:
        # Eager (no broker): no retrying in the request; the schedule catches up.
        retry = failed.transient and not self.request.is_eager
        if retry and self.request.retries < settings.BERTH_REPLICATION_RETRIES:
            if failed.retry_after is not None:
                countdown = failed.retry_after
            else:
                countdown = random.uniform(0, min(600, 5 * 2**self.request.retries))  # noqa: S311
            raise self.retry(countdown=countdown, max_retries=None) from failed
        return f"failed: {failed.message}"
    if outcome.again:
        enqueue(rule_id, name)
    return outcome.status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def replicate_all() -> int:
    """Every repository of every ready rule (and those with copies whose source is gone)."""
    queued = 0
    for rule in ReplicationRule.objects.select_related("namespace", "target"):
        if not rule.ready:
            continue
        wanted = set(services.repositories_of(rule))
        wanted |= set(rule.tags.values_list("repository_name", flat=True).distinct())
        for name in sorted(wanted):
            enqueue(rule.pk, name)
            queued += 1
    return queued


# -- starting runs ------------------------------------------------------------------------------

_background: ThreadPoolExecutor | None = None
_background_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _background
    with _background_lock:
        if _background is None:
            _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-replication")
        return _background


def _in_background(rule_id: int, name: str) -> None:
    try:
        replicate_repository.apply(args=(rule_id, name))
    except Exception:  # a background thread has nobody to raise to
        log.exception("replication of %s by rule %s failed", name, rule_id)
    finally:
        connections.close_all()


def enqueue(rule_id: int, name: str) -> None:
    """Queue a run of `rule_id` for `name`, unless one is queued already."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if settings.BERTH_BACKGROUND_INLINE:
            replicate_repository.apply(args=(rule_id, name))
        else:
            _executor().submit(_in_background, rule_id, name)
        return
    if cache.add(_pending_key(rule_id, name), 1, PENDING_SECONDS):
        replicate_repository.apply_async((rule_id, name), countdown=1)


def replicate_now(rule: ReplicationRule, name: str | None = None) -> list[str]:
    """ "Replicate now": queue every repository the rule selects (or one)."""
    wanted = [name] if name else services.repositories_of(rule)
    for each in wanted:
        services.mark_changed(rule, each)
        cache.delete(_pending_key(rule.pk, each))
        enqueue(rule.pk, each)
    return wanted


# -- the registry's events ----------------------------------------------------------------------


def on_registry_event(event) -> None:
    """Told of every registry event after commit (registry.services.SUBSYSTEMS)."""
    if event.action not in ("push", "delete"):
        return
    namespace = names.namespace_of(event.repository)
    if not namespace:
        return
    rules = ReplicationRule.objects.filter(namespace__name=namespace, enabled=True).select_related(
        "namespace", "target"
    )
    for rule in rules:
        if rule.ready and rule.matches(event.repository):
            services.mark_changed(rule, event.repository)
            enqueue(rule.pk, event.repository)
