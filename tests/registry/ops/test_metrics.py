import pytest
from django.test import Client

from registry.storage import gc

pytestmark = pytest.mark.django_db


def scrape(**extra) -> str:
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200
    return response.content.decode()


def value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_requests_are_counted_by_route(as_alice):
    as_alice.get("/v2/")
    text = scrape()
    assert 'berth_http_requests_total{method="GET",route="v2/",status="200"}' in text
    assert "berth_http_request_duration_seconds_bucket" in text


def test_pushes_pulls_uploads_and_bytes_served_are_counted(as_alice):
    before = scrape()
    digest, _ = as_alice.push_image("alice/app", "v1", layer=b"l" * 1000)
    as_alice.get("/v2/alice/app/manifests/v1")
    as_alice.get(f"/v2/alice/app/blobs/{digest}")  # a manifest is no blob: 404, not counted
    layer = "sha256:" + __import__("hashlib").sha256(b"l" * 1000).hexdigest()
    b"".join(as_alice.get(f"/v2/alice/app/blobs/{layer}").streaming_content)
    after = scrape()
    assert value(after, "berth_pushes_total") - value(before, "berth_pushes_total") == 1
    assert value(after, "berth_pulls_total") - value(before, "berth_pulls_total") == 1
    uploads = value(after, "berth_blob_uploads_total") - value(before, "berth_blob_uploads_total")
    assert uploads == 2
    served = 'berth_blob_bytes_served_total{delivery="stream"}'
    assert value(after, served) - value(before, served) == 1000


def test_collections_and_the_queue_are_read_when_scraped(as_alice):
    as_alice.push_blob("alice/app", b"garbage")
    gc.collect(grace=0)
    text = scrape()
    assert value(text, "berth_gc_runs_total") == 1
    assert value(text, "berth_gc_reclaimed_blobs_total") == 1
    assert value(text, "berth_gc_reclaimed_bytes_total") == len(b"garbage")
    assert "berth_task_queue_depth" in text
    assert "# TYPE berth_lag_seconds gauge" in text
    assert 'berth_lag_seconds{subsystem="scan"} 0.0' in text
    assert 'berth_lag_seconds{subsystem="replication"} 0.0' in text


def test_metrics_are_not_shown_to_the_internet():
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 404
