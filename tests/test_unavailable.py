"""While the database is away every kind of request answers 503 with Retry-After (which
clients retry), in its own format: never a 500 page. (The same with a real PostgreSQL cut
mid-push: tests/registry/storage/test_scaled_out.py.)"""

import json

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client


@pytest.fixture
def database_away(db):
    """Every query fails as on a cut connection (undone before the test's rollback)."""

    def refuse(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    saved = CursorWrapper.execute, CursorWrapper.executemany
    CursorWrapper.execute = CursorWrapper.executemany = refuse
    yield
    CursorWrapper.execute, CursorWrapper.executemany = saved


def test_the_registry_answers_unavailable(database_away):
    response = Client().get("/v2/alice/app/tags/list")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content)["errors"][0]["code"] == "UNAVAILABLE"


def test_the_token_service_answers_unavailable(database_away):
    response = Client().get(
        "/token?service=berth&scope=repository:alice/app:pull",
        HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0",
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_the_api_answers_unavailable_in_its_error_shape(database_away):
    response = Client().get("/api/v1/repositories")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


def test_pages_answer_a_short_unavailable_page(database_away):
    response = Client().get("/search?q=nginx")
    assert response.status_code == 503
    assert b"unavailable for a moment" in response.content
