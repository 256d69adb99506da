"""gunicorn settings for Berth (used by `make run` and in production).

gthread workers: keep-alive connections, long uploads that do not block the worker's
heartbeat, and FileResponse sent with sendfile(). Tune with GUNICORN_WORKERS/THREADS.

Prometheus metrics are counted in every worker and added up when scraped (prometheus_client's
multiprocess mode): PROMETHEUS_MULTIPROC_DIR, a directory of this server's own (emptied
when it starts), is set here, before any worker imports the client.
"""

import multiprocessing
import os
import shutil
import tempfile

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

if os.environ.get("BERTH_LOG_FORMAT", "").strip().lower() == "json":
    # One JSON object per request, with the request id Berth answered with.
    access_log_format = (
        '{"time": "%(t)s", "remote": "%(h)s", "user": "%(u)s", "request": "%(r)s", '
        '"status": %(s)s, "bytes": "%(B)s", "duration_us": %(D)s, '
        '"request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
    )

_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_metrics_dir = not _metrics_dir
if _own_metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="berth-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    """A fresh server starts from zero: counters of an earlier run are not this one's."""
    for entry in os.listdir(_metrics_dir):
        path = os.path.join(_metrics_dir, entry)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def worker_exit(server, worker):
    """A worker leaving (restart, max_requests, shutdown) writes its pending pull counts,
    then runs what its timers still wait for (without a broker, the catalog's refresh of
    those counts and the indexing of its last pushes would leave with the process)."""
    from gallery import tasks
    from registry import pulls

    pulls.flush()
    tasks.finish_pending()
