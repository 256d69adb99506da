"""A publisher's profile page (`/u/<namespace>/-/profile`): who may edit it, what it takes,
and what `/u/<namespace>` then shows."""

import pytest
from django.test import Client

from gallery.forms import ProfileForm
from gallery.models import Publisher
from registry.access import organizations
from registry.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GOOD = {"display_name": "Alice Liddell", "bio": "Images <b>I</b> keep.", "website": ""}


def signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def acme(alice):
    return organizations.create_organization(name="acme", owner=alice)


def test_a_user_edits_their_profile_and_sees_it_on_their_page(alice):
    client = signed_in(alice)
    saved = client.post("/u/alice/-/profile", {**GOOD, "website": "https://alice.example/"})
    assert (saved.status_code, saved["Location"]) == (302, "/u/alice/-/profile")
    page = client.get("/u/alice").content.decode()
    assert '<h1 class="repo-title">Alice Liddell</h1>' in page
    assert "Images &lt;b&gt;I&lt;/b&gt; keep." in page  # plain text, escaped
    assert 'href="https://alice.example/" rel="nofollow ugc noopener"' in page


def test_the_form_shows_the_current_profile(alice):
    signed_in(alice).post("/u/alice/-/profile", GOOD)
    page = signed_in(alice).get("/u/alice/-/profile").content.decode()
    assert 'value="Alice Liddell"' in page


def test_owners_and_admins_of_an_organization_edit_its_profile(acme, alice, bob):
    organizations.set_member(organization=acme, user=bob, role="admin", actor=alice)
    assert (
        signed_in(bob).post("/u/acme/-/profile", {**GOOD, "display_name": "ACME"}).status_code
        == 302
    )
    assert Publisher.objects.get(namespace_record=acme).display_name == "ACME"


@pytest.mark.parametrize("role", [None, "reader", "maintainer"])
def test_others_get_a_404_and_change_nothing(acme, alice, bob, role):
    if role:
        organizations.set_member(organization=acme, user=bob, role=role, actor=alice)
    client = signed_in(bob)
    assert client.get("/u/acme/-/profile").status_code == 404
    assert client.post("/u/acme/-/profile", GOOD).status_code == 404
    assert client.post("/u/alice/-/profile", GOOD).status_code == 404
    assert not Publisher.objects.exclude(display_name="").exists()


def test_the_anonymous_are_sent_to_sign_in(alice):
    response = Client().get("/u/alice/-/profile")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_an_unknown_namespace_is_a_404(alice):
    assert signed_in(alice).get("/u/nobody/-/profile").status_code == 404


def test_the_form_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/u/alice/-/profile", GOOD).status_code == 403
    assert not Publisher.objects.exclude(display_name="").exists()


def test_a_change_is_audited_with_what_changed(alice):
    client = signed_in(alice)
    client.post("/u/alice/-/profile", GOOD)
    client.post("/u/alice/-/profile", {**GOOD, "website": "http://alice.example"})
    client.post("/u/alice/-/profile", {**GOOD, "website": "http://alice.example"})
    events = AuditEvent.objects.filter(action="namespace.profile").order_by("id")
    assert [e.detail for e in events] == [
        {"display_name": "Alice Liddell", "bio": "Images <b>I</b> keep."},
        {"website": "http://alice.example"},
    ]  # an unchanged save is none
    assert events[0].namespace == "alice"
    assert events[0].actor == "alice"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("website", "javascript:alert(1)"),
        ("website", "JavaScript://alert(1)"),
        ("website", "data:text/html,<script>alert(1)</script>"),
        ("website", "ftp://files.example/"),
        ("website", "https://" + "a" * 300 + ".example/"),
        ("website", "https://ex\ud800ample.org/"),
        ("display_name", "x" * 101),
        ("display_name", "Al\x00ice"),
        ("display_name", "Alice\nBob"),
        ("display_name", "evil\u202egpj.exe"),
        ("display_name", "Al\ud800ice"),
        ("bio", "x" * 1025),
        ("bio", "a\x00b"),
        ("bio", "a\udfffb"),
    ],
)
def test_bad_input_is_a_form_error(field, value):
    form = ProfileForm({**GOOD, field: value})
    assert not form.is_valid()
    assert list(form.errors) == [field]


def test_a_website_without_a_scheme_is_taken_as_https():
    form = ProfileForm({**GOOD, "website": "alice.example"})
    assert form.is_valid()
    assert form.cleaned_data["website"] == "https://alice.example"


@pytest.mark.parametrize(
    "body",
    [
        b"display_name=Al%00ice&bio=&website=",
        b"display_name=%ED%A0%80&bio=%ED%B0%80&website=https%3A%2F%2Fx%ED%A0%80.example",
        b"display_name=%FF%FE&bio=&website=javascript%3Aalert(1)",
        b"display_name=" + b"x" * 100_000 + b"&bio=&website=",
    ],
)
def test_hostile_posts_are_answered_with_the_form_never_a_500(alice, body):
    response = signed_in(alice).post(
        "/u/alice/-/profile", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert 'class="errorlist' in response.content.decode()


def test_a_users_pages_lead_to_the_profile(acme, alice):
    client = signed_in(alice)
    assert 'href="/u/alice/-/profile"' in client.get("/u/alice").content.decode()
    assert 'href="/u/acme/-/profile"' in client.get("/u/acme").content.decode()
    account = client.get("/accounts/").content.decode()
    assert 'href="/u/alice/-/profile"' in account
    assert 'href="/u/acme/-/profile"' in account
    assert 'href="/u/acme/-/profile"' in client.get("/u/acme/-/settings").content.decode()
    for other in (signed_in(UserFactory()), Client()):
        assert "/-/profile" not in other.get("/u/acme").content.decode()


def test_a_website_of_another_scheme_is_told_which_schemes_are_taken():
    """Django's own "Enter a valid URL." replaced the validator's message."""
    form = ProfileForm({**GOOD, "website": "javascript:alert(1)"})
    assert form.errors["website"] == ["Enter an http:// or https:// address."]
