"""A namespace is a record with an owner: nobody takes over a name by signing up."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from registry.access import namespaces
from registry.models import Namespace, Repository
from tests.factories import PASSWORD, UserFactory
from tests.oci import RegistryClient, error_codes

pytestmark = pytest.mark.django_db


def sign_up(username: str):
    return Client().post(
        "/accounts/signup",
        {
            "username": username,
            "email": f"{username}@example.test",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )


@pytest.fixture
def staff_pushed_acme(db):
    """A superuser pushes acme/app (no user named acme exists) and makes it private."""
    UserFactory(username="root-admin", is_superuser=True, is_staff=True)
    RegistryClient("root-admin").push_image("acme/app", "v1")
    Repository.objects.filter(name="acme/app").update(is_private=True)


def test_signing_up_cannot_claim_a_namespace_that_holds_repositories(staff_pushed_acme):
    response = sign_up("acme")
    assert response.status_code == 200
    assert b"This name is taken." in response.content
    assert not get_user_model().objects.filter(username="acme").exists()


def test_a_user_created_under_a_taken_name_gets_no_rights_there(staff_pushed_acme):
    get_user_model().objects.create_user("acme", password=PASSWORD)
    acme = RegistryClient("acme")
    assert error_codes(acme.get("/v2/acme/app/manifests/v1")) == ["NAME_UNKNOWN"]
    assert error_codes(acme.request("POST", "/v2/acme/app/blobs/uploads/")) == ["NAME_UNKNOWN"]
    assert acme.get("/v2/_catalog").json()["repositories"] == []


def test_a_deleted_users_namespace_stays_reserved(alice, as_alice):
    as_alice.push_image("alice/app", "v1")
    Repository.objects.filter(name="alice/app").update(is_private=True)
    alice.delete()
    assert Namespace.objects.get(name="alice").owner is None
    assert b"This name is taken." in sign_up("alice").content
    get_user_model().objects.create_user("alice", password=PASSWORD)  # by a script
    assert error_codes(RegistryClient("alice").get("/v2/alice/app/manifests/v1")) == [
        "NAME_UNKNOWN"
    ]


def test_a_namespace_that_once_had_an_owner_cannot_be_claimed_even_when_empty(alice):
    alice.delete()
    assert not namespaces.is_claimable("alice")
    assert get_user_model().objects.create_user("alice").namespaces.count() == 0


@pytest.mark.parametrize("how", ["create_user", "create_superuser", "factory"])
def test_every_new_user_owns_the_namespace_of_their_username(db, how):
    model = get_user_model()
    if how == "factory":
        user = UserFactory(username="dora")
    else:
        user = getattr(model.objects, how)("dora", "dora@example.test", PASSWORD)
    assert Namespace.objects.get(name="dora").owner == user


def test_createsuperuser_claims_the_namespace(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", username="erin", email="erin@example.test")
    assert Namespace.objects.get(name="erin").owner.username == "erin"


def test_deleting_a_user_with_their_repositories_keeps_the_name_reserved(alice, as_alice):
    as_alice.push_image("alice/app", "v1")
    out = io.StringIO()
    call_command("delete_user", "alice", "--delete-repositories", stdout=out)
    assert "1 repository deleted" in out.getvalue()
    assert not Repository.objects.filter(namespace="alice").exists()
    assert Namespace.objects.get(name="alice").owner is None
    assert not namespaces.is_claimable("alice")


def test_deleting_a_user_alone_keeps_their_repositories(alice, as_alice):
    as_alice.push_image("alice/app", "v1")
    out = io.StringIO()
    call_command("delete_user", "alice", stdout=out)
    assert "their repositories kept" in out.getvalue()
    assert Repository.objects.filter(name="alice/app").exists()


def test_the_verified_badge_stays_with_the_namespace(alice, as_alice):
    from gallery import services
    from gallery.models import CatalogEntry

    as_alice.push_image("alice/app", "v1")
    services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    publisher = CatalogEntry.objects.get(name="alice/app").publisher
    services.set_verified(publisher=publisher, verified=True)
    alice.delete()
    newcomer = get_user_model().objects.create_user("alice", password=PASSWORD)
    assert not newcomer.namespaces.exists()
    publisher.refresh_from_db()
    assert publisher.is_verified
    assert publisher.namespace_record.owner is None


@pytest.mark.parametrize(
    "name",
    ["administrator", "admin2", "security", "security-team", "official", "docker", "dockerhub",
     "berth-bot", "support", "library", "api", "www"],
)  # fmt: skip
def test_reserved_words_and_prefixes_cannot_be_signed_up(db, name):
    response = sign_up(name)
    assert b"This name is reserved." in response.content


def test_staff_reserve_more_names_with_an_ownerless_namespace(db):
    Namespace.objects.create(name="acme-corp")
    assert b"This name is taken." in sign_up("acme-corp").content


def test_staff_push_to_a_new_namespace_creates_it_reserved(db):
    UserFactory(username="boss", is_superuser=True, is_staff=True)
    RegistryClient("boss").push_image("vendor/app", "v1")
    assert Namespace.objects.get(name="vendor").owner is None


def test_users_cannot_push_into_a_namespace_nobody_owns(alice, as_alice):
    response = as_alice.request("POST", "/v2/nobody/app/blobs/uploads/")
    assert response.status_code == 404
    assert not Namespace.objects.filter(name="nobody").exists()
