"""Schemathesis against /api/schema/: no input makes the API fail, and every answer
matches the schema (its status declared, its body of the declared shape)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gallery.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# NUL bytes are refused (400) before any view runs, on every path; tests/gallery/test_hostile.py
# covers that. Generated strings leave them out so the checks reach the views.
schema.config.generation.update(allow_x00=False)


@pytest.fixture
def catalog(db, as_alice):
    """Something to find: a public repository with a tag."""
    from gallery import services
    from registry.models import Repository

    as_alice.push_image("alice/app", "1.0")
    services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.django_db(transaction=False)
def test_the_api_never_fails_and_always_answers_as_documented(case, catalog):
    response = case.call()
    case.validate_response(response)
