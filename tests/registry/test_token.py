import io
import json

import jwt
import pytest
from django.test import Client

from registry.access import tokens
from tests.factories import PASSWORD, RepositoryFactory
from tests.oci import basic, post_form

pytestmark = pytest.mark.django_db


def claims(response) -> dict:
    assert response.status_code == 200, response.content
    return tokens.verify_access_token(json.loads(response.content)["token"])


def test_anonymous_token_grants_pull_of_a_public_repository(alice):
    RepositoryFactory(name="alice/public", owner=alice)
    response = Client().get(
        "/token", {"service": "berth", "scope": "repository:alice/public:pull,push"}
    )
    assert claims(response)["access"] == [
        {"type": "repository", "name": "alice/public", "actions": ["pull"]}
    ]


def test_anonymous_token_grants_nothing_on_a_private_repository(alice):
    RepositoryFactory(name="alice/secret", owner=alice, is_private=True)
    response = Client().get("/token", {"scope": "repository:alice/secret:pull"})
    assert claims(response)["access"] == []


def test_owner_token_grants_push_in_their_namespace_before_the_repository_exists(alice):
    response = Client().get(
        "/token",
        {"scope": "repository:alice/new:pull,push"},
        headers={"Authorization": basic("alice")},
    )
    assert claims(response)["access"][0]["actions"] == ["pull", "push"]


def test_token_grants_only_the_intersection_of_asked_and_permitted(alice, bob):
    RepositoryFactory(name="bob/tool", owner=bob)
    response = Client().get(
        "/token",
        {"scope": ["repository:bob/tool:pull,push", "repository:alice/x:*"]},
        headers={"Authorization": basic("alice")},
    )
    assert claims(response)["access"] == [
        {"type": "repository", "name": "bob/tool", "actions": ["pull"]},
        {"type": "repository", "name": "alice/x", "actions": ["delete", "pull", "push", "*"]},
    ]


def test_a_token_of_many_long_scopes_still_fits_in_a_request_header(alice):
    """Servers and proxies refuse a header over 8 KB (gunicorn: 431): a token is granted the
    scopes it can carry, the first ones asked."""
    names = [f"alice/{n:03}-" + "x" * 240 for n in range(100)]
    response = Client().get(
        "/token",
        {"scope": [f"repository:{name}:pull,push,delete" for name in names]},
        headers={"Authorization": basic("alice")},
    )
    token = json.loads(response.content)["token"]
    assert len(f"Authorization: Bearer {token}") < 8190
    granted = [entry["name"] for entry in claims(response)["access"]]
    assert granted
    assert granted == names[: len(granted)]


def test_a_push_mounting_from_a_dozen_repositories_is_granted_every_scope(alice):
    asked = [f"repository:alice/source-{n}:pull" for n in range(12)]
    response = Client().get(
        "/token",
        {"scope": ["repository:alice/target:pull,push", *asked]},
        headers={"Authorization": basic("alice")},
    )
    assert len(claims(response)["access"]) == 13


def test_bad_credentials_on_the_token_endpoint_are_401(alice):
    response = Client().get("/token", headers={"Authorization": basic("alice", "wrong")})
    assert response.status_code == 401


def test_offline_token_adds_a_refresh_token_that_the_post_form_accepts(alice):
    response = Client().get(
        "/token",
        {"account": "alice", "client_id": "docker", "offline_token": "true"},
        headers={"Authorization": basic("alice")},
    )
    refresh = json.loads(response.content)["refresh_token"]
    response = post_form(
        Client(),
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "berth",
            "client_id": "docker",
            "scope": "repository:alice/app:pull,push",
        },
    )
    assert claims(response)["sub"] == "alice"
    assert json.loads(response.content)["scope"] == "repository:alice/app:pull,push"


def test_refresh_token_dies_when_the_password_changes(alice):
    refresh = tokens.issue_refresh_token(alice)
    alice.set_password("another-password-42")
    alice.save()
    response = post_form(
        Client(), "/token", {"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_grant"


def test_password_grant_issues_an_access_token(alice):
    response = post_form(
        Client(),
        "/token",
        {
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "scope": "repository:alice/app:pull",
            "access_type": "offline",
        },
    )
    assert claims(response)["access"][0]["actions"] == ["pull"]
    assert "refresh_token" in json.loads(response.content)


def test_password_grant_with_a_wrong_password_is_invalid_grant(alice):
    response = post_form(
        Client(),
        "/token",
        {
            "grant_type": "password",
            "username": "alice",
            "password": "nope",
        },
    )
    assert response.status_code == 400


def test_a_token_post_must_be_an_urlencoded_form(alice):
    # A multipart body would be parsed before anything is checked, its files written to disk.
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    response = Client().post("/token", {**form, "file": io.BytesIO(b"x" * 4096)})
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_request"
    assert claims(post_form(Client(), "/token", form))["sub"] == "alice"


def test_a_refresh_token_is_not_an_access_token(alice, as_alice):
    refresh = tokens.issue_refresh_token(alice)
    response = Client().get("/v2/", headers={"Authorization": f"Bearer {refresh}"})
    assert response.status_code == 401


def test_token_for_another_service_is_refused():
    assert Client().get("/token", {"service": "elsewhere"}).status_code == 400


def test_token_signed_with_another_key_is_refused(anonymous):
    forged = jwt.encode({"sub": "alice", "access": []}, "x" * 40, algorithm="HS256")
    response = anonymous.get("/v2/", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_catalog_scope_is_granted_to_everyone():
    response = Client().get("/token", {"scope": "registry:catalog:*"})
    assert claims(response)["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
