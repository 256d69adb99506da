"""gunicorn settings for Berth (used by `make run` and in production).

gthread workers: keep-alive connections, long uploads that do not block the worker's
heartbeat, and FileResponse sent with sendfile(). Tune with GUNICORN_WORKERS/THREADS.
"""

import multiprocessing
import os

workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
keepalive = 30
timeout = 120
graceful_timeout = 30
# Long enough for the longest repository name and reference the spec allows.
limit_request_line = 8190
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
# gunicorn's control socket defaults to one path per user (~/.gunicorn), which a second
# server would take over; Berth does not use it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def worker_exit(server, worker):
    """A worker leaving (restart, max_requests, shutdown) writes its pending pull counts."""
    from registry import pulls

    pulls.flush()
