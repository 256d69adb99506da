"""Garbage collection racing pushes and mounts of the same blobs on a live server (a short
run; tests/bench/gc_soak.py runs it for a minute and more)."""

import pytest

from tests.gcrace import run_race

pytestmark = pytest.mark.clients


def test_collection_racing_pushes_and_mounts_never_loses_a_referenced_blob(live_registry):
    race = run_race(
        url=live_registry.url,
        creds=live_registry.alice.creds,
        env=live_registry.env,
        seconds=12,
        min_collections=2,  # past 12 s if need be: a loaded machine starts `gc` slowly
    )
    assert race.violations == []
    assert race.pushes > 10
    assert race.mounts > 0
    assert race.collections >= 2
    assert len(race.accepted) > race.refused
    assert race.final["unreferenced"] == 0
    assert race.final["held_unused"] == 0
    assert race.final["stored_without_record"] == 0
    assert race.final["stored"] == race.final["blobs"]
