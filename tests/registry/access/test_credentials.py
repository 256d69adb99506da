"""Remembered Basic credentials never outlive a password change, deactivation or demotion."""

import pytest

from registry.models import Repository
from tests.factories import UserFactory
from tests.oci import RegistryClient

pytestmark = pytest.mark.django_db


def test_an_old_password_stops_working_at_once(alice, as_alice):
    assert as_alice.get("/v2/").status_code == 200  # verified and remembered
    alice.set_password("a-new-passphrase-77")
    alice.save()
    assert as_alice.get("/v2/").status_code == 401


def test_a_deactivated_user_loses_basic_access_at_once(alice, as_alice):
    assert as_alice.get("/v2/").status_code == 200
    alice.is_active = False
    alice.save()
    assert as_alice.get("/v2/").status_code == 401


def test_a_demoted_superuser_loses_their_rights_at_once(db):
    boss = UserFactory(username="boss", is_superuser=True)
    client = RegistryClient("boss")
    RegistryClient("boss").push_image("vendor/app", "v1")
    Repository.objects.filter(name="vendor/app").update(is_private=True)
    assert client.get("/v2/vendor/app/manifests/v1").status_code == 200
    boss.is_superuser = False
    boss.save()
    assert client.get("/v2/vendor/app/manifests/v1").status_code == 404


def test_remembered_credentials_skip_the_password_hash(alice, as_alice, monkeypatch):
    from django.contrib.auth import hashers

    as_alice.get("/v2/")
    calls = []
    original = hashers.MD5PasswordHasher.verify
    monkeypatch.setattr(
        hashers.MD5PasswordHasher, "verify", lambda self, *a: calls.append(1) or original(self, *a)
    )
    for _ in range(3):
        assert as_alice.get("/v2/").status_code == 200
    assert calls == []
