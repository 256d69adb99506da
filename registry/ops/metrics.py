"""Prometheus metrics (prometheus_client), across gunicorn's worker processes.

Counted as things happen: requests and their latency by route, blob bytes served, pulls,
pushes, blob uploads. Read when scraped: garbage collection runs (from the Collection
table), the task queue's depth (from Redis), and the lag of subsystems that register a
reader with `register_lag` (vulnerability scanning and replication, when they exist).

Under gunicorn, deploy/gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a directory
that every worker writes its counters to (multiprocess mode); a scrape, answered by any
worker, adds them all up.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

REQUESTS = Counter(
    "berth_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "berth_http_request_duration_seconds",
    "Time to answer a request (to the first byte of a streamed body)",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BYTES_SERVED = Counter(
    "berth_blob_bytes_served_total", "Blob bytes sent to clients, by how", ["delivery"]
)
PULLS = Counter("berth_pulls_total", "Manifest GETs (pulls)")
PUSHES = Counter("berth_pushes_total", "Manifests pushed")
BLOB_UPLOADS = Counter("berth_blob_uploads_total", "Blobs uploaded and verified")
BLOB_UPLOAD_BYTES = Counter("berth_blob_upload_bytes_total", "Bytes of blobs uploaded")
CACHE = Counter(
    "berth_cache_requests_total",
    "Pulls of cached repositories, by what the cache did (hit, revalidated, miss, stale, "
    "linked, failed)",
    ["kind", "result"],
)
CACHE_BYTES = Counter("berth_cache_fetched_bytes_total", "Blob bytes fetched from upstreams")

_lags: dict[str, Callable[[], float | None]] = {}


def register_lag(subsystem: str, read: Callable[[], float | None]) -> None:
    """`read()` tells how far behind `subsystem` is, in seconds (None: nothing to say)."""
    _lags[subsystem] = read


class _Scraped:
    """Metrics read when scraped: from the database and the broker, the same in every
    process (so not summed across workers)."""

    def collect(self):
        yield from _collections()
        yield _queue_depth()
        lag = GaugeMetricFamily(
            "berth_lag_seconds",
            "How far behind a background subsystem is (scanning, replication)",
            labels=["subsystem"],
        )
        for subsystem in ("scan", "replication", *sorted(set(_lags) - {"scan", "replication"})):
            read = _lags.get(subsystem)
            value = read() if read is not None else None
            if value is not None:
                lag.add_metric([subsystem], value)
        yield lag


def _collections():
    from django.db.models import Count, Max, Sum

    from ..models import Collection

    done = Collection.objects.filter(dry_run=False, finished_at__isnull=False).aggregate(
        runs=Count("id"), blobs=Sum("blobs"), freed=Sum("bytes_freed"), last=Max("finished_at")
    )
    runs = CounterMetricFamily("berth_gc_runs", "Garbage collection runs finished")
    runs.add_metric([], done["runs"] or 0)
    yield runs
    blobs = CounterMetricFamily("berth_gc_reclaimed_blobs", "Blobs reclaimed by collection")
    blobs.add_metric([], done["blobs"] or 0)
    yield blobs
    freed = CounterMetricFamily("berth_gc_reclaimed_bytes", "Bytes reclaimed by collection")
    freed.add_metric([], done["freed"] or 0)
    yield freed
    last = GaugeMetricFamily(
        "berth_gc_last_run_timestamp_seconds", "When the last collection finished"
    )
    if done["last"] is not None:
        last.add_metric([], done["last"].timestamp())
    yield last


def _queue_depth():
    from django.conf import settings

    depth = GaugeMetricFamily(
        "berth_task_queue_depth", "Tasks waiting in the Celery queue", labels=["queue"]
    )
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
            depth.add_metric([queue], client.llen(queue))
        except Exception:  # noqa: S110 - the broker being down is for readiness to say
            pass
    else:
        depth.add_metric([queue], 0)
    return depth


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(DEFAULT_REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(_Scraped())
    return generate_latest(registry)
