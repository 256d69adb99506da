"""Registry tokens already issued, and docker's refresh tokens, stop at the next request
when what they were issued from changes: through /token and /v2/, as a client sees it."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from registry import services
from registry.access import credentials, organizations, sharing, tokens
from registry.models import Role
from tests.factories import PASSWORD, RepositoryFactory
from tests.oci import basic, post_form

pytestmark = pytest.mark.django_db


def registry_token(username: str, password: str = PASSWORD, *, scope: str) -> str:
    response = Client().get(
        "/token",
        {"service": "berth", "scope": scope},
        headers={"Authorization": basic(username, password)},
    )
    assert response.status_code == 200, response.content
    return json.loads(response.content)["token"]


def pull(name: str, token: str) -> int:
    return (
        Client()
        .get(f"/v2/{name}/tags/list", headers={"Authorization": f"Bearer {token}"})
        .status_code
    )


def start_upload(name: str, token: str) -> int:
    response = Client().post(
        f"/v2/{name}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


@pytest.fixture
def acme(alice, bob):
    organization = organizations.create_organization(name="acme", owner=alice)
    RepositoryFactory(name="acme/app", owner=alice, is_private=True)
    return organization


def test_a_removed_member_loses_an_issued_token_at_once(acme, alice, bob):
    organizations.set_member(organization=acme, user=bob, role=Role.READER, actor=alice)
    token = registry_token("bob", scope="repository:acme/app:pull")
    assert pull("acme/app", token) == 200
    organizations.remove_member(organization=acme, user=bob, actor=alice)
    assert pull("acme/app", token) == 401


def test_a_lowered_role_ends_an_issued_tokens_wider_rights_at_once(acme, alice, bob):
    organizations.set_member(organization=acme, user=bob, role=Role.MAINTAINER, actor=alice)
    token = registry_token("bob", scope="repository:acme/app:pull,push")
    assert start_upload("acme/app", token) == 202
    organizations.set_member(organization=acme, user=bob, role=Role.READER, actor=alice)
    assert start_upload("acme/app", token) == 401
    assert pull("acme/app", token) == 200  # what the reader keeps, it keeps


def test_a_disabled_user_loses_an_issued_token_at_once(alice):
    RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    token = registry_token("alice", scope="repository:alice/app:pull")
    assert pull("alice/app", token) == 200
    alice.is_active = False
    alice.save()
    assert pull("alice/app", token) == 401


def test_an_outsiders_pull_token_stops_when_the_repository_is_made_private(alice, bob):
    repository = RepositoryFactory(name="alice/app", owner=alice)
    token = registry_token("bob", scope="repository:alice/app:pull")
    assert pull("alice/app", token) == 200
    services.set_visibility(repository=repository, private=True, actor=alice)
    assert pull("alice/app", token) == 401
    assert pull("alice/app", token) == pull("alice/missing", token)


def test_a_revoked_access_token_ends_the_registry_tokens_issued_from_it(alice):
    RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    token, secret = credentials.create_token(user=alice, name="ci", scopes=["pull"])
    issued = registry_token("alice", secret, scope="repository:alice/app:pull")
    assert pull("alice/app", issued) == 200
    credentials.revoke(token=token)
    assert pull("alice/app", issued) == 401


def test_revoking_one_access_token_leaves_the_others_working(alice):
    RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    token, _ = credentials.create_token(user=alice, name="old", scopes=["pull"])
    _, secret = credentials.create_token(user=alice, name="new", scopes=["pull"])
    issued = registry_token("alice", secret, scope="repository:alice/app:pull")
    credentials.revoke(token=token)
    assert pull("alice/app", issued) == 200


def login_refresh_token(username: str, password: str = PASSWORD) -> str:
    """What `docker login` keeps: the identity token of GET /token?offline_token=true."""
    response = Client().get(
        "/token",
        {"account": username, "client_id": "docker", "offline_token": "true", "service": "berth"},
        headers={"Authorization": basic(username, password)},
    )
    assert response.status_code == 200, response.content
    return json.loads(response.content)["refresh_token"]


def refresh(refresh_token: str, scope: str):
    return post_form(
        Client(),
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "service": "berth",
            "client_id": "docker",
            "scope": scope,
        },
    )


def test_a_refresh_token_dies_with_a_password_change(alice):
    RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    kept = login_refresh_token("alice")
    issued = json.loads(refresh(kept, "repository:alice/app:pull").content)["token"]
    assert pull("alice/app", issued) == 200
    alice.set_password("another-password-42")
    alice.save()
    response = refresh(kept, "repository:alice/app:pull")
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_grant"
    assert pull("alice/app", issued) == 401


def test_a_refresh_token_made_from_an_access_token_dies_with_its_revocation(alice):
    RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    token, secret = credentials.create_token(user=alice, name="ci", scopes=["pull"])
    kept = login_refresh_token("alice", secret)
    response = refresh(kept, "repository:alice/app:pull")
    assert pull("alice/app", json.loads(response.content)["token"]) == 200
    credentials.revoke(token=token)
    response = refresh(kept, "repository:alice/app:pull")
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_grant"


def test_a_refresh_token_made_from_an_access_token_keeps_its_scopes(alice):
    RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    _, secret = credentials.create_token(user=alice, name="ci", scopes=["pull"])
    kept = login_refresh_token("alice", secret)
    response = refresh(kept, "repository:alice/app:pull,push")
    issued = json.loads(response.content)["token"]
    assert start_upload("alice/app", issued) == 401


def test_a_robots_cut_permissions_end_its_issued_push_token_at_once(acme, alice):
    robot, secret = organizations.create_robot(
        organization=acme,
        name="ci",
        permissions=[{"repository": "", "actions": ["pull", "push"]}],
        actor=alice,
    )
    token = registry_token("acme+ci", secret, scope="repository:acme/app:pull,push")
    assert start_upload("acme/app", token) == 202
    organizations.set_robot_permissions(
        robot=robot, permissions=[{"repository": "acme/app", "actions": ["pull"]}], actor=alice
    )
    assert start_upload("acme/app", token) == 401
    assert pull("acme/app", token) == 200


def test_a_withdrawn_grant_ends_the_granted_users_issued_token_at_once(alice, bob):
    repository = RepositoryFactory(name="alice/app", owner=alice, is_private=True)
    sharing.set_policy(
        repository=repository,
        grants=[{"principal": "bob", "actions": ["pull"]}],
        networks=[],
        actor=alice,
    )
    token = registry_token("bob", scope="repository:alice/app:pull")
    assert pull("alice/app", token) == 200
    sharing.set_policy(repository=repository, grants=[], networks=[], actor=alice)
    assert pull("alice/app", token) == 401


def test_a_registry_token_never_outlives_the_access_token_it_came_from(alice, settings):
    settings.BERTH_TOKEN_TTL = 300
    _, secret = credentials.create_token(
        user=alice, name="ci", scopes=["pull"], expires_at=timezone.now() + timedelta(seconds=60)
    )
    response = Client().get(
        "/token", {"service": "berth", "scope": "repository:alice/app:pull"},
        headers={"Authorization": basic("alice", secret)},
    )  # fmt: skip
    body = json.loads(response.content)
    assert 0 < body["expires_in"] <= 60
    claims = tokens.verify_access_token(body["token"])
    assert claims["exp"] - claims["iat"] <= 60
