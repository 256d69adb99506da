"""A private top-level repository is seen by superusers only, whatever a user is called."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from gallery import services as gallery_services
from registry.models import Repository
from tests.factories import PASSWORD, UserFactory
from tests.oci import RegistryClient, error_codes

pytestmark = pytest.mark.django_db
LAYER = b"top-level secret layer"


@pytest.fixture
def internal(db):
    """Staff push a private top-level repository `internal`; a user named `internal` exists."""
    UserFactory(username="boss", is_superuser=True, is_staff=True)
    RegistryClient("boss").push_image("internal", "v1", layer=LAYER)
    repository = Repository.objects.get(name="internal")
    Repository.objects.filter(pk=repository.pk).update(is_private=True)
    gallery_services.index_repository(repository_id=repository.pk)
    get_user_model().objects.create_user("internal", password=PASSWORD)
    return repository


def signed_in_as_internal() -> Client:
    client = Client()
    client.login(username="internal", password=PASSWORD)
    return client


def test_the_catalog_api_hides_it(internal):
    assert RegistryClient("internal").get("/v2/_catalog").json()["repositories"] == []


def test_the_registry_answers_as_for_a_missing_repository(internal):
    client = RegistryClient("internal")
    assert error_codes(client.get("/v2/internal/manifests/v1")) == ["NAME_UNKNOWN"]
    assert error_codes(client.get("/v2/internal/tags/list")) == ["NAME_UNKNOWN"]


@pytest.mark.parametrize("path", ["/r/internal", "/r/internal/-/tags", "/r/internal/-/usage"])
def test_its_pages_answer_as_if_it_did_not_exist(internal, path):
    seen = signed_in_as_internal().get(path)
    assert seen.status_code in (302, 404)
    internal.delete()
    missing = signed_in_as_internal().get(path)
    assert (seen.status_code, seen.get("Location")) == (
        missing.status_code,
        missing.get("Location"),
    )


def test_search_does_not_find_it(internal):
    html = signed_in_as_internal().get("/search", {"q": "internal"}).content.decode()
    assert 'href="/r/internal"' not in html


def test_its_blobs_cannot_be_mounted_without_from(internal):
    from tests.oci import sha256

    client = RegistryClient("internal")
    response = client.request("POST", f"/v2/internal/mine/blobs/uploads/?mount={sha256(LAYER)}")
    assert response.status_code == 202  # an ordinary upload session, not a mount


def test_superusers_still_see_it(internal):
    assert RegistryClient("boss").get("/v2/_catalog").json()["repositories"] == ["internal"]
