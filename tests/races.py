"""Two requests racing, made to meet at one chosen moment (PostgreSQL: SQLite's one write lock
serializes them already).

    needs_two_connections()
    threads = meanwhile(monkeypatch, Tag.objects, "update_or_create", delete)
    client.push_manifest(...)           # delete() runs as the push points its tag
    finish(threads)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from tests.conftest import IN_CI


def needs_two_connections() -> None:
    """Skip (fail in CI) unless the tests run on PostgreSQL."""
    if connection.vendor != "postgresql":
        (pytest.fail if IN_CI else pytest.skip)("a race of two connections (DATABASE_URL)")


def meanwhile(monkeypatch, target, name: str, action: Callable[[], None]) -> list:
    """The first call of `target.name` starts `action` on a thread (its own database
    connection) and gives it a second before it goes on: `action` gets as far as it can
    while the caller is at that call. Returns the threads, for finish()."""
    original, threads = getattr(target, name), []

    def run():
        try:
            action()
        finally:
            connection.close()

    def action_then_go_on(*args, **kwargs):
        if not threads:
            threads.append(threading.Thread(target=run))
            threads[0].start()
            threads[0].join(timeout=1)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, action_then_go_on)
    return threads


def finish(threads: list) -> None:
    for thread in threads:
        thread.join()
