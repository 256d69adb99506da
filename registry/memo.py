"""A small per-process memo of what is worked out from immutable content (a manifest never
changes once stored), keyed by its digest, least recently used first out. Thread-safe:
gunicorn's gthread workers share it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class DigestMemo(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> V | None:
        with self._lock:
            value = self._values.get(digest)
            if value is not None:
                self._values.move_to_end(digest)
            return value

    def put(self, digest: str, value: V) -> V:
        with self._lock:
            self._values[digest] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def __contains__(self, digest: str) -> bool:
        with self._lock:
            return digest in self._values

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
