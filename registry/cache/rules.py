"""Which repository names are a pull-through cache: `rule_for(name)`, asked on every pull.

The rules are few and change rarely: each process keeps them in memory and reads them
again every RELOAD_SECONDS (at once after it changed one itself, and when asked about a
repository that does not exist), so that the pull path pays no query for them.
"""

from __future__ import annotations

import threading
import time

from .models import CacheRule

RELOAD_SECONDS = 2.0

_lock = threading.Lock()
_state: dict = {"rules": (), "at": float("-inf")}


def _rules() -> tuple[CacheRule, ...]:
    now = time.monotonic()
    if now - _state["at"] < RELOAD_SECONDS:
        return _state["rules"]
    with _lock:
        if now - _state["at"] >= RELOAD_SECONDS:
            # Longest prefix first: "hub/mirror" wins over "hub" for hub/mirror/x.
            rules = sorted(CacheRule.objects.all(), key=lambda r: -len(r.prefix))
            _state["rules"], _state["at"] = tuple(rules), now
    return _state["rules"]


def rule_for(name: str, *, fresh: bool = False) -> CacheRule | None:
    """The rule whose prefix `name` is under (`hub/library/alpine` for `hub`), or None.

    `fresh`: read the rules from the database now. Asked when a repository does not exist,
    so that the first pulls under a rule just made (in another process) find it at once."""
    if fresh:
        forget()
    for rule in _rules():
        if name.startswith(rule.prefix) and name[len(rule.prefix) : len(rule.prefix) + 1] == "/":
            return rule
    return None


def forget() -> None:
    """Read the rules again at the next pull (after a change, and between tests)."""
    _state["at"] = float("-inf")
