"""Storage limits: the largest blob, and namespace quotas, exact after deletes."""

import json

import pytest

from registry import quotas
from registry.models import Namespace, Repository
from tests.oci import error_codes, sha256

pytestmark = pytest.mark.django_db
MIB = 1024 * 1024


@pytest.fixture
def small_quota(alice):
    Namespace.objects.filter(name="alice").update(quota_bytes=1000)


def test_blobs_have_a_default_size_limit(settings):
    from gallery import settings as defaults

    assert defaults.BERTH_BLOB_MAX_BYTES == 10 * 1024 * MIB
    assert defaults.BERTH_NAMESPACE_QUOTA_BYTES > 0


def test_a_blob_over_the_limit_is_413(as_alice, settings):
    settings.BERTH_BLOB_MAX_BYTES = 10
    data = b"x" * 11
    response = as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(data)}", data)
    assert response.status_code == 413
    assert error_codes(response) == ["SIZE_INVALID"]


def test_a_monolithic_upload_over_the_quota_is_413_denied(as_alice, small_quota):
    data = b"x" * 1001
    response = as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256(data)}", data)
    assert response.status_code == 413
    body = json.loads(response.content)["errors"][0]
    assert body["code"] == "DENIED"
    assert "quota" in body["message"]


def test_a_chunked_upload_stops_at_the_quota(as_alice, small_quota):
    start = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")
    location = start["Location"]
    assert as_alice.request("PATCH", location, b"a" * 600).status_code == 202
    response = as_alice.request("PATCH", location, b"b" * 600)
    assert response.status_code == 413
    assert error_codes(response) == ["DENIED"]


def test_a_full_namespace_refuses_new_uploads(as_alice, small_quota):
    as_alice.push_blob("alice/app", b"z" * 1000)
    response = as_alice.request("POST", "/v2/alice/app/blobs/uploads/?digest=" + sha256(b"q"), b"q")
    assert response.status_code == 413


def test_usage_counts_a_blob_shared_by_two_repositories_once(as_alice):
    as_alice.push_blob("alice/one", b"s" * 100)
    as_alice.push_blob("alice/two", b"s" * 100)
    assert quotas.namespace_usage("alice") == 100


def test_usage_is_exact_after_deleting_a_blob_and_a_repository(as_alice):
    digest = as_alice.push_blob("alice/one", b"a" * 100)
    as_alice.push_blob("alice/two", b"b" * 50)
    as_alice.request("DELETE", f"/v2/alice/one/blobs/{digest}")
    assert quotas.namespace_usage("alice") == 50
    Repository.objects.filter(name="alice/two").delete()
    assert quotas.namespace_usage("alice") == 0


def test_a_mount_that_would_exceed_the_quota_is_refused(as_alice, as_bob, small_quota):
    digest = as_bob.push_blob("bob/big", b"m" * 2000)
    as_bob.push_image("bob/big", "v1")
    response = as_alice.request("POST", f"/v2/alice/app/blobs/uploads/?mount={digest}&from=bob/big")
    assert response.status_code == 413
    assert error_codes(response) == ["DENIED"]


def test_a_namespace_quota_of_zero_means_no_limit(as_alice, settings):
    settings.BERTH_NAMESPACE_QUOTA_BYTES = 10
    Namespace.objects.filter(name="alice").update(quota_bytes=0)
    as_alice.push_blob("alice/app", b"x" * 100)
