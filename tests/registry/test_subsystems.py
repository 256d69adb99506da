"""The registry tells its own subsystems of events after commit, then the configurable hook."""

import pytest

from registry import services


@pytest.fixture
def heard(monkeypatch, settings):
    events = []
    monkeypatch.setattr(services, "SUBSYSTEMS", ("tests.registry.test_subsystems.broken",))
    monkeypatch.setitem(globals(), "_events", events)
    settings.BERTH_REGISTRY_HOOK = "tests.registry.test_subsystems.listen"
    services._listeners.cache_clear()
    yield events
    services._listeners.cache_clear()


_events: list = []


def broken(event):
    raise RuntimeError("a subsystem failed")


def listen(event):
    _events.append(event)


def test_a_push_is_told_after_commit_and_a_failing_subsystem_stops_nobody(
    as_alice, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        as_alice.push_image("alice/app", "1.0")
    assert heard == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert [(e.action, e.reference) for e in heard] == [("push", "1.0")]
