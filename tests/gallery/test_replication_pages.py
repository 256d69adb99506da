"""The namespace's replication page: rules with their status, a new rule, replicate now,
and accepting what another publisher wants to copy here."""

import pytest

from registry.models import ReplicationRule
from registry.replication import services

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_settings_page_links_to_replication(client, alice):
    page = signed_in(client, alice).get("/u/alice/-/settings")
    assert b'href="/u/alice/-/replication"' in page.content


def test_a_publisher_creates_a_rule_to_another_publisher_who_accepts_it(
    client, alice, bob, as_alice
):
    as_alice.push_image("alice/app", "1.0", layer=b"layer")
    response = signed_in(client, alice).post(
        "/u/alice/-/replication", {"action": "create", "kind": "publisher", "publisher": "bob"}
    )
    assert response.status_code == 302
    rule = ReplicationRule.objects.get()
    page = client.get("/u/alice/-/replication")
    assert b"awaiting acceptance" in page.content
    assert b"Allow private networks" not in page.content
    client.force_login(bob)
    incoming = client.get("/u/bob/-/replication")
    assert b"Copies other publishers send here" in incoming.content
    client.post("/u/bob/-/replication", {"action": "accept", "rule": rule.pk})
    rule.refresh_from_db()
    assert rule.accepted_at is not None
    assert services.status_of(rule)["state"] == "in sync"


def test_a_rule_to_a_private_address_is_refused_on_the_page(client, alice):
    response = signed_in(client, alice).post(
        "/u/alice/-/replication",
        {"action": "create", "kind": "registry", "url": "http://169.254.169.254"},
    )
    assert response.status_code == 200
    assert b"does not connect to" in response.content
    assert not ReplicationRule.objects.exists()


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"kind": "registry"}, "url", "Give the registry&#x27;s URL."),
        (
            {"kind": "registry", "url": "registry.example.com"},
            "url",
            "Start it with https://, as in https://registry.example.com.",
        ),
        ({"kind": "publisher"}, "publisher", "Give the publisher&#x27;s namespace."),
        ({"kind": "publisher", "publisher": "nobody"}, "publisher", "No other publisher"),
    ],
)
def test_a_rules_problem_is_said_under_its_field(client, alice, values, field, problem):
    """They were said above the form, or in the service's words ("not an http(s) URL")."""
    response = signed_in(client, alice).post(
        "/u/alice/-/replication", {"action": "create", **values}
    )
    assert response.status_code == 200
    html = response.content.decode()
    errors = html[html.index(f'id="id_{field}_error"') :].split("</ul>", 1)[0]
    assert problem in errors
    assert "Give either" not in html
    assert not ReplicationRule.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"url": "https://registry.example.com", "username": "u" * 256},
        {"url": "https://" + "a" * 2048 + ".example.com"},
    ],
)
def test_a_value_longer_than_its_column_is_a_form_error(client, alice, values):
    """As the API says it: PostgreSQL refused the row, a 500."""
    response = signed_in(client, alice).post(
        "/u/alice/-/replication", {"action": "create", "kind": "registry", **values}
    )
    assert response.status_code == 200
    assert b"at most" in response.content
    assert not ReplicationRule.objects.exists()


def test_someone_elses_replication_page_does_not_exist_for_them(client, alice, bob):
    assert signed_in(client, bob).get("/u/alice/-/replication").status_code == 404


def test_replicate_now_and_delete_from_the_page(client, alice, bob, as_alice):
    as_alice.push_image("alice/app", "1.0", layer=b"layer")
    rule = services.create_rule(namespace=alice.namespaces.get(), actor=alice, target="bob")
    services.answer(rule=rule, accept=True, actor=bob)
    signed_in(client, alice).post("/u/alice/-/replication", {"action": "run", "rule": rule.pk})
    page = client.get("/u/alice/-/replication")
    assert b"in sync" in page.content
    assert b"bob/app" in page.content
    client.post("/u/alice/-/replication", {"action": "delete", "rule": rule.pk})
    assert not ReplicationRule.objects.exists()


@pytest.mark.parametrize("rule", ["²", "x", "", "9" * 40])
def test_a_rule_that_is_no_id_is_a_404(client, alice, rule):
    """int() would read "²" as no number, though str.isdigit() calls it a digit."""
    page = signed_in(client, alice).post("/u/alice/-/replication", {"action": "run", "rule": rule})
    assert page.status_code == 404


def test_the_rule_form_groups_each_destinations_fields_under_its_choice(client, alice):
    page = signed_in(client, alice).get("/u/alice/-/replication").content.decode()
    registry = page.index("<legend>For another registry</legend>")
    publisher = page.index("<legend>For another publisher on this site</legend>")
    assert registry < page.index('name="url"') < page.index('name="password"') < publisher
    assert publisher < page.index('name="publisher"')
    assert "{#" not in page
