"""A private repository answers anyone outside it exactly as a missing repository would."""

import json

import pytest
from django.test import Client

from registry.access import tokens
from registry.models import Repository
from tests.oci import basic, error_codes

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(as_alice):
    digest, _ = as_alice.push_image("alice/secret", "v1")
    Repository.objects.filter(name="alice/secret").update(is_private=True)
    return digest


def comparable(response):
    body = json.loads(response.content) if response.content else None
    challenge = (
        response.get("WWW-Authenticate", "").replace("secret", "NAME").replace("missing", "NAME")
    )
    if body:
        for error in body["errors"]:
            error.pop("detail", None)
    return response.status_code, body, challenge


@pytest.mark.parametrize("path", ["manifests/v1", "tags/list", "blobs/sha256:" + "a" * 64])
def test_anonymous_sees_a_private_repository_as_missing(secret, anonymous, path):
    private = anonymous.get(f"/v2/alice/secret/{path}")
    missing = anonymous.get(f"/v2/alice/missing/{path}")
    assert private.status_code == 401
    assert comparable(private) == comparable(missing)


@pytest.mark.parametrize("path", ["manifests/v1", "tags/list"])
def test_another_user_sees_a_private_repository_as_missing(secret, as_bob, path):
    private = as_bob.get(f"/v2/alice/secret/{path}")
    missing = as_bob.get(f"/v2/alice/missing/{path}")
    assert error_codes(private) == ["NAME_UNKNOWN"]
    assert comparable(private) == comparable(missing)


def test_tokens_for_a_private_and_a_missing_repository_grant_the_same(secret, bob):
    def access(name):
        response = Client().get(
            "/token", {"scope": f"repository:{name}:pull"}, headers={"Authorization": basic("bob")}
        )
        return tokens.verify_access_token(json.loads(response.content)["token"])["access"]

    assert access("alice/secret") == access("alice/missing") == []


def test_owner_pulls_a_private_repository(secret, as_alice):
    assert as_alice.get("/v2/alice/secret/manifests/v1").status_code == 200


def test_anonymous_pull_of_a_public_repository_needs_no_token(as_alice, anonymous):
    as_alice.push_image("alice/public", "v1")
    assert anonymous.get("/v2/alice/public/manifests/v1").status_code == 200


def test_anonymous_push_is_challenged_for_push_scope(anonymous, alice):
    response = anonymous.request("POST", "/v2/alice/app/blobs/uploads/")
    assert response.status_code == 401
    assert 'scope="repository:alice/app:pull,push"' in response["WWW-Authenticate"]
    assert not Repository.objects.exists()


def test_user_cannot_push_into_another_namespace(as_bob, alice):
    response = as_bob.request("POST", "/v2/alice/app/blobs/uploads/")
    assert response.status_code == 404  # alice/app does not exist for bob
    assert not Repository.objects.exists()


def test_user_cannot_push_to_another_users_public_repository(as_alice, as_bob):
    as_alice.push_image("alice/public", "v1")
    response = as_bob.request("POST", "/v2/alice/public/blobs/uploads/")
    assert response.status_code == 403
    assert error_codes(response) == ["DENIED"]


def test_token_with_insufficient_scope_says_so(as_alice):
    token = json.loads(Client().get("/token", {"scope": "repository:alice/app:pull"}).content)[
        "token"
    ]
    response = Client().post(
        "/v2/alice/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_new_repositories_can_default_to_private(as_alice, anonymous, settings):
    settings.BERTH_NEW_REPOSITORIES_PRIVATE = True
    as_alice.push_image("alice/app", "v1")
    assert Repository.objects.get(name="alice/app").is_private
    assert anonymous.get("/v2/alice/app/manifests/v1").status_code == 401


def bearer(username: str | None, scope: str) -> dict:
    headers = {"Authorization": basic(username)} if username else {}
    response = Client().get("/token", {"scope": scope}, headers=headers)
    return {"Authorization": "Bearer " + json.loads(response.content)["token"]}


@pytest.mark.parametrize("who", [None, "bob"])
@pytest.mark.parametrize(
    "path",
    ["manifests/v1", "tags/list", "referrers/sha256:" + "a" * 64, "blobs/sha256:" + "a" * 64],
)
def test_with_tokens_a_private_repository_still_looks_missing(secret, bob, who, path):
    def ask(name):
        headers = bearer(who, f"repository:{name}:pull")
        return comparable(Client().get(f"/v2/{name}/{path}", headers=headers))

    assert ask("alice/secret") == ask("alice/missing")


def test_with_tokens_mounting_from_a_private_repository_opens_a_session(secret, bob):
    digest = Repository.objects.get(name="alice/secret").blobs.first().digest
    headers = bearer("bob", "repository:bob/mine:pull,push repository:alice/secret:pull")
    response = Client().post(
        f"/v2/bob/mine/blobs/uploads/?mount={digest}&from=alice/secret", headers=headers
    )
    assert response.status_code == 202


def _statements(client, path) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    return [
        q["sql"].replace("alice/secret", "NAME").replace("alice/missing", "NAME")
        for q in captured.captured_queries
    ]


@pytest.mark.parametrize("who", ["anonymous", "as_bob"])
@pytest.mark.parametrize("path", ["manifests/v1", "tags/list", "blobs/sha256:" + "a" * 64])
def test_a_private_and_a_missing_repository_take_the_same_path(secret, who, path, request):
    client = request.getfixturevalue(who)
    client.get("/v2/")  # credentials verified and remembered before measuring
    private = _statements(client, f"/v2/alice/secret/{path}")
    missing = _statements(client, f"/v2/alice/missing/{path}")
    assert private == missing


def test_token_requests_for_a_private_and_a_missing_repository_take_the_same_path(secret, bob):
    client = Client(headers={"Authorization": basic("bob")})
    client.get("/token")  # remember bob's credentials first
    private = _statements(client, "/token?scope=repository:alice/secret:pull")
    missing = _statements(client, "/token?scope=repository:alice/missing:pull")
    assert private == missing
