"""Accounts and catalog edits that no one user can abuse against the others."""

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gallery import readme, services
from gallery.publishing import settings as repository_settings
from registry.access import ratelimit
from registry.models import Repository
from tests.factories import UserFactory, catalog_entry

pytestmark = pytest.mark.django_db
FORM = {"description": "d", "about": "# About", "usage": "", "is_private": ""}


@pytest.fixture
def app(as_alice):
    as_alice.push_image("alice/app", "v1")
    return services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_markdown_renders_outside_any_transaction(app, alice, monkeypatch):
    """SQLite has one write lock for the whole file: rendering (a child process allowed
    seconds) must never hold it, or one publisher's README stalls every push."""
    seen = []
    original = readme.render
    monkeypatch.setattr(
        readme, "render", lambda text: seen.append(list(connection.savepoint_ids)) or original(text)
    )
    response = signed_in(alice).post("/r/alice/app/-/settings", FORM)
    assert response.status_code == 302
    # The test runs inside one transaction of its own; any transaction the code opened
    # would show here as a savepoint.
    assert seen
    assert all(savepoints == [] for savepoints in seen)


def test_saving_settings_is_rate_limited_per_user(app, alice, monkeypatch):
    monkeypatch.setattr(
        repository_settings, "EDITS", ratelimit.Limiter("edits", ratelimit.Rate(2, 3600))
    )
    client = signed_in(alice)
    assert [client.post("/r/alice/app/-/settings", FORM).status_code for _ in range(2)] == [
        302,
        302,
    ]
    response = client.post("/r/alice/app/-/settings", FORM)
    assert response.status_code == 429
    assert response["Retry-After"]
    assert b"saving too often" in response.content


def test_sign_up_with_a_known_email_answers_like_any_other(alice):
    response = Client().post(
        "/accounts/signup",
        {
            "username": "carol",
            "email": alice.email,
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert b"already exists" not in response.content


def _reset_statements(email: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = Client().post("/accounts/password_reset/", {"email": email})
    return response.status_code, [q["sql"].replace(email, "EMAIL") for q in captured]


def test_password_reset_does_the_same_work_for_known_and_unknown_addresses(alice, settings):
    settings.BERTH_BACKGROUND_INLINE = False  # as served: the mail goes in the background
    from gallery import tasks

    known = _reset_statements(alice.email)
    unknown = _reset_statements("nobody@example.test")
    tasks.wait_for_background()
    assert known == unknown
    assert known[0] == 302


def test_password_reset_mails_are_limited_per_address(alice, monkeypatch):
    from gallery import accounts

    monkeypatch.setattr(accounts, "RESETS", ratelimit.Limiter("resets", ratelimit.Rate(2, 3600)))
    client = Client(REMOTE_ADDR="10.1.1.1")
    for _ in range(2):
        assert client.post("/accounts/password_reset/", {"email": alice.email}).status_code == 302
    response = client.post("/accounts/password_reset/", {"email": alice.email})
    assert response.status_code == 429
    assert len(mail.outbox) == 2


def test_password_reset_mails_are_limited_per_email(alice, monkeypatch):
    from gallery import accounts

    monkeypatch.setattr(accounts, "RESETS", ratelimit.Limiter("resets", ratelimit.Rate(2, 3600)))
    for i in range(4):  # from four addresses: answered alike, but only two mails go out
        response = Client(REMOTE_ADDR=f"10.1.1.{i}").post(
            "/accounts/password_reset/", {"email": alice.email}
        )
        assert response.status_code == 302
    assert len(mail.outbox) == 2


def test_the_sign_up_help_shows_the_push_address_as_typed(db):
    html = Client().get("/accounts/signup").content.decode()
    assert "&lt;username&gt;/&lt;repository&gt;" in html


def test_signed_in_users_see_their_namespaces(db):
    user = UserFactory(username="dora")
    html = signed_in(user).get("/accounts/").content.decode()
    assert "dora/" in html


def test_a_new_users_empty_repository_list_says_how_to_publish(db):
    html = signed_in(UserFactory(username="erin")).get("/accounts/").content.decode()
    assert "create a repository</a> and upload an image archive" in html
    assert 'href="/new"' in html


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_an_access_token_does_not_sign_in_to_the_site(alice, path):
    """A session has every right of its account: signed in with a pull-only token, its
    holder made tokens, changed members and deleted repositories with none of its scopes."""
    from registry.access import credentials

    alice.is_staff = True
    alice.save()
    _, secret = credentials.create_token(user=alice, name="ci", scopes=["pull"])
    client = Client()
    response = client.post(path, {"username": "alice", "password": secret})
    assert response.status_code == 200  # the form again, with its error
    assert "_auth_user_id" not in client.session
    assert client.get("/settings/tokens").status_code == 302  # to the sign-in page


def test_the_push_heading_speaks_of_a_first_image_only_before_there_is_one(db):
    user = UserFactory(username="fern")
    assert "Push your first image" in signed_in(user).get("/accounts/").content.decode()
    catalog_entry("fern/app", owner=user)
    html = signed_in(user).get("/accounts/").content.decode()
    assert "Push your first image" not in html
    assert "Push an image" in html


@pytest.mark.parametrize("confirmation", ["abc", "abd"])
def test_a_weak_new_passwords_errors_sit_under_the_new_password(alice, confirmation):
    """Django put them under the confirmation, below the rules a person reads."""
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": "x", "new_password1": "abc", "new_password2": confirmation},
    )
    errors = response.context["form"].errors
    assert any("too short" in error for error in errors["new_password1"])
    assert not any("too short" in error for error in errors.get("new_password2", []))
    assert ("new_password2" in errors) == (confirmation != "abc")  # a mismatch stays there


def test_a_weak_password_at_a_reset_is_refused_under_the_new_password(alice):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    client = Client()
    start = client.get(f"/accounts/reset/{uid}/{default_token_generator.make_token(alice)}/")
    response = client.post(start["Location"], {"new_password1": "abc", "new_password2": "abc"})
    errors = response.context["form"].errors
    assert any("too short" in error for error in errors["new_password1"])
    assert "new_password2" not in errors
