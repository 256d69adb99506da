"""The catalog task with a real Celery worker and broker (Redis), as production runs it."""

import os
import secrets
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import OperationalError

from gallery import tasks
from gallery.celery import app
from gallery.models import CatalogEntry
from registry.models import Repository
from tests.conftest import IN_CI


@pytest.fixture
def redis_worker(settings):
    url = os.environ.get("REDIS_URL")
    if not url:
        reason = "needs REDIS_URL (a Redis server) for a real broker"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    queue = f"berth-test-{secrets.token_hex(4)}"
    app.conf.update(broker_url=url, task_always_eager=False, task_default_queue=queue)
    try:
        with start_worker(
            app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=10
        ):
            yield
    finally:
        app.conf.update(
            task_always_eager=settings.CELERY_TASK_ALWAYS_EAGER,
            task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE,
        )


def wait_for(condition, timeout: float = 30.0):
    """Results are not stored (tasks ignore them): watch the database instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := condition():
                return value
        except OperationalError:  # SQLite's shared in-memory test database: a busy table
            pass
        time.sleep(0.1)
    pytest.fail("the worker did not finish in time")


@pytest.mark.django_db(transaction=True)
def test_a_worker_indexes_a_pushed_repository(as_alice, redis_worker):
    as_alice.push_image("alice/app", "1.0")
    repository = Repository.objects.get(name="alice/app")
    tasks.index_repository.delay(repository.pk)
    entry = wait_for(lambda: CatalogEntry.objects.filter(pk=repository.pk, tag_count=1).first())
    assert entry.images.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_task_is_safe_to_run_twice(as_alice, redis_worker):
    as_alice.push_image("alice/app", "1.0")
    repository = Repository.objects.get(name="alice/app")
    tasks.index_repository.delay(repository.pk)
    tasks.index_repository.delay(repository.pk)
    wait_for(lambda: CatalogEntry.objects.filter(pk=repository.pk).exists())
    time.sleep(1)  # the solo worker runs the second task right after the first
    assert CatalogEntry.objects.get(pk=repository.pk).images.count() == 1
