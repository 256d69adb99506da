"""`/api/v1/replication-rules`: create, read, list, status, replicate now, delete, and the
other publisher's acceptance."""

import pytest

from registry.models import AuditEvent, Namespace, ReplicationRule
from tests.factories import UserFactory
from tests.gallery.api.conftest import as_user
from tests.oci import RegistryClient
from tests.peers import get, unique

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def test_a_publisher_replicates_to_another_registry_and_follows_the_status(
    alice, as_alice, root, peer
):
    digest, _ = as_alice.push_image("alice/app", "1.0", layer=b"layer one")
    where = unique("region")
    created = as_user("root").post(
        "/api/v1/replication-rules",
        {
            "namespace": "alice",
            "url": peer.url,
            "destination_namespace": where,
            "allow_private_networks": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["destination"]["kind"] == "registry"
    assert rule["state"] == "pending"
    mine = as_user("alice").get("/api/v1/replication-rules").json()
    assert [r["id"] for r in mine] == [rule["id"]]
    queued = as_user("alice").post(f"/api/v1/replication-rules/{rule['id']}/replicate")
    assert (queued.status_code, queued.json()) == (202, {"queued": ["alice/app"]})
    status = as_user("alice").get(f"/api/v1/replication-rules/{rule['id']}/status").json()
    assert status["state"] == "in sync"
    assert status["repositories"][0]["destination"] == f"{where}/app"
    assert status["repositories"][0]["last_success_at"]
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    code, headers, _ = get(peer.url, f"/v2/{where}/app/manifests/1.0", accept)
    assert (code, headers["Docker-Content-Digest"]) == (200, digest)
    read = as_user("alice").get(f"/api/v1/replication-rules/{rule['id']}").json()
    assert read["last_success_at"] is not None
    assert read["destination"]["tag_parameter"] is False


def test_the_password_is_write_only_and_private_networks_are_for_staff(alice):
    refused = as_user("alice").post(
        "/api/v1/replication-rules",
        {"namespace": "alice", "url": "http://127.0.0.1:5000", "allow_private_networks": True},
        format="json",
    )
    assert refused.status_code == 400
    assert "allow_private_networks" in refused.json()["error"]["fields"]
    created = as_user("alice").post(
        "/api/v1/replication-rules",
        {
            "namespace": "alice",
            "url": "https://registry.invalid",
            "username": "ci",
            "password": "s3cret-token",
        },
        format="json",
    )
    assert created.status_code == 201
    assert "password" not in created.json()["destination"]
    assert created.json()["destination"]["has_password"] is True
    sealed = ReplicationRule.objects.get().password_sealed
    assert "s3cret" not in sealed
    assert AuditEvent.objects.filter(action="replication.rule_created").exists()


def test_only_the_namespace_admins_create_rules_for_it(alice, bob):
    response = as_user("bob").post(
        "/api/v1/replication-rules",
        {"namespace": "alice", "url": "https://registry.invalid"},
        format="json",
    )
    assert response.status_code == 403
    assert (
        as_user("bob")
        .post(
            "/api/v1/replication-rules",
            {"namespace": "nobody", "url": "https://x.invalid"},
            format="json",
        )
        .status_code
        == 400
    )


def test_a_malformed_registry_url_is_a_400(alice):
    response = as_user("alice").post(
        "/api/v1/replication-rules", {"namespace": "alice", "url": "http://[::1"}, format="json"
    )
    assert response.status_code == 400
    assert "url" in response.json()["error"]["fields"]


def test_a_token_reads_rules_but_does_not_change_them(alice):
    from registry.access import credentials

    _, secret = credentials.create_token(user=alice, name="ci", scopes=["api-read", "api-write"])
    client = as_user("alice")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/replication-rules").status_code == 200
    created = client.post(
        "/api/v1/replication-rules",
        {"namespace": "alice", "url": "https://registry.invalid"},
        format="json",
    )
    assert created.status_code == 403


def test_another_publisher_accepts_and_then_receives_the_copies(alice, bob, as_alice):
    as_alice.push_image("alice/app", "1.0", layer=b"layer one")
    rule = as_user("alice").post(
        "/api/v1/replication-rules", {"namespace": "alice", "publisher": "bob"}, format="json"
    )
    assert rule.status_code == 201
    rule = rule.json()
    assert rule["state"] == "awaiting acceptance"
    assert (
        as_user("alice").post(f"/api/v1/replication-rules/{rule['id']}/replicate").status_code
        == 400
    )
    incoming = as_user("bob").get("/api/v1/replication-rules").json()
    assert [(r["id"], r["your_side"]) for r in incoming] == [(rule["id"], "destination")]
    assert (
        as_user("alice").post(f"/api/v1/replication-rules/{rule['id']}/accept").status_code == 403
    )
    accepted = as_user("bob").post(f"/api/v1/replication-rules/{rule['id']}/accept")
    assert accepted.status_code == 200
    assert RegistryClient("bob").get("/v2/bob/app/manifests/1.0").status_code == 200
    assert (
        as_user("bob").post(f"/api/v1/replication-rules/{rule['id']}/decline").json()["state"]
        == "declined"
    )
    assert as_user("bob").delete(f"/api/v1/replication-rules/{rule['id']}").status_code == 403
    assert as_user("alice").delete(f"/api/v1/replication-rules/{rule['id']}").status_code == 204


def test_rules_toward_a_namespace_nobody_owns_or_oneself_are_refused(alice):
    Namespace.objects.create(name="reserved")
    for target in ("reserved", "alice", "ghost"):
        response = as_user("alice").post(
            "/api/v1/replication-rules", {"namespace": "alice", "publisher": target}, format="json"
        )
        assert response.status_code == 400
        assert "target" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "u" * 256, "password": "pw"},
        {"url": "https://" + "a" * 2100 + ".invalid"},
        {"filter": "team/" + "a" * 260},
        {"destination_namespace": "mirror/" + "a" * 260},
    ],
)
def test_a_value_longer_than_its_column_is_a_400_naming_it(alice, fields):
    """Each was stored as it came, and PostgreSQL's refusal was a 500."""
    body = {"namespace": "alice", "url": "https://registry.invalid", **fields}
    response = as_user("alice").post("/api/v1/replication-rules", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == set(fields) - {"password"}
    assert not ReplicationRule.objects.exists()


@pytest.mark.parametrize("repository", ["alice/ghost", "alice/" + "a" * 300, "bob/app", 7])
def test_replicate_now_names_a_repository_of_the_rule_or_is_a_400(alice, as_alice, repository):
    as_alice.push_image("alice/app", "1.0")
    rule = as_user("alice").post(
        "/api/v1/replication-rules",
        {"namespace": "alice", "url": "https://registry.invalid"},
        format="json",
    )
    path = f"/api/v1/replication-rules/{rule.json()['id']}"
    response = as_user("alice").post(f"{path}/replicate", {"repository": repository}, format="json")
    assert response.status_code == 400, response.content
    assert "repository" in response.json()["error"]["fields"]
    status = as_user("alice").get(f"{path}/status").json()["repositories"]
    assert [r["repository"] for r in status] in ([], ["alice/app"])  # nothing made up


def test_another_sites_page_cannot_accept_with_the_basic_credentials_a_browser_keeps(alice, bob):
    """A browser that was given Basic credentials (the API's 401 asks for them) sends them
    with any site's form: a page elsewhere could accept a rule copying into bob's namespace."""
    rule = as_user("alice").post(
        "/api/v1/replication-rules", {"namespace": "alice", "publisher": "bob"}, format="json"
    )
    path = f"/api/v1/replication-rules/{rule.json()['id']}/accept"
    forged = as_user("bob").post(path, HTTP_SEC_FETCH_SITE="cross-site")
    assert forged.status_code == 403, forged.content
    assert forged.json()["error"]["code"] == "permission_denied"
    assert ReplicationRule.objects.get().accepted_at is None
    assert as_user("bob").post(path, HTTP_SEC_FETCH_SITE="same-origin").status_code == 200
    assert ReplicationRule.objects.get().accepted_at is not None


def test_an_offer_names_no_private_repository_to_its_publisher_until_accepted(alice, bob, as_alice):
    """The target's admins see the repositories a rule copies once they accept (the copies
    are theirs then); before, and after they decline, only those they may read anyway."""
    from registry.models import Repository

    as_alice.push_image("alice/app", "1.0", layer=b"public layer")
    as_alice.push_image("alice/secret", "1.0", layer=b"private layer")
    Repository.objects.filter(name="alice/secret").update(is_private=True)
    rule = as_user("alice").post(
        "/api/v1/replication-rules", {"namespace": "alice", "publisher": "bob"}, format="json"
    )
    path = f"/api/v1/replication-rules/{rule.json()['id']}"

    def names(user):
        return [r["repository"] for r in as_user(user).get(f"{path}/status").json()["repositories"]]

    assert names("alice") == ["alice/app", "alice/secret"]
    assert names("bob") == ["alice/app"]
    assert as_user("bob").post(f"{path}/accept").status_code == 200
    assert names("bob") == ["alice/app", "alice/secret"]
    assert as_user("bob").post(f"{path}/decline").status_code == 200
    assert names("bob") == ["alice/app"]
