"""The Celery application.

Embedded default (no REDIS_URL): tasks run eagerly, in the process that enqueues them, so
no broker or worker is needed. With REDIS_URL, tasks go to Redis and a worker runs them:
`celery -A gallery worker`, and `celery -A gallery beat` for the scheduled tasks
(CELERY_BEAT_SCHEDULE: garbage collection, upload purging, the cache's sync and expiry,
scheduled replication).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.settings")

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["registry.storage"])  # garbage collection, upload purging
app.autodiscover_tasks(["registry.cache", "registry.replication"])  # sync, expiry, copies
