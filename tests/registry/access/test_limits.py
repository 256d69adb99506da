"""Pulls per user and upload starts per user: over the limit, 429 TOOMANYREQUESTS with
Retry-After (the anonymous pull limit is tested across two processes in tests/clients)."""

import time
from types import SimpleNamespace

import pytest

from registry.access import limits, ratelimit
from tests.oci import error_codes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _still_clock(monkeypatch):
    """The limiters count in fixed windows (a minute, an hour): a test whose requests
    straddled a window's end saw its count start again. Their clock stands still, in the
    middle of every window these tests use."""
    moment = (time.time() // 3600) * 3600 + 30.5
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: moment))


def refused(response, seconds: int) -> bool:
    return (
        response.status_code == 429
        and error_codes(response) == ["TOOMANYREQUESTS"]
        and 0 < int(response["Retry-After"]) <= seconds
    )


def test_user_pulls_answer_429_past_the_limit(as_alice, monkeypatch):
    monkeypatch.setattr(
        limits, "USER_PULLS", ratelimit.Limiter("pulls:user", ratelimit.Rate(2, 3600))
    )
    as_alice.push_image("alice/app", "v1")
    pulls = [as_alice.get("/v2/alice/app/manifests/v1") for _ in range(3)]
    assert [r.status_code for r in pulls[:2]] == [200, 200]
    assert pulls[1]["RateLimit-Remaining"] == "0"
    assert refused(pulls[2], 3600)


def test_the_user_pull_limit_is_per_user(as_alice, as_bob, monkeypatch):
    monkeypatch.setattr(
        limits, "USER_PULLS", ratelimit.Limiter("pulls:user", ratelimit.Rate(1, 3600))
    )
    as_alice.push_image("alice/app", "v1")
    assert as_alice.get("/v2/alice/app/manifests/v1").status_code == 200
    assert as_bob.get("/v2/alice/app/manifests/v1").status_code == 200
    assert as_alice.get("/v2/alice/app/manifests/v1").status_code == 429


def test_upload_starts_answer_429_past_the_limit(as_alice, monkeypatch):
    monkeypatch.setattr(limits, "UPLOADS", ratelimit.Limiter("uploads", ratelimit.Rate(2, 60)))
    starts = [as_alice.request("POST", "/v2/alice/app/blobs/uploads/") for _ in range(3)]
    assert [r.status_code for r in starts[:2]] == [202, 202]
    assert refused(starts[2], 60)


def test_a_monolithic_upload_counts_as_an_upload_start(as_alice, monkeypatch):
    monkeypatch.setattr(limits, "UPLOADS", ratelimit.Limiter("uploads", ratelimit.Rate(1, 60)))
    as_alice.push_blob("alice/app", b"one")
    response = as_alice.request(
        "POST", "/v2/alice/app/blobs/uploads/?digest=sha256:" + "0" * 64, b"x"
    )
    assert refused(response, 60)
