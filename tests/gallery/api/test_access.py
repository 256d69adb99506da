"""Organizations, members, tokens, robots, policies and the audit log under /api/v1/."""

import base64
import csv
import io
import json

import pytest
from rest_framework.test import APIClient

from registry.access import audit
from registry.models import AccessToken, AuditEvent, Membership, Namespace, Repository
from tests.factories import PASSWORD, UserFactory
from tests.gallery.api.conftest import as_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(alice, bob):
    response = as_user("alice").post("/api/v1/organizations", {"name": "acme"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_creating_an_organization_makes_its_creator_owner(acme, alice):
    assert acme["your_role"] == "owner"
    assert [m["username"] for m in acme["members"]] == ["alice"]


@pytest.mark.parametrize("name", ["alice", "admin-team", "Acme", "a", "library"])
def test_organization_names_follow_the_namespace_rules(alice, name):
    response = as_user("alice").post("/api/v1/organizations", {"name": name}, format="json")
    assert response.status_code == 400


def test_owners_add_members_and_change_roles(acme, bob):
    client = as_user("alice")
    response = client.put(
        "/api/v1/organizations/acme/members/bob", {"role": "maintainer"}, format="json"
    )
    assert response.json()["role"] == "maintainer"
    client.put("/api/v1/organizations/acme/members/bob", {"role": "admin"}, format="json")
    assert Membership.objects.get(user=bob).role == "admin"


def test_the_last_owner_can_neither_leave_nor_be_demoted(acme, alice):
    client = as_user("alice")
    assert client.delete("/api/v1/organizations/acme/members/alice").status_code == 400
    demoted = client.put(
        "/api/v1/organizations/acme/members/alice", {"role": "admin"}, format="json"
    )
    assert demoted.status_code == 400
    assert "last owner" in demoted.json()["error"]["fields"]["non_field_errors"][0]


def test_admins_cannot_make_owners_and_others_cannot_manage(acme, bob):
    UserFactory(username="carol")
    as_user("alice").put("/api/v1/organizations/acme/members/bob", {"role": "admin"}, format="json")
    promote = as_user("bob").put(
        "/api/v1/organizations/acme/members/carol", {"role": "owner"}, format="json"
    )
    assert promote.status_code == 403
    as_user("bob").put(
        "/api/v1/organizations/acme/members/carol", {"role": "reader"}, format="json"
    )
    assert (
        as_user("carol")
        .put("/api/v1/organizations/acme/members/bob", {"role": "reader"}, format="json")
        .status_code
        == 403
    )
    assert as_user("carol").delete("/api/v1/organizations/acme/members/carol").status_code == 204


def test_members_see_the_member_list_and_outsiders_do_not(acme, bob):
    assert "members" not in as_user("bob").get("/api/v1/organizations/acme").json()
    assert APIClient().get("/api/v1/organizations/nope").status_code == 404


def test_a_token_is_shown_once_stored_hashed_and_usable_on_the_api(alice):
    response = as_user("alice").post(
        "/api/v1/tokens",
        {"name": "ci", "scopes": ["pull", "api-read"], "expires": 30},
        format="json",
    )
    assert response.status_code == 201, response.content
    secret = response.json()["token"]
    row = AccessToken.objects.get()
    assert secret not in (row.secret_hash, row.key_id)
    listed = as_user("alice").get("/api/v1/tokens").json()
    assert "token" not in listed[0]
    assert with_token(secret).get("/api/v1/tokens").status_code == 200
    assert (
        with_token(secret)
        .post("/api/v1/tokens", {"name": "x", "scopes": ["pull"]}, format="json")
        .status_code
        == 403
    )


def test_a_token_without_api_write_cannot_change_anything(alice, webapp):
    secret = (
        as_user("alice")
        .post("/api/v1/tokens", {"name": "r", "scopes": ["api-read"]}, format="json")
        .json()["token"]
    )
    response = with_token(secret).patch(
        "/api/v1/repositories/alice/webapp", {"description": "x"}, format="json"
    )
    assert response.status_code == 403


def test_an_admins_token_manages_a_repository_as_issued_scopes_allow(alice, webapp):
    """Publishers' pipelines change visibility and delete repositories through the API with
    a token: `api-write` (and `push`, as every catalog edit) for visibility, `api-write` and
    `delete` for a deletion."""

    def token(*scopes):
        response = as_user("alice").post(
            "/api/v1/tokens", {"name": "-".join(scopes), "scopes": list(scopes)}, format="json"
        )
        return with_token(response.json()["token"])

    writer = token("pull", "push", "api-read", "api-write")
    deleter = token("pull", "api-read", "api-write", "delete")
    path = "/api/v1/repositories/alice/webapp"
    response = writer.patch(path, {"visibility": "private"}, format="json")
    assert response.status_code == 200, response.content
    assert Repository.objects.get(name="alice/webapp").is_private
    assert writer.get(f"{path}/-/policy").status_code == 403  # policies stay the account's
    assert writer.delete(path).status_code == 403  # no `delete` scope
    assert Repository.objects.filter(name="alice/webapp").exists()
    assert deleter.delete(path).status_code == 204
    assert not Repository.objects.filter(name="alice/webapp").exists()


def test_a_token_administers_no_organization(acme, alice, bob):
    # As for repository policies and replication rules: members, robots and the
    # organization itself are changed with the account, never with a token, even one
    # with api-write (a CI token leaked must not delete the organization).
    as_user("alice").put(
        "/api/v1/organizations/acme/members/bob", {"role": "reader"}, format="json"
    )
    as_user("alice").post(
        "/api/v1/organizations/acme/robots", {"name": "ci", "permissions": []}, format="json"
    )
    secret = (
        as_user("alice")
        .post("/api/v1/tokens", {"name": "ci", "scopes": ["api-read", "api-write"]}, format="json")
        .json()["token"]
    )
    client = with_token(secret)
    robot_token = AccessToken.objects.get(user__username="acme+ci").pk
    changes = [
        client.put("/api/v1/organizations/acme/members/bob", {"role": "admin"}, format="json"),
        client.delete("/api/v1/organizations/acme/members/bob"),
        client.put("/api/v1/organizations/acme/robots/ci", {"permissions": []}, format="json"),
        client.delete(f"/api/v1/organizations/acme/robots/ci/tokens/{robot_token}"),
        client.delete("/api/v1/organizations/acme/robots/ci"),
        client.delete("/api/v1/organizations/acme"),
        # A new organization reserves its name for good: the account's own decision too.
        client.post("/api/v1/organizations", {"name": "leaked"}, format="json"),
    ]
    assert [response.status_code for response in changes] == [403] * len(changes)
    assert not Namespace.objects.filter(name="leaked").exists()
    assert Membership.objects.get(user=bob).role == "reader"
    assert AccessToken.objects.get(pk=robot_token).revoked_at is None
    assert client.get("/api/v1/organizations/acme/robots").status_code == 200  # reads may


def test_only_owners_and_superusers_delete_an_organization(acme, bob):
    as_user("alice").put("/api/v1/organizations/acme/members/bob", {"role": "admin"}, format="json")
    assert as_user("bob").delete("/api/v1/organizations/acme").status_code == 403
    UserFactory(username="root", is_superuser=True, is_staff=True)
    assert as_user("root").delete("/api/v1/organizations/acme").status_code == 204
    assert not Membership.objects.filter(namespace__name="acme").exists()


def test_a_revoked_token_stops_at_once(alice):
    created = (
        as_user("alice")
        .post("/api/v1/tokens", {"name": "t", "scopes": ["api-read"]}, format="json")
        .json()
    )
    assert with_token(created["token"]).get("/api/v1/tokens").status_code == 200
    assert as_user("alice").delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    assert with_token(created["token"]).get("/api/v1/tokens").status_code == 401


def test_tokens_work_as_basic_passwords_on_the_registry(alice):
    secret = (
        as_user("alice")
        .post("/api/v1/tokens", {"name": "t", "scopes": ["pull"]}, format="json")
        .json()["token"]
    )
    pair = base64.b64encode(f"alice:{secret}".encode()).decode()
    assert APIClient().get("/v2/", HTTP_AUTHORIZATION=f"Basic {pair}").status_code == 200
    bad = base64.b64encode(f"alice:{secret}x".encode()).decode()
    assert APIClient().get("/v2/", HTTP_AUTHORIZATION=f"Basic {bad}").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["pull"], "expires": 9999},
    ],
)
def test_bad_token_requests_are_400(alice, body):
    assert as_user("alice").post("/api/v1/tokens", body, format="json").status_code == 400


def test_a_token_without_scopes_is_a_400_for_oneself_and_for_a_robot(acme):
    """An empty list of scopes names the field; it was a server error."""
    robot = {"name": "ci", "permissions": []}
    created = as_user("alice").post("/api/v1/organizations/acme/robots", robot, format="json")
    assert created.status_code == 201
    for path in ("/api/v1/tokens", "/api/v1/organizations/acme/robots/ci/tokens"):
        response = as_user("alice").post(path, {"name": "x", "scopes": []}, format="json")
        assert response.status_code == 400, response.content
        assert "scopes" in response.json()["error"]["fields"]
    assert not AccessToken.objects.filter(name="x").exists()


def test_robots_get_a_token_and_permissions_of_their_organization(acme):
    response = as_user("alice").post(
        "/api/v1/organizations/acme/robots",
        {"name": "ci", "permissions": [{"repository": "acme/app", "actions": ["pull", "push"]}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["robot"]["username"] == "acme+ci"
    assert response.json()["token"].startswith("berth_")
    outside = as_user("alice").post(
        "/api/v1/organizations/acme/robots",
        {"name": "bad", "permissions": [{"repository": "bob/app", "actions": ["pull"]}]},
        format="json",
    )
    assert outside.status_code == 400
    assert as_user("bob").get("/api/v1/organizations/acme/robots").status_code == 403
    assert as_user("alice").delete("/api/v1/organizations/acme/robots/ci").status_code == 204


@pytest.mark.parametrize("body", ["[]", "null", '"x"', "1"])
def test_robot_permissions_sent_as_anything_but_an_object_are_a_400(acme, body):
    client = as_user("alice")
    client.post(
        "/api/v1/organizations/acme/robots", {"name": "ci", "permissions": []}, format="json"
    )
    response = client.put(
        "/api/v1/organizations/acme/robots/ci", body, content_type="application/json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("body", [[], ["pull"], "permissions", {"permissions": None}, {}])
def test_changing_a_robot_with_a_body_that_is_not_its_permissions_is_a_400(acme, body):
    robot = {"name": "ci", "permissions": [{"repository": "acme/app", "actions": ["pull"]}]}
    as_user("alice").post("/api/v1/organizations/acme/robots", robot, format="json")
    response = as_user("alice").put("/api/v1/organizations/acme/robots/ci", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    read = as_user("alice").get("/api/v1/organizations/acme/robots/ci").json()
    assert read["permissions"] == [{"repository": "acme/app", "actions": ["pull"]}]


@pytest.mark.parametrize("repository", ["acme/app", ""])
def test_a_repository_named_twice_in_a_robots_permissions_is_a_400(acme, repository):
    twice = [{"repository": repository, "actions": ["pull"]}] * 2
    client = as_user("alice")
    created = client.post(
        "/api/v1/organizations/acme/robots", {"name": "ci", "permissions": twice}, format="json"
    )
    assert created.status_code == 400
    message = created.json()["error"]["fields"]["non_field_errors"][0]
    assert message.startswith("Name each repository once")  # not "A robot of that name exists."
    once = {"name": "ci", "permissions": twice[:1]}
    assert client.post("/api/v1/organizations/acme/robots", once, format="json").status_code == 201
    changed = client.put(
        "/api/v1/organizations/acme/robots/ci", {"permissions": twice}, format="json"
    )
    assert changed.status_code == 400, changed.content
    read = client.get("/api/v1/organizations/acme/robots/ci").json()
    assert read["permissions"] == twice[:1]


def test_the_policy_of_a_repository(alice, bob, webapp):
    client = as_user("alice")
    response = client.put(
        "/api/v1/repositories/alice/webapp/-/policy",
        {"grants": [{"principal": "bob", "actions": ["pull"]}], "networks": ["10.0.0.0/8"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "grants": [{"principal": "bob", "actions": ["pull"]}],
        "networks": ["10.0.0.0/8"],
    }
    assert Repository.objects.get(name="alice/webapp").network_restricted
    for bad in (
        {"grants": [{"principal": "nobody", "actions": ["pull"]}], "networks": []},
        {"grants": [{"principal": "bob", "actions": ["delete"]}], "networks": []},
        {"grants": [], "networks": ["not-a-network"]},
    ):
        assert (
            client.put("/api/v1/repositories/alice/webapp/-/policy", bad, format="json").status_code
            == 400
        )
    assert as_user("bob").get("/api/v1/repositories/alice/webapp/-/policy").status_code == 403


def test_the_audit_log_as_json_and_csv(acme, alice, bob):
    as_user("alice").put(
        "/api/v1/organizations/acme/members/bob", {"role": "reader"}, format="json"
    )
    events = as_user("alice").get("/api/v1/audit?namespace=acme").json()
    assert [e["action"] for e in events] == ["member.added", "organization.created"]
    assert as_user("bob").get("/api/v1/audit?namespace=acme").json() == []  # readers do not
    response = as_user("alice").get("/api/v1/audit?namespace=acme&format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["at", "actor", "address", "action"]
    assert response["Content-Type"].startswith("text/csv")


def test_the_audit_csv_writes_details_as_json(acme, alice, bob):
    as_user("alice").put(
        "/api/v1/organizations/acme/members/bob", {"role": "reader"}, format="json"
    )
    response = as_user("alice").get("/api/v1/audit?namespace=acme&action=member.added&format=csv")
    header, row = csv.reader(io.StringIO(response.content.decode()))
    assert json.loads(row[header.index("detail")]) == {"role": "reader"}


def test_csv_cells_never_start_a_formula(alice):
    audit.record("repository.created", actor=alice, namespace="alice", target="=HYPERLINK(1)")
    response = as_user("alice").get("/api/v1/audit?format=csv")
    assert "'=HYPERLINK(1)" in response.content.decode()


def test_pushes_and_deletes_are_audited(as_alice, alice):
    as_alice.push_image("alice/app", "v1")
    as_alice.request("DELETE", "/v2/alice/app/manifests/v1")
    actions = list(AuditEvent.objects.filter(namespace="alice").values_list("action", flat=True))
    assert {"repository.created", "tag.pushed", "tag.deleted"} <= set(actions)
    assert AuditEvent.objects.filter(action="tag.pushed").get().actor == "alice"
    assert PASSWORD


def test_the_audit_log_pages_with_limit_offset_and_a_next_link(alice):
    for number in range(5):
        audit.record("repository.created", actor=alice, namespace="alice", target=f"r{number}")
    client = as_user("alice")
    first = client.get("/api/v1/audit?namespace=alice&limit=2")
    assert [e["target"] for e in first.json()] == ["r4", "r3"]
    audit.record("repository.created", actor=alice, namespace="alice", target="later")
    seen = [e["target"] for e in first.json()]
    response = first
    while "Link" in response:
        link = response["Link"]
        assert link.endswith('>; rel="next"')
        response = client.get(link[1 : link.index(">")])
        seen += [e["target"] for e in response.json()]
    assert seen == ["r4", "r3", "r2", "r1", "r0"]  # what came later waits for a new first page


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "offset=-1", "limit=x", "offset=1000000001", f"offset={10**20}"],
)
def test_audit_paging_parameters_out_of_range_are_400(alice, query):
    """An offset past what the database's OFFSET holds was a 500 (OverflowError on SQLite)."""
    response = as_user("alice").get(f"/api/v1/audit?{query}")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) <= {"limit", "offset"}


def test_the_schema_bounds_the_audit_logs_paging(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = schema["paths"]["/api/v1/audit"]["get"]["parameters"]
    bounds = {p["name"]: p["schema"] for p in parameters if p["name"] in ("limit", "offset")}
    assert bounds["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert bounds["offset"] == {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}


def test_the_last_audit_page_has_no_next_link(alice):
    audit.record("repository.created", actor=alice, namespace="alice", target="r")
    response = as_user("alice").get("/api/v1/audit?limit=1")
    assert len(response.json()) == 1
    assert "Link" not in response
