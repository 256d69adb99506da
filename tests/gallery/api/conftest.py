import pytest
from rest_framework.test import APIClient

from gallery import services
from registry.models import Repository
from tests.factories import PASSWORD
from tests.oci import push_index


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def as_user(username: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(username))
    return client


def _basic(username: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


@pytest.fixture
def webapp(as_alice):
    push_index(as_alice, "alice/webapp", "1.0", ["amd64", "arm64"])
    entry = services.index_repository(repository_id=Repository.objects.get(name="alice/webapp").pk)
    return services.update_catalog(
        entry=entry, description="A web app", about="# Web app\n\nHello.", usage="Run it."
    )


@pytest.fixture
def secret(as_alice):
    as_alice.push_image("alice/secret", "v1")
    repository = Repository.objects.get(name="alice/secret")
    entry = services.index_repository(repository_id=repository.pk)
    services.set_visibility(repository=repository, private=True)
    return entry
