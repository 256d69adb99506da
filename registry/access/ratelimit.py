"""Rate limits counted in the shared cache (Redis in production), right across processes.

A limit is written `COUNT/PERIOD`: `10/minute`, `100/hour`, `5/15m`, `1000/day`; `0` or an
empty value turns it off. Counting uses fixed windows: one counter per key and window,
created with `add` and bumped with `incr`, both atomic on Redis.

Checking a limit (`retry_after`) reads counters without touching them, so that a caller
already over its limit is refused before any expensive work (a password hash) is done.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

_RATE = re.compile(r"\s*(?P<count>[0-9]+)\s*/\s*(?P<n>[0-9]*)\s*(?P<unit>[a-z]+)\s*")
_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip


class Throttled(Exception):
    """Over a limit; `retry_after` is how many seconds until the window ends."""

    def __init__(self, retry_after: int, message: str = "too many requests") -> None:
        self.retry_after = max(int(retry_after), 1)
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


def parse_rate(text: str, *, setting: str = "rate") -> Rate | None:
    """`10/minute` -> Rate(10, 60); None for "0" or "" (no limit)."""
    text = (text or "").strip().lower()
    if text in {"", "0", "off", "none"}:
        return None
    match = _RATE.fullmatch(text)
    if match is None or match["unit"] not in _UNITS or int(match["count"]) < 1:
        raise ImproperlyConfigured(
            f"{setting}={text!r} is not a rate such as 10/minute, 100/hour or 5/15m"
        )
    seconds = int(match["n"] or 1) * _UNITS[match["unit"]]
    if seconds < 1:
        raise ImproperlyConfigured(f"{setting}={text!r}: the period must be at least a second")
    return Rate(int(match["count"]), seconds)


class Limiter:
    """Counts events per key (an address, a username) and says when a key is over `rate`."""

    def __init__(self, name: str, rate: Rate | None) -> None:
        self.name = name
        self.rate = rate

    def _keys(self, keys, now: float) -> dict[str, float]:
        """Cache key of each caller key in the current window -> when that window ends."""
        window = int(now // self.rate.seconds)
        ends = (window + 1) * self.rate.seconds
        result = {}
        for key in keys:
            if key:
                digest = hashlib.sha256(str(key).encode()).hexdigest()[:32]
                result[f"rl:{self.name}:{digest}:{window}"] = ends
        return result

    def retry_after(self, *keys) -> int:
        """Seconds until every key is back under the limit; 0 when none is over it."""
        if self.rate is None:
            return 0
        now = time.time()
        windows = self._keys(keys, now)
        counts = cache.get_many(list(windows))
        over = [windows[key] for key, count in counts.items() if count >= self.rate.count]
        return math.ceil(max(over) - now) if over else 0

    def check(self, *keys) -> None:
        """Raise Throttled when any key is over the limit."""
        wait = self.retry_after(*keys)
        if wait:
            raise Throttled(wait)

    def hit(self, *keys) -> None:
        """Count one event for every key."""
        if self.rate is None:
            return
        for key in self._keys(keys, time.time()):
            # add() creates the counter (atomic); incr() then bumps it (atomic on Redis).
            cache.add(key, 0, self.rate.seconds + 1)
            try:
                cache.incr(key)
            except ValueError:  # evicted between add and incr
                cache.add(key, 1, self.rate.seconds + 1)

    def consume(self, key) -> tuple[int, int]:
        """Count one event for `key`; (events in this window so far, seconds until it
        ends). One round trip to the cache in the common case (the counter exists)."""
        now = time.time()
        ((cache_key, ends),) = self._keys([key], now).items()
        try:
            count = cache.incr(cache_key)
        except ValueError:  # the window's first event (or the counter was evicted)
            created = cache.add(cache_key, 1, self.rate.seconds + 1)
            count = 1 if created else cache.incr(cache_key)
        return count, max(math.ceil(ends - now), 1)

    def take(self, *keys) -> None:
        """Check, then count: for limits on attempts rather than on failures."""
        self.check(*keys)
        self.hit(*keys)
