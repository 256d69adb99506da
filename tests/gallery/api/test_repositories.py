"""GET, POST, PATCH and DELETE of repositories under /api/v1/."""

import json

import pytest

from gallery import services
from gallery.models import CatalogEntry
from registry.models import Repository
from tests.gallery.api.conftest import as_user

pytestmark = pytest.mark.django_db


def test_a_repository_reads_with_its_catalog_data(api, webapp):
    data = api.get("/api/v1/repositories/alice/webapp").json()
    assert data["name"] == "alice/webapp"
    assert data["type"] == "image"
    assert data["platforms"] == ["linux/amd64", "linux/arm64"]
    assert data["about"]["markdown"].startswith("# Web app")
    assert "<h1" in data["about"]["html"]
    assert data["usage"]["markdown"] == "Run it."
    assert data["tag_count"] == 3  # 1.0 and the platform images' own tags
    assert data["publisher"]["namespace"] == "alice"
    assert "visibility" not in data


def test_the_owner_also_sees_the_visibility(webapp, alice):
    assert (
        as_user("alice").get("/api/v1/repositories/alice/webapp").json()["visibility"] == "public"
    )


@pytest.mark.parametrize("who", [None, "bob"])
def test_a_private_repository_answers_exactly_as_a_missing_one(secret, bob, who):
    client = as_user(who) if who else __import__("rest_framework.test").test.APIClient()
    private = client.get("/api/v1/repositories/alice/secret")
    missing = client.get("/api/v1/repositories/alice/missing")
    assert private.status_code == missing.status_code == 404
    assert private.content == missing.content
    for suffix in ("/-/tags", "/-/images/sha256:" + "a" * 64):
        assert (
            client.get(f"/api/v1/repositories/alice/secret{suffix}").content
            == client.get(f"/api/v1/repositories/alice/missing{suffix}").content
        )


def test_the_owner_reads_a_private_repository(secret, alice):
    response = as_user("alice").get("/api/v1/repositories/alice/secret")
    assert response.json()["visibility"] == "private"


def test_creating_an_empty_repository(alice):
    response = as_user("alice").post(
        "/api/v1/repositories",
        {"name": "alice/new", "visibility": "private", "description": "Soon."},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response["Location"].endswith("/api/v1/repositories/alice/new")
    repository = Repository.objects.get(name="alice/new")
    assert repository.is_private
    assert not repository.is_provisional
    assert CatalogEntry.objects.get(name="alice/new").description == "Soon."


def test_a_blank_description_on_creation_is_no_description(alice):
    response = as_user("alice").post(
        "/api/v1/repositories", {"name": "alice/blank", "description": "   "}, format="json"
    )
    assert response.status_code == 201, response.content
    assert CatalogEntry.objects.get(name="alice/blank").description == ""


@pytest.mark.parametrize(
    ("body", "who", "code"),
    [
        ({"name": "bob/app"}, "alice", 403),
        ({"name": "alice/app"}, None, 401),
        ({"name": "Alice/App"}, "alice", 400),
        ({"name": "alice/app", "visibility": "secret"}, "alice", 400),
        ({}, "alice", 400),
    ],
)
def test_creating_a_repository_is_refused_with_a_clear_error(alice, bob, api, body, who, code):
    client = as_user(who) if who else api
    response = client.post("/api/v1/repositories", body, format="json")
    assert response.status_code == code
    assert set(response.json()["error"]) >= {"code", "message"}


def test_creating_a_repository_that_exists_is_a_conflict(webapp, alice):
    response = as_user("alice").post(
        "/api/v1/repositories", {"name": "alice/webapp"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_exists"


def test_the_owner_updates_the_catalog_data(webapp, alice):
    response = as_user("alice").patch(
        "/api/v1/repositories/alice/webapp",
        {"description": "New words", "about": "**bold**", "visibility": "private"},
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["description"] == "New words"
    assert "<strong>bold</strong>" in data["about"]["html"]
    assert data["usage"]["markdown"] == "Run it."  # untouched
    assert Repository.objects.get(name="alice/webapp").is_private


def test_others_cannot_update_or_delete(webapp, bob):
    client = as_user("bob")
    assert (
        client.patch(
            "/api/v1/repositories/alice/webapp", {"description": "x"}, format="json"
        ).status_code
        == 403
    )
    assert client.delete("/api/v1/repositories/alice/webapp").status_code == 403
    assert client.delete("/api/v1/repositories/alice/webapp/-/tags/1.0").status_code == 403


def test_a_session_write_needs_its_csrf_token(webapp, alice):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.patch(
        "/api/v1/repositories/alice/webapp", {"description": "x"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_deleting_a_tag_and_a_repository(webapp, alice):
    client = as_user("alice")
    assert client.delete("/api/v1/repositories/alice/webapp/-/tags/nope").status_code == 404
    assert client.delete("/api/v1/repositories/alice/webapp/-/tags/1.0").status_code == 204
    tags = client.get("/api/v1/repositories/alice/webapp/-/tags").json()["results"]
    assert "1.0" not in [tag["name"] for tag in tags]
    assert client.delete("/api/v1/repositories/alice/webapp").status_code == 204
    assert not Repository.objects.filter(name="alice/webapp").exists()
    assert client.get("/api/v1/repositories/alice/webapp").status_code == 404


def test_an_unread_content_type_or_an_unmet_accept_is_a_documented_json_error(alice, api):
    """415 and 406 were answered in the one shape, but the schema left them out."""
    refused = as_user("alice").generic(
        "POST", "/api/v1/repositories", b"name=alice/x", content_type="text/plain"
    )
    unmet = api.get("/api/v1/publishers", HTTP_ACCEPT="text/html")
    assert (refused.status_code, unmet.status_code) == (415, 406)
    assert json.loads(refused.content)["error"]["code"] == "unsupported_media_type"
    assert json.loads(unmet.content)["error"]["code"] == "not_acceptable"
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for operation in (("/api/v1/repositories", "post"), ("/api/v1/publishers", "get")):
        path, method = operation
        responses = schema["paths"][path][method]["responses"]
        assert {"406", "415"} <= set(responses), operation


def test_malformed_json_is_a_json_error(alice):
    response = as_user("alice").generic(
        "POST", "/api/v1/repositories", b"{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "parse_error"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 123}, "name"),
        ({"name": "alice/typed", "description": 7}, "description"),
        ({"name": "alice/typed", "description": True}, "description"),
    ],
)
def test_a_create_with_a_number_for_a_string_is_a_400(alice, body, field):
    """123 was read as the name "123" (then a 403 for that namespace), 7 as the text "7"."""
    response = as_user("alice").post("/api/v1/repositories", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert not Repository.objects.filter(name="alice/typed").exists()


@pytest.mark.parametrize("field", ["description", "about", "usage"])
@pytest.mark.parametrize("value", [7, 1.5, False])
def test_an_update_with_a_number_for_a_string_is_a_400(webapp, field, value):
    response = as_user("alice").patch(
        "/api/v1/repositories/alice/webapp", {field: value}, format="json"
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert CatalogEntry.objects.get(pk=webapp.pk).description == "A web app"
    assert services.text_of(webapp).usage == "Run it."


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/api/v1/repositories"), ("patch", "/api/v1/repositories/alice/webapp")],
)
def test_a_body_nested_too_deeply_is_a_json_400(webapp, method, path):
    """Python's JSON decoder raises RecursionError, which DRF's parser let through: a 500."""
    response = getattr(as_user("alice"), method)(
        path, b"[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/repositories", b'{"name": "alice/new", "visibility": "\\ud800"}'),
        ("patch", "/api/v1/repositories/alice/webapp", b'{"visibility": "\\udfff"}'),
        ("post", "/api/v1/tokens", b'{"name": "ci", "scopes": ["\\ud800"]}'),
    ],
)
def test_a_lone_surrogate_in_a_body_is_a_json_400(webapp, method, path, body):
    """JSON may escape half of a UTF-16 pair, which no UTF-8 text holds: a choice field's
    error quoted it back, and encoding the answer was a 500."""
    response = getattr(as_user("alice"), method)(path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parse_error"
    assert CatalogEntry.objects.get(pk=webapp.pk).is_private is False


def test_an_edit_of_the_texts_keeps_a_privacy_set_while_they_rendered(webapp, monkeypatch):
    """The texts render for seconds before they are saved: a repository made private
    meanwhile was made public again by a PATCH that did not name a visibility."""
    prepared = services._prepared_text

    def made_private_meanwhile(entry, **texts):
        services.set_visibility(repository=entry.repository, private=True)
        return prepared(entry, **texts)

    monkeypatch.setattr(services, "_prepared_text", made_private_meanwhile)
    response = as_user("alice").patch(
        "/api/v1/repositories/alice/webapp", {"about": "New"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Repository.objects.get(name="alice/webapp").is_private
    assert CatalogEntry.objects.get(name="alice/webapp").is_private
