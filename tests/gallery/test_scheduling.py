"""The registry hook coalesces bursts of pushes into one indexing per repository."""

import time

from gallery import tasks


class FakeTask:
    name = "fake"

    def __init__(self):
        self.calls = []

    def delay(self, repository_id):
        self.calls.append(("delay", repository_id))

    def apply_async(self, args, countdown):
        self.calls.append(("async", args[0]))


def test_a_burst_of_events_runs_the_task_once_after_the_delay(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BERTH_INDEX_DELAY = 0.2
    task = FakeTask()
    for _ in range(5):
        tasks.schedule("fake", task, 7)
    assert task.calls == []
    time.sleep(0.5)
    assert task.calls == [("delay", 7)]


def test_with_a_broker_one_task_stays_pending_per_repository(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    task = FakeTask()
    for repository_id in (1, 1, 2, 1):
        tasks.schedule("fake", task, repository_id)
    assert task.calls == [("async", 1), ("async", 2)]


def test_without_a_delay_the_task_runs_at_once(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BERTH_INDEX_DELAY = 0
    task = FakeTask()
    tasks.schedule("fake", task, 3)
    assert task.calls == [("delay", 3)]


def test_a_process_leaving_runs_what_its_timers_wait_for_once(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BERTH_INDEX_DELAY = 60
    task = FakeTask()
    tasks.schedule("fake-exit", task, 4)
    tasks.schedule("fake-exit", task, 5)
    tasks.finish_pending()
    assert sorted(task.calls) == [("delay", 4), ("delay", 5)]
    tasks.finish_pending()
    assert len(task.calls) == 2
