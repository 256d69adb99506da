"""Tags, images and publishers under /api/v1/, and what every read answers with."""

import base64
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from gallery import services
from gallery.models import CatalogEntry
from registry import pulls
from registry.models import Repository
from tests.gallery.test_attachments import push_cosign_signature, push_sbom
from tests.oci import push_platform_image

from .conftest import as_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(as_alice, settings):
    settings.BERTH_PULL_COUNT_WINDOW = 0
    for version in ("1.9.0", "1.10.0", "2.0.0-rc1", "latest"):
        push_platform_image(as_alice, "alice/app", version, "amd64")
    as_alice.get("/v2/alice/app/manifests/1.10.0")
    as_alice.get("/v2/alice/app/manifests/1.10.0")
    pulls.flush()
    return services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)


def names(response) -> list[str]:
    return [tag["name"] for tag in response.json()["results"]]


def test_tags_are_ordered_by_version_by_default(api, versions):
    assert names(api.get("/api/v1/repositories/alice/app/-/tags")) == [
        "latest",
        "2.0.0-rc1",
        "1.10.0",
        "1.9.0",
    ]


def test_tags_by_name_and_by_push_time(api, versions):
    by_name = names(api.get("/api/v1/repositories/alice/app/-/tags?ordering=name"))
    assert by_name == ["1.10.0", "1.9.0", "2.0.0-rc1", "latest"]
    by_push = names(api.get("/api/v1/repositories/alice/app/-/tags?ordering=pushed"))
    assert by_push[0] == "latest"


def test_tags_filter_by_name_and_page_with_cursors(api, versions):
    assert names(api.get("/api/v1/repositories/alice/app/-/tags?name=1.")) == ["1.10.0", "1.9.0"]
    first = api.get("/api/v1/repositories/alice/app/-/tags?limit=3").json()
    assert len(first["results"]) == 3
    second = api.get(first["next"]).json()
    assert [t["name"] for t in second["results"]] == ["1.9.0"]
    assert second["next"] is None


def test_a_tag_has_its_digest_size_downloads_and_platforms(api, versions):
    tag = next(
        t
        for t in api.get("/api/v1/repositories/alice/app/-/tags").json()["results"]
        if t["name"] == "1.10.0"
    )
    assert tag["digest"].startswith("sha256:")
    assert tag["downloads"] == 2
    assert tag["platforms"][0]["architecture"] == "amd64"
    assert tag["size"] > 0


def test_a_bad_ordering_or_limit_is_a_400(api, versions):
    assert api.get("/api/v1/repositories/alice/app/-/tags?ordering=size").status_code == 400
    assert api.get("/api/v1/repositories/alice/app/-/tags?limit=abc").status_code in (200, 400)


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661", "1\u2075", "+5", " 5"])
@pytest.mark.parametrize("path", ["/api/v1/repositories/alice/app/-/tags", "/api/v1/publishers"])
def test_a_limit_that_is_not_ascii_digits_is_a_400(api, versions, path, limit):
    """A superscript two passed str.isdigit(), then failed int(): a 500."""
    response = api.get(path, {"limit": limit})
    assert response.status_code == 400, response.content
    assert "limit" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("ordering", "cursor"),
    [(o, c) for o in ("version", "pushed", "name") for c in ("o=x", "p=%00")]
    + [("pushed", "p=garbage"), ("pushed", "r=1&p=garbage")],
)
def test_a_tag_cursor_that_is_not_ours_starts_over(api, versions, ordering, cursor):
    """A push time that is not one was a 500, and DRF's "Invalid cursor" a 404 for a
    repository that exists; the repositories list starts over, and so do tags."""
    tags = "/api/v1/repositories/alice/app/-/tags"
    for encoded in (base64.b64encode(cursor.encode()).decode(), "garbage"):
        response = api.get(tags, {"ordering": ordering, "cursor": encoded})
        assert response.status_code == 200, response.content
        assert names(response) == names(api.get(tags, {"ordering": ordering}))


def test_a_publisher_cursor_that_is_not_ours_starts_over(api, versions):
    for cursor in ("garbage", base64.b64encode(b"p=%00").decode()):
        response = api.get("/api/v1/publishers", {"cursor": cursor})
        assert response.status_code == 200, response.content
        assert response.json() == api.get("/api/v1/publishers").json()


def test_an_image_with_layers_labels_and_referrers(api, as_alice):
    digest, _ = push_platform_image(as_alice, "alice/signed", "1.0", "arm64")
    push_cosign_signature(as_alice, "alice/signed", digest)
    push_sbom(as_alice, "alice/signed", digest, b'{"spdxVersion": "SPDX-2.3"}')
    services.index_repository(repository_id=Repository.objects.get(name="alice/signed").pk)
    data = api.get(f"/api/v1/repositories/alice/signed/-/images/{digest}").json()
    assert data["tags"] == ["1.0"]
    assert data["platforms"][0]["architecture"] == "arm64"
    assert len(data["platforms"][0]["layers"]) == 1
    assert set(data["referrers"]) == {
        "application/spdx+json",
        "application/vnd.dev.cosign.simplesigning.v1+json",
    }


def test_an_unknown_or_malformed_digest_is_a_404(api, versions):
    assert api.get("/api/v1/repositories/alice/app/-/images/sha256:" + "0" * 64).status_code == 404
    assert api.get("/api/v1/repositories/alice/app/-/images/nonsense").status_code == 404


def test_publishers_list_only_public_repositories(api, versions, as_bob):
    as_bob.push_image("bob/hidden", "1.0")
    repository = Repository.objects.get(name="bob/hidden")
    services.index_repository(repository_id=repository.pk)
    services.set_visibility(repository=repository, private=True)
    listed = api.get("/api/v1/publishers").json()["results"]
    assert [p["namespace"] for p in listed] == ["alice"]
    assert listed[0]["repository_count"] == 1
    assert api.get("/api/v1/publishers/bob").status_code == 404
    detail = api.get("/api/v1/publishers/alice").json()
    assert [r["name"] for r in detail["repositories"]] == ["alice/app"]


def test_reads_carry_an_etag_and_answer_304_when_it_matches(api, versions):
    repository = api.get("/api/v1/repositories/alice/app")
    digest = api.get("/api/v1/repositories/alice/app/-/tags").json()["results"][0]["digest"]
    for path in (
        "/api/v1/repositories/alice/app",
        "/api/v1/repositories/alice/app/-/tags",
        f"/api/v1/repositories/alice/app/-/images/{digest}",
        "/api/v1/repositories",
        "/api/v1/publishers/alice",
    ):
        first = api.get(path)
        assert first["ETag"], path
        assert api.get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304, path
        if "/alice/app" in path:  # one repository's: the moment it last changed
            assert first["Last-Modified"] == repository["Last-Modified"], path


@pytest.mark.parametrize(
    "change",
    [{"description": "Changed"}, {"about": "# Changed"}, {"visibility": "private"}],
)
def test_an_edit_moves_last_modified_so_if_modified_since_sees_it(versions, change):
    """An edit left Last-Modified at the last indexing: If-Modified-Since answered 304 and
    the client kept the old catalog data."""
    CatalogEntry.objects.filter(pk=versions.pk).update(
        indexed_at=timezone.now() - timedelta(days=1)
    )
    alice = as_user("alice")
    path = "/api/v1/repositories/alice/app"
    before = alice.get(path)["Last-Modified"]
    assert alice.patch(path, change, format="json").status_code == 200
    again = alice.get(path, HTTP_IF_MODIFIED_SINCE=before)
    assert again.status_code == 200
    assert again["Last-Modified"] != before


def test_other_sites_may_read_without_credentials(versions):
    response = Client().get(
        "/api/v1/repositories/alice/app", HTTP_ORIGIN="https://elsewhere.example"
    )
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nothing-here", "/api/v2/repositories", "/api/v1/repositories/UPPER/case"],
)
def test_unknown_api_paths_answer_json(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path", ["/api/v1/repositories/", "/api/v1/repositories/alice/app/", "/api/v1/publishers/"]
)
def test_a_write_to_an_api_path_with_a_trailing_slash_answers_json(versions, method, path):
    """The trailing-slash redirect view refuses writes, but the CSRF check ran first and
    answered the site's HTML "Form expired" page."""
    response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_a_csrf_failure_under_the_api_answers_json(rf):
    from gallery.views import csrf_failure

    response = csrf_failure(rf.post("/api/v1/repositories"), reason="CSRF token missing.")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"] == {
        "code": "permission_denied",
        "message": "CSRF Failed: CSRF token missing.",
    }


def test_a_method_not_allowed_answers_json(api, versions):
    response = api.put("/api/v1/repositories/alice/app", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_anonymous_use_is_throttled_with_retry_after(api, versions, settings, monkeypatch):
    from gallery.api.authentication import AnonymousRate

    monkeypatch.setattr(AnonymousRate, "THROTTLE_RATES", {"anon": "3/minute"})
    cache.clear()
    statuses = [api.get("/api/v1/repositories/alice/app").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get("/api/v1/repositories/alice/app")
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"


def test_signed_in_use_is_throttled_per_user(versions, monkeypatch):
    from gallery.api.authentication import UserRate

    from .conftest import as_user

    monkeypatch.setattr(UserRate, "THROTTLE_RATES", {"user": "2/minute"})
    cache.clear()
    alice = as_user("alice")
    statuses = [alice.get("/api/v1/repositories/alice/app").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_anonymous_use_counts_against_the_anonymous_rate_only(api, versions, monkeypatch):
    from gallery.api.authentication import AnonymousRate, UserRate

    monkeypatch.setattr(AnonymousRate, "THROTTLE_RATES", {"anon": "5/minute"})
    monkeypatch.setattr(UserRate, "THROTTLE_RATES", {"user": "2/minute"})
    cache.clear()
    statuses = [api.get("/api/v1/repositories/alice/app").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_the_schema_is_openapi_3_and_the_docs_load_from_berth(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "swagger-ui" in html


def test_the_schema_is_json_for_format_json(api):
    """?format=json answered YAML (the rest of the API turns DRF's format switch off)."""
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(response.content)["openapi"].startswith("3.")
    assert api.get("/api/schema/?format=yaml").content.startswith(b"openapi: 3.")
