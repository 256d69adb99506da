"""The pages for tokens, organizations, members, robots, namespace settings, audit log and a
repository's policy, for those allowed, and 404 for everyone else."""

import pytest
from django.test import Client

from gallery import services
from registry.access import credentials, organizations
from registry.models import AccessToken, AuditEvent, Membership, Namespace, Repository, Robot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme(alice):
    return organizations.create_organization(name="acme", owner=alice)


def test_a_token_is_created_shown_once_and_revoked(alice):
    client = signed_in(alice)
    created = client.post(
        "/settings/tokens",
        {"action": "create", "name": "laptop", "scopes": ["pull"], "expires": "30"},
    )
    # Post, redirect, get: reloading the page that shows the secret creates no second token.
    assert (created.status_code, created["Location"]) == (302, "/settings/tokens")
    assert "Copy this token now" not in client.get("/accounts/").content.decode()
    shown = client.get("/settings/tokens")
    assert "no-store" in shown["Cache-Control"]  # not kept for the back button either
    page = shown.content.decode()
    assert "Copy this token now" in page
    token = AccessToken.objects.get()
    assert "berth_" + token.key_id in page
    assert "Copy this token now" not in client.get("/settings/tokens").content.decode()
    assert AccessToken.objects.count() == 1
    client.post(f"/settings/tokens/{token.pk}/revoke")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_a_token_is_asked_before_it_is_done(alice):
    client = signed_in(alice)
    token, _ = credentials.create_token(user=alice, name="ci", scopes=["pull"])
    client.post("/settings/tokens", {"action": "revoke", "token": token.pk})
    page = client.get(f"/settings/tokens/{token.pk}/revoke").content.decode()
    assert "Revoke the token “ci”?" in page
    assert 'method="post"' in page
    assert "csrfmiddlewaretoken" in page
    token.refresh_from_db()
    assert token.revoked_at is None
    client.post(f"/settings/tokens/{token.pk}/revoke")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_another_accounts_token_has_no_revoke_page(alice, bob):
    token, _ = credentials.create_token(user=bob, name="ci", scopes=["pull"])
    client = signed_in(alice)
    assert client.get(f"/settings/tokens/{token.pk}/revoke").status_code == 404
    assert client.post(f"/settings/tokens/{token.pk}/revoke").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_creating_an_organization_in_the_browser(alice):
    response = signed_in(alice).post("/organizations/new", {"name": "newco"})
    assert response.status_code == 302
    assert Namespace.objects.get(name="newco").kind == "organization"
    taken = signed_in(alice).post("/organizations/new", {"name": "alice"})
    assert b"This name is taken." in taken.content


def test_members_are_added_changed_and_removed(acme, alice, bob):
    client = signed_in(alice)
    client.post("/u/acme/-/members", {"action": "add", "username": "bob", "role": "reader"})
    assert Membership.objects.get(user=bob).role == "reader"
    client.post("/u/acme/-/members", {"action": "role", "username": "bob", "role": "maintainer"})
    assert Membership.objects.get(user=bob).role == "maintainer"
    client.post("/u/acme/-/members/bob/remove")
    assert not Membership.objects.filter(user=bob).exists()
    # A role is changed for a member only: adding one goes through "add", which refuses an
    # account that is disabled.
    bob.is_active = False
    bob.save()
    client.post("/u/acme/-/members", {"action": "role", "username": "bob", "role": "admin"})
    assert not Membership.objects.filter(user=bob).exists()


def test_removing_a_member_is_asked_before_it_is_done(acme, alice, bob):
    organizations.set_member(organization=acme, user=bob, role="maintainer", actor=alice)
    client = signed_in(alice)
    client.post("/u/acme/-/members", {"action": "remove", "username": "bob"})
    page = client.get("/u/acme/-/members/bob/remove").content.decode()
    assert "Remove bob from acme?" in page
    assert "pushing to its repositories" in page
    assert "csrfmiddlewaretoken" in page
    assert Membership.objects.filter(user=bob).exists()
    client.post("/u/acme/-/members/bob/remove")
    assert not Membership.objects.filter(user=bob).exists()


def test_only_owners_are_offered_to_remove_an_owner(acme, alice, bob):
    carol = UserFactory(username="carol")
    organizations.set_member(organization=acme, user=bob, role="admin", actor=alice)
    organizations.set_member(organization=acme, user=carol, role="reader", actor=alice)
    client = signed_in(bob)
    refused = client.post("/u/acme/-/members/alice/remove", follow=True)
    assert "Only owners may remove owners." in refused.content.decode()
    assert Membership.objects.filter(user=alice).exists()
    assert signed_in(carol).get("/u/acme/-/members/bob/remove").status_code == 404
    assert client.get("/u/acme/-/members/nobody/remove").status_code == 404


def test_the_last_owner_is_not_offered_leave_but_told_why(acme, alice, bob):
    page = signed_in(alice).get("/u/acme/-/members").content.decode()
    assert 'value="leave"' not in page
    assert "You are the only owner, so you cannot leave" in page
    organizations.set_member(organization=acme, user=bob, role="owner", actor=alice)
    page = signed_in(alice).get("/u/acme/-/members").content.decode()
    assert 'value="leave"' in page
    assert "only owner" not in page


def test_a_member_who_leaves_lands_on_their_account_page(acme, alice, bob):
    """They were sent to the members page, which is no longer theirs to see: a 404."""
    organizations.set_member(organization=acme, user=bob, role="maintainer", actor=alice)
    response = signed_in(bob).post("/u/acme/-/members", {"action": "leave"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/accounts/"
    assert "You left acme." in response.content.decode()
    assert not Membership.objects.filter(user=bob).exists()


def test_changes_to_members_say_what_was_done(acme, alice, bob):
    client = signed_in(alice)
    said = []
    for path, form in (
        ("/u/acme/-/members", {"action": "add", "username": "bob", "role": "admin"}),
        ("/u/acme/-/members", {"action": "role", "username": "bob", "role": "owner"}),
        ("/u/acme/-/members/bob/remove", {}),
    ):
        response = client.post(path, form, follow=True)
        said.append([str(message) for message in response.context["messages"]])
    assert said == [
        ["bob is a member, as an admin."],
        ["bob is now an owner."],
        ["bob is no longer a member."],
    ]


def test_readers_see_members_but_cannot_change_them(acme, alice, bob):
    organizations.set_member(organization=acme, user=bob, role="reader", actor=alice)
    page = signed_in(bob).get("/u/acme/-/members")
    assert page.status_code == 200
    assert b'name="action" value="add"' not in page.content
    signed_in(bob).post(
        "/u/acme/-/members", {"action": "role", "username": "alice", "role": "reader"}
    )
    assert Membership.objects.get(user=alice).role == "owner"


@pytest.mark.parametrize("path", ["/u/acme/-/robots", "/u/acme/-/audit", "/u/acme/-/settings"])
def test_admin_pages_are_404_for_outsiders_and_readers(acme, alice, bob, path):
    assert signed_in(bob).get(path).status_code == 404
    organizations.set_member(organization=acme, user=bob, role="reader", actor=alice)
    assert signed_in(bob).get(path).status_code == 404
    assert signed_in(alice).get(path).status_code == 200
    assert Client().get(path).status_code == 302  # to sign in


def test_a_robots_token_is_shown_with_the_username_to_sign_in_with(acme, alice):
    client = signed_in(alice)
    client.post(
        "/u/acme/-/robots",
        {"action": "create", "name": "ci", "repository": "", "access": "pull,push"},
    )
    assert (
        "docker login testserver -u acme+ci</code>"
        in client.get("/u/acme/-/robots").content.decode()
    )
    client.post("/u/acme/-/robots", {"action": "token", "robot": "ci"})
    assert (
        "docker login testserver -u acme+ci</code>"
        in client.get("/u/acme/-/robots").content.decode()
    )


def test_a_robot_is_created_with_its_token_shown_once(acme, alice):
    client = signed_in(alice)
    created = client.post(
        "/u/acme/-/robots",
        {"action": "create", "name": "ci", "repository": "", "access": "pull,push"},
    )
    assert (created.status_code, created["Location"]) == (302, "/u/acme/-/robots")
    page = client.get("/u/acme/-/robots").content.decode()
    assert "acme+ci" in page
    assert "Copy this token now" in page
    assert "Copy this token now" not in client.get("/u/acme/-/robots").content.decode()
    client.post("/u/acme/-/robots", {"action": "token", "robot": "ci"})
    assert "Copy this token now" in client.get("/u/acme/-/robots").content.decode()


def test_the_namespace_default_visibility_applies_to_new_repositories(acme, alice):
    signed_in(alice).post("/u/acme/-/settings", {"default_visibility": "private", "networks": ""})
    from tests.oci import RegistryClient

    RegistryClient("alice").push_image("acme/app", "v1")
    assert Repository.objects.get(name="acme/app").is_private


def test_settings_refused_for_a_bad_network_change_nothing(acme, alice):
    response = signed_in(alice).post(
        "/u/acme/-/settings", {"default_visibility": "private", "networks": "10.0.0.0/33"}
    )
    assert response.status_code == 200  # the form again, with its error
    assert Namespace.objects.get(name="acme").default_private is None
    assert not acme.network_rules.exists()


def test_the_audit_page_and_its_csv(acme, alice):
    page = signed_in(alice).get("/u/acme/-/audit")
    assert b"organization.created" in page.content
    csv = signed_in(alice).get("/u/acme/-/audit?format=csv")
    assert csv["Content-Type"].startswith("text/csv")


def test_the_audit_page_counts_the_events_it_shows(acme, alice, bob):
    """It said "The newest 200 of 2 events", and counted events the filter left out."""
    organizations.set_member(organization=acme, user=bob, role="reader", actor=alice)
    client = signed_in(alice)
    assert "2 events." in client.get("/u/acme/-/audit").content.decode()
    page = client.get("/u/acme/-/audit?action=member.added").content.decode()
    assert "1 event." in page
    assert "The newest" not in page


def test_the_repository_policy_is_edited_by_admins_only(as_alice, alice, bob):
    as_alice.push_image("alice/app", "v1")
    services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    signed_in(alice).post(
        "/r/alice/app/-/settings", {"form": "policy", "grants": "bob pull", "networks": ""}
    )
    assert Repository.objects.get(name="alice/app").grants.get().user == bob
    assert AuditEvent.objects.filter(action="repository.policy").exists()


def test_maintainers_edit_texts_but_not_visibility(acme, alice):
    mia = UserFactory(username="mia")
    organizations.set_member(organization=acme, user=mia, role="maintainer", actor=alice)
    from tests.oci import RegistryClient

    RegistryClient("alice").push_image("acme/app", "v1")
    services.index_repository(repository_id=Repository.objects.get(name="acme/app").pk)
    page = signed_in(mia).get("/r/acme/app/-/settings").content.decode()
    assert "Private repository" not in page
    assert "Access policy" not in page
    signed_in(mia).post(
        "/r/acme/app/-/settings",
        {"form": "catalog", "description": "d", "about": "", "usage": "", "is_private": "on"},
    )
    assert not Repository.objects.get(name="acme/app").is_private


@pytest.mark.parametrize("role", ["maintainer", "admin"])
def test_a_save_of_the_texts_keeps_a_privacy_set_while_they_rendered(
    acme, alice, monkeypatch, role
):
    """The texts render for seconds before they are saved: a repository another admin made
    private meanwhile was made public again by a save of its texts."""
    mia = UserFactory(username="mia")
    organizations.set_member(organization=acme, user=mia, role=role, actor=alice)
    from tests.oci import RegistryClient

    RegistryClient("alice").push_image("acme/app", "v1")
    services.index_repository(repository_id=Repository.objects.get(name="acme/app").pk)
    prepared = services._prepared_text

    def made_private_meanwhile(entry, **texts):
        services.set_visibility(repository=entry.repository, private=True)
        return prepared(entry, **texts)

    monkeypatch.setattr(services, "_prepared_text", made_private_meanwhile)
    response = signed_in(mia).post(
        "/r/acme/app/-/settings", {"form": "catalog", "description": "d", "about": "", "usage": ""}
    )
    assert response.status_code == 302
    assert Repository.objects.get(name="acme/app").is_private


@pytest.fixture
def robot(acme, alice):
    robot, _ = organizations.create_robot(
        organization=acme,
        name="ci",
        permissions=[{"repository": "", "actions": ["pull", "push"]}],
        actor=alice,
    )
    return robot


def test_one_robot_token_is_revoked_from_the_page(acme, alice, robot):
    from registry.access import credentials

    second, _ = credentials.create_token(user=robot.user, name="robot", scopes=["pull"])
    first = robot.user.access_tokens.exclude(pk=second.pk).get()
    page = signed_in(alice).get("/u/acme/-/robots").content.decode()
    assert f'name="token" value="{first.pk}"' in page
    # Behind a disclosure that says what revoking does, as deleting the robot is: the
    # button revoked on one click.
    disclosures = [
        part[: part.index("</details>")]
        for part in page.split('<details class="token-revoke">')[1:]
    ]
    assert len(disclosures) == page.count('value="revoke"') == 2
    assert all('value="revoke"' in part for part in disclosures)
    assert "refused from its next request" in disclosures[0]
    response = signed_in(alice).post(
        "/u/acme/-/robots", {"action": "revoke", "robot": "ci", "token": first.pk}
    )
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.revoked_at is not None
    assert second.revoked_at is None
    assert AuditEvent.objects.filter(action="token.revoked", actor="alice").exists()


def test_another_users_token_cannot_be_revoked_through_a_robot(acme, alice, bob, robot):
    from registry.access import credentials

    token, _ = credentials.create_token(user=bob, name="mine", scopes=["pull"])
    response = signed_in(alice).post(
        "/u/acme/-/robots", {"action": "revoke", "robot": "ci", "token": token.pk}
    )
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_robots_permissions_are_changed_from_the_page(acme, alice, robot):
    response = signed_in(alice).post(
        "/u/acme/-/robots",
        {"action": "permissions", "robot": "ci", "permissions": "acme/app pull\n* pull,push"},
    )
    assert response.status_code == 302
    assert sorted((p.repository, p.actions) for p in robot.permissions.all()) == [
        ("", ["pull", "push"]),
        ("acme/app", ["pull"]),
    ]
    assert AuditEvent.objects.filter(action="robot.changed", target="acme+ci").exists()


def test_a_permission_outside_the_organization_is_refused_on_the_page(acme, alice, robot):
    response = signed_in(alice).post(
        "/u/acme/-/robots",
        {"action": "permissions", "robot": "ci", "permissions": "bob/app pull"},
    )
    assert response.status_code == 200
    assert "not a repository of acme" in response.content.decode()
    assert [(p.repository, p.actions) for p in robot.permissions.all()] == [("", ["pull", "push"])]


def test_the_robot_forms_need_the_csrf_token(acme, alice, robot):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    token = robot.user.access_tokens.get()
    response = client.post(
        "/u/acme/-/robots", {"action": "revoke", "robot": "ci", "token": token.pk}
    )
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    page = client.get("/u/acme/-/robots").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 4


def test_readers_cannot_change_robots(acme, alice, bob, robot):
    organizations.set_member(organization=acme, user=bob, role="reader", actor=alice)
    response = signed_in(bob).post(
        "/u/acme/-/robots", {"action": "permissions", "robot": "ci", "permissions": "* pull"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize("token", ["x", "²", "9" * 30, ""])
def test_revoking_a_token_that_is_no_id_is_a_404(alice, robot, token):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    assert client.post(f"/settings/tokens/{token}/revoke").status_code == 404
    response = client.post("/u/acme/-/robots", {"action": "revoke", "robot": "ci", "token": token})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/u/acme/-/members", {"action": "role", "username": "b\x00b", "role": "reader"}),
        ("/u/acme/-/robots", {"action": "delete", "robot": "c\x00i"}),
        ("/u/acme/-/robots", {"action": "token", "robot": "c\x00i"}),
    ],
)
def test_a_name_with_a_nul_is_no_member_or_robot(alice, robot, path, form):
    # PostgreSQL refuses NUL in text: looked up, it was a 500 there.
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    assert client.post(path, form).status_code in (200, 302, 404)


def test_a_robot_is_given_a_repository_by_its_name_within_the_organization(acme, alice):
    """`web` was refused as "not a repository of acme": only `acme/web` was taken."""
    client = signed_in(alice)
    client.post(
        "/u/acme/-/robots",
        {"action": "create", "name": "ci", "repository": "web", "access": "pull,push"},
    )
    robot = Robot.objects.get(name="ci")
    assert [p.repository for p in robot.permissions.all()] == ["acme/web"]
    client.post(
        "/u/acme/-/robots",
        {"action": "permissions", "robot": "ci", "permissions": "api pull\nacme/web pull,push"},
    )
    assert sorted(p.repository for p in robot.permissions.all()) == ["acme/api", "acme/web"]


def test_a_robots_repository_of_another_namespace_is_refused_under_the_field(acme, alice):
    response = signed_in(alice).post(
        "/u/acme/-/robots",
        {"action": "create", "name": "ci", "repository": "bob/web", "access": "pull"},
    )
    html = response.content.decode()
    errors = html[html.index('id="id_repository_error"') :].split("</ul>", 1)[0]
    assert "Name a repository of acme, e.g. web." in errors


def test_a_robot_is_deleted_only_once_its_name_is_typed(acme, alice, robot):
    """One click on Delete deleted it, and its tokens with it."""
    client = signed_in(alice)
    for typed in (None, "", "CI", "c"):
        form = {"action": "delete", "robot": "ci"} | ({} if typed is None else {"confirm": typed})
        response = client.post("/u/acme/-/robots", form)
        assert "Type ci to delete the robot acme+ci." in response.content.decode()
    assert Robot.objects.filter(name="ci").exists()
    client.post("/u/acme/-/robots", {"action": "delete", "robot": "ci", "confirm": "ci"})
    assert not Robot.objects.filter(name="ci").exists()


def test_a_publishers_page_leads_its_admins_to_its_settings(acme, alice, bob):
    """Nothing on it led there: the settings were found from the account page only."""
    assert 'href="/u/acme/-/members"' in signed_in(alice).get("/u/acme").content.decode()
    assert 'href="/u/alice/-/settings"' in signed_in(alice).get("/u/alice").content.decode()
    for client in (signed_in(bob), Client()):
        assert "/u/acme/-/settings" not in client.get("/u/acme").content.decode()


def test_the_token_form_says_what_each_scope_allows(alice):
    """It offered api-read, api-write, delete, pull and push, bare."""
    page = signed_in(alice).get("/settings/tokens").content.decode()
    for words in ("Pull images (pull)", "Delete tags and images (delete)", "(api-write)"):
        assert words in page
