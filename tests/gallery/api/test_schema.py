"""Schemathesis against /api/schema/: no input makes the API fail, and every answer
matches the schema (its status declared, its body of the declared shape)."""

from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from gallery.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# NUL bytes are refused (400) before any view runs, on every path; tests/gallery/test_hostile.py
# covers that. Generated strings leave them out so the checks reach the views.
schema.config.generation.update(allow_x00=False)


@contextmanager
def connection_kept():
    """Called as a WSGI application, Django closes its database connection around each
    request; inside a test's transaction that connection must stay (the test client arranges
    the same for its own requests, and reconnects the handler after each)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


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
    with connection_kept():
        response = case.call()
    case.validate_response(response)
