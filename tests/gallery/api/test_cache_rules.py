"""`/api/v1/cache-rules`: staff set the pull-through cache's rules; nothing reaches a private
address unless the rule says so; cached repositories show their origin."""

import socket

import pytest

from gallery import services as gallery_services
from registry.cache import rules
from registry.models import AuditEvent, CacheRule, Namespace, Repository
from tests.factories import UserFactory
from tests.gallery.api.conftest import as_user
from tests.oci import RegistryClient
from tests.peers import push_image, unique

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


def create(client, **fields):
    body = {"prefix": "hub", "upstream": "https://registry.example", **fields}
    return client.post("/api/v1/cache-rules", body, format="json")


@pytest.fixture
def public_dns(monkeypatch):
    """registry.example resolves to a public address; evil.example to loopback."""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        answers = {"registry.example": "93.184.216.34", "evil.example": "127.0.0.1"}
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_staff_create_a_rule_whose_password_is_stored_sealed_and_never_answered(staff, public_dns):
    response = create(as_user("sam"), username="robot", password="hunter2-secret")
    assert response.status_code == 201, response.content
    data = response.json()
    assert "password" not in data
    assert data["has_password"] is True
    rule = CacheRule.objects.get(pk=data["id"])
    assert "hunter2" not in rule.password_sealed
    assert Namespace.objects.get(name="hub").owner is None
    assert AuditEvent.objects.filter(action="cache.rule_created", target="hub").exists()
    listed = as_user("sam").get("/api/v1/cache-rules").json()
    assert [r["prefix"] for r in listed] == ["hub"]
    assert as_user("sam").get(f"/api/v1/cache-rules/{rule.pk}").json()["username"] == "robot"


def test_only_staff_manage_rules(alice, public_dns, api):
    assert create(api).status_code == 401
    assert create(as_user("alice")).status_code == 403
    assert as_user("alice").get("/api/v1/cache-rules").status_code == 403


def test_a_staff_members_token_does_not_manage_rules(staff, public_dns):
    """A token administers nothing: a rule reaches other networks and takes a prefix."""
    from registry.access import credentials

    _, secret = credentials.create_token(user=staff, name="ci", scopes=["api-read", "api-write"])
    client = as_user("sam")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert create(client).status_code == 403
    assert not CacheRule.objects.exists()
    rule = create(as_user("sam")).json()
    assert client.delete(f"/api/v1/cache-rules/{rule['id']}").status_code == 403
    assert CacheRule.objects.exists()


@pytest.mark.parametrize(
    "upstream",
    [
        "http://127.0.0.1:5000",
        "http://169.254.169.254",
        "http://[::1]:5000",
        "http://10.0.0.8",
        "http://evil.example",
    ],
)
def test_a_rule_to_a_private_address_is_refused_unless_it_allows_private_networks(
    staff, public_dns, upstream
):
    refused = create(as_user("sam"), upstream=upstream)
    assert refused.status_code == 400
    assert "upstream" in refused.json()["error"]["fields"]
    assert create(as_user("sam"), upstream=upstream, allow_private_networks=True).status_code == 201


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prefix": "Not A Name"}, "prefix"),
        ({"upstream": "ftp://registry.example"}, "upstream"),
        ({"upstream": "https://registry.example/v2/"}, "upstream"),
        ({"upstream": "https://user:pw@registry.example"}, "upstream"),
        ({"password": "lonely"}, "username"),
        ({"namespace": "Bad Namespace"}, "namespace"),
        # Longer than its column: the database refused it (a 500 on PostgreSQL).
        ({"username": "u" * 256, "password": "pw"}, "username"),
        ({"namespace": "n" * 256}, "namespace"),
    ],
)
def test_a_rule_that_makes_no_sense_is_refused_by_field(staff, public_dns, fields, field):
    response = create(as_user("sam"), **fields)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_prefix_that_belongs_to_a_publisher_or_holds_their_repositories_is_refused(
    staff, alice, public_dns, as_alice
):
    assert "prefix" in create(as_user("sam"), prefix="alice").json()["error"]["fields"]
    root = UserFactory(username="root", is_superuser=True)
    RegistryClient(root.username).push_image("shared/app", "1")
    assert "prefix" in create(as_user("sam"), prefix="shared").json()["error"]["fields"]
    assert create(as_user("sam"), prefix="hub").status_code == 201
    assert "prefix" in create(as_user("sam"), prefix="hub/more").json()["error"]["fields"]


def test_deleting_a_rule_deletes_its_cached_repositories(staff, peer, anonymous):
    upstream = unique("library")
    push_image(peer.url, upstream, "1.0", [b"layer"])
    rule = create(as_user("sam"), upstream=peer.url, allow_private_networks=True).json()
    assert anonymous.get(f"/v2/hub/{upstream}/manifests/1.0").status_code == 200
    assert Repository.objects.filter(name=f"hub/{upstream}").exists()
    assert as_user("sam").delete(f"/api/v1/cache-rules/{rule['id']}").status_code == 204
    assert not Repository.objects.filter(name=f"hub/{upstream}").exists()
    rules.forget()
    assert anonymous.get(f"/v2/hub/{upstream}/manifests/1.0").status_code in (401, 404)


def test_a_cached_repository_shows_its_origin_and_is_read_only_in_the_gallery(
    staff, peer, anonymous, client
):
    upstream = unique("library")
    push_image(peer.url, upstream, "1.0", [b"layer"], labels={})
    create(as_user("sam"), upstream=peer.url, allow_private_networks=True)
    anonymous.get(f"/v2/hub/{upstream}/manifests/1.0")
    repository = Repository.objects.get(name=f"hub/{upstream}")
    gallery_services.index_repository(repository_id=repository.pk)
    origin = f"{peer.host}/{upstream}"
    detail = as_user("sam").get(f"/api/v1/repositories/hub/{upstream}").json()
    assert detail["origin"] == origin
    page = client.get(f"/r/hub/{upstream}")
    assert f"Cached from <code>{origin}</code>".encode() in page.content
    UserFactory(username="root", is_superuser=True, is_staff=True)
    patch = as_user("root").patch(
        f"/api/v1/repositories/hub/{upstream}", {"description": "mine now"}, format="json"
    )
    assert patch.status_code == 403
    assert (
        as_user("root").delete(f"/api/v1/repositories/hub/{upstream}/-/tags/1.0").status_code == 403
    )
