"""Readiness: can this process serve? Each dependency checked, with how long it took."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection

from ..storage import keys, stores


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _cache() -> str:
    key = f"berth:ready:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)
    return type(cache).__name__


def _storage() -> str:
    store = stores.blob_store()
    store.check()
    return store.kind


def _key_service() -> str:
    from django.conf import settings

    if settings.BERTH_ENCRYPTION != "on":
        return f"encryption {settings.BERTH_ENCRYPTION}"
    service = keys.key_service()
    service.check()
    return service.kind


CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "cache": _cache,
    "storage": _storage,
    "key_service": _key_service,
}


def readiness() -> tuple[bool, dict]:
    results, ready = {}, True
    for name, check in CHECKS.items():
        began = time.monotonic()
        try:
            detail = check()
            results[name] = {"ok": True, "detail": detail}
        except Exception as exc:  # a failed dependency is the answer, not an error
            ready = False
            results[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.monotonic() - began) * 1000, 1)
    return ready, results
