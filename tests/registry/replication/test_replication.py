"""Replication, in process: to Debian's docker-registry on loopback (behind a proxy that
counts and injects faults) and to another publisher of this Berth."""

import json

import pytest

from registry import mediatypes
from registry.access import organizations
from registry.models import Blob, ReplicatedTag, ReplicationState, Repository
from registry.replication import services, tasks
from tests.factories import UserFactory
from tests.oci import RegistryClient, push_index, sha256
from tests.peers import Fault, get, unique

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def to_peer(alice, staff, proxy):
    """alice's rule: every repository of hers to the docker-registry (through the proxy)."""

    def make(**fields):
        return services.create_rule(
            namespace=alice.namespaces.get(),
            actor=staff,
            url=proxy.url,
            destination_namespace=fields.pop("destination_namespace", unique("copies")),
            allow_private_networks=True,
            **fields,
        )

    return make


def pushed(client, name, tag, layer):
    digest, _ = client.push_image(name, tag, layer=layer)
    return digest


def at(peer_url: str, name: str, reference: str) -> tuple[int, str]:
    accept = {"Accept": mediatypes.OCI_MANIFEST + ", " + mediatypes.OCI_INDEX}
    status, headers, _ = get(peer_url, f"/v2/{name}/manifests/{reference}", accept)
    return status, headers.get("Docker-Content-Digest", "")


def test_a_repository_is_replicated_with_its_tags_manifests_and_blobs(as_alice, to_peer, peer):
    one = pushed(as_alice, "alice/app", "1.0", b"layer one")
    two = pushed(as_alice, "alice/app", "2.0", b"layer two")
    rule = to_peer()
    outcome = services.replicate(rule_id=rule.pk, name="alice/app")
    assert (outcome.status, outcome.pushed) == ("done", 2)
    target = rule.destination_name("alice/app")
    assert at(peer.url, target, "1.0") == (200, one)
    assert at(peer.url, target, "2.0") == (200, two)
    status, _, body = get(peer.url, f"/v2/{target}/blobs/{sha256(b'layer two')}")
    assert (status, body) == (200, b"layer two")
    state = ReplicationState.objects.get(rule=rule, repository_name="alice/app")
    assert state.last_success_at is not None
    assert state.last_error == ""
    assert sorted(ReplicatedTag.objects.values_list("tag", flat=True)) == ["1.0", "2.0"]


def test_a_second_run_finds_everything_there_and_pushes_nothing(as_alice, to_peer, proxy):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = to_peer()
    services.replicate(rule_id=rule.pk, name="alice/app")
    proxy.clear()
    outcome = services.replicate(rule_id=rule.pk, name="alice/app")
    assert outcome.pushed == 0
    assert [m for m, _, _ in proxy.requests if m not in ("GET", "HEAD")] == []


def test_tags_go_by_a_put_by_tag_to_a_registry_that_ignores_the_tag_parameter(
    as_alice, to_peer, proxy, peer
):
    digest = pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = to_peer()
    services.replicate(rule_id=rule.pk, name="alice/app")
    rule.refresh_from_db()
    assert rule.tag_parameter is False  # distribution 2.8 answers no OCI-Tag
    assert proxy.count("PUT", r"/manifests/sha256:.*\?tag=1\.0") == 1
    assert proxy.count("PUT", r"/manifests/1\.0$") == 1
    assert at(peer.url, rule.destination_name("alice/app"), "1.0") == (200, digest)


def test_blobs_the_destination_holds_for_another_copy_are_mounted_not_uploaded(
    as_alice, to_peer, proxy
):
    pushed(as_alice, "alice/one", "1.0", b"a shared layer")
    as_alice.push_image("alice/two", "1.0", layer=b"a shared layer", config=b'{"os":"linux"}')
    rule = to_peer()
    services.replicate(rule_id=rule.pk, name="alice/one")
    proxy.clear()
    services.replicate(rule_id=rule.pk, name="alice/two")
    assert proxy.count("POST", "mount=" + sha256(b"a shared layer").replace(":", "%3A")) == 1
    uploads = [p for m, p, _ in proxy.requests if m == "PUT" and "/blobs/uploads/" in p]
    assert len(uploads) == 1  # the new config only


def test_an_index_goes_with_its_children_and_its_referrers(as_alice, to_peer, peer):
    index = push_index(as_alice, "alice/multi", "1.0", ["amd64", "arm64"])
    signature = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": str(sha256(b"{}")), "size": 2},
        "layers": [],
        "subject": {"mediaType": mediatypes.OCI_INDEX, "digest": index, "size": 1},
    }
    body = json.dumps(signature).encode()
    assert as_alice.push_manifest("alice/multi", sha256(body), body).status_code == 201
    rule = to_peer()
    services.replicate(rule_id=rule.pk, name="alice/multi")
    target = rule.destination_name("alice/multi")
    assert at(peer.url, target, "1.0") == (200, index)
    accept = {"Accept": mediatypes.OCI_INDEX}
    children = json.loads(get(peer.url, f"/v2/{target}/manifests/{index}", accept)[2])
    for child in children["manifests"]:
        assert at(peer.url, target, child["digest"])[0] == 200
    assert at(peer.url, target, sha256(body)) == (200, sha256(body))


def test_deletes_are_replicated_only_when_the_rule_says_so(as_alice, to_peer, peer):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    pushed(as_alice, "alice/app", "2.0", b"layer two")
    keeping, deleting = to_peer(), to_peer(replicate_deletes=True)
    for rule in (keeping, deleting):
        services.replicate(rule_id=rule.pk, name="alice/app")
    assert as_alice.request("DELETE", "/v2/alice/app/manifests/1.0").status_code == 202
    for rule in (keeping, deleting):
        assert services.replicate(rule_id=rule.pk, name="alice/app").status == "done"
    assert at(peer.url, keeping.destination_name("alice/app"), "1.0")[0] == 200
    assert at(peer.url, deleting.destination_name("alice/app"), "1.0")[0] == 404
    assert at(peer.url, deleting.destination_name("alice/app"), "2.0")[0] == 200
    assert not ReplicatedTag.objects.filter(rule=deleting, tag="1.0").exists()


def test_a_deleted_repository_takes_its_copies_tags_along_when_deletes_are_replicated(
    as_alice, to_peer, peer
):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = to_peer(replicate_deletes=True)
    services.replicate(rule_id=rule.pk, name="alice/app")
    Repository.objects.filter(name="alice/app").delete()
    services.replicate(rule_id=rule.pk, name="alice/app")
    assert at(peer.url, rule.destination_name("alice/app"), "1.0")[0] == 404


def test_the_filter_selects_repositories_by_prefix_or_glob(alice, staff, proxy):
    namespace = alice.namespaces.get()
    make = lambda pattern: services.create_rule(  # noqa: E731
        namespace=namespace, actor=staff, url=proxy.url, allow_private_networks=True,
        filter=pattern,
    )  # fmt: skip
    assert make("team/").matches("alice/team/api")
    assert not make("team/").matches("alice/teamwork")
    assert make("app-*").matches("alice/app-web")
    assert not make("app-*").matches("alice/api")
    assert make("").matches("alice/anything/at/all")
    assert not make("").matches("bob/app")


def test_a_push_queues_the_replication_of_its_repository(
    as_alice, to_peer, peer, django_capture_on_commit_callbacks
):
    rule = to_peer()
    with django_capture_on_commit_callbacks(execute=True):
        digest = pushed(as_alice, "alice/app", "1.0", b"layer one")
    assert at(peer.url, rule.destination_name("alice/app"), "1.0") == (200, digest)


def test_a_destination_that_fails_is_recorded_with_a_message_and_retried_later(
    as_alice, to_peer, proxy, peer
):
    digest = pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = to_peer()
    proxy.inject(Fault(path="/blobs/uploads/", method="POST", status=503, times=None))
    with pytest.raises(services.ReplicationFailed, match="unavailable; retrying") as raised:
        services.replicate(rule_id=rule.pk, name="alice/app")
    assert raised.value.transient
    state = ReplicationState.objects.get(rule=rule, repository_name="alice/app")
    assert "503" in state.last_error
    assert state.attempts == 1
    assert services.status_of(rule)["state"] == "failing"
    proxy.clear()
    services.replicate(rule_id=rule.pk, name="alice/app")
    state.refresh_from_db()
    assert (state.last_error, state.attempts) == ("", 0)
    assert at(peer.url, rule.destination_name("alice/app"), "1.0") == (200, digest)


def test_wrong_credentials_say_what_to_check(as_alice, alice, staff, token_peer):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = services.create_rule(
        namespace=alice.namespaces.get(),
        actor=staff,
        url=token_peer.registry.url,
        username=token_peer.username,
        password="not-the-password",
        allow_private_networks=True,
    )
    with pytest.raises(services.ReplicationFailed) as raised:
        services.replicate(rule_id=rule.pk, name="alice/app")
    assert not raised.value.transient
    assert "check the rule's username and password" in raised.value.message
    assert "'puller'" in raised.value.message


def test_a_registry_behind_token_authentication_receives_the_copy(
    as_alice, alice, staff, token_peer
):
    digest = pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = services.create_rule(
        namespace=alice.namespaces.get(),
        actor=staff,
        url=token_peer.registry.url,
        username=token_peer.username,
        password=token_peer.password,
        allow_private_networks=True,
        destination_namespace=unique("region"),
    )
    services.replicate(rule_id=rule.pk, name="alice/app")
    assert at(token_peer.writer.url, rule.destination_name("alice/app"), "1.0") == (200, digest)
    scopes = {s for r in token_peer.tokens.requests for s in r["query"].get("scope", [])}
    assert f"repository:{rule.destination_name('alice/app')}:pull,push" in scopes


def test_status_shows_lag_last_success_and_what_is_pending(as_alice, to_peer):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    pushed(as_alice, "alice/other", "1.0", b"other layer")
    rule = to_peer()
    services.mark_changed(rule, "alice/app")
    status = services.status_of(rule)
    assert status["state"] == "pending"
    assert status["lag_seconds"] >= 0
    assert {r["repository"]: r["state"] for r in status["repositories"]} == {
        "alice/app": "pending",
        "alice/other": "pending",
    }
    for name in ("alice/app", "alice/other"):
        services.replicate(rule_id=rule.pk, name=name)
    rule.refresh_from_db()
    status = services.status_of(rule)
    assert status["state"] == "in sync"
    assert status["lag_seconds"] == 0.0
    assert status["last_success_at"] is not None


def test_replicate_now_queues_every_selected_repository(as_alice, to_peer, peer):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    pushed(as_alice, "alice/other", "1.0", b"other layer")
    rule = to_peer()
    assert tasks.replicate_now(rule) == ["alice/app", "alice/other"]
    for name in ("alice/app", "alice/other"):
        assert at(peer.url, rule.destination_name(name), "1.0")[0] == 200


def test_a_run_finding_another_holding_the_repository_leaves_it_alone(as_alice, to_peer):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    rule = to_peer()
    held = services.Lease(services._state(rule, "alice/app"))
    assert held.take()
    assert services.replicate(rule_id=rule.pk, name="alice/app").status == "busy"
    held.release()
    assert services.replicate(rule_id=rule.pk, name="alice/app").status == "done"


# -- another publisher --------------------------------------------------------------------------


@pytest.fixture
def to_bob(alice, bob):
    return services.create_rule(namespace=alice.namespaces.get(), actor=alice, target="bob")


def test_a_rule_to_another_publisher_waits_until_they_accept(as_alice, to_bob, bob):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    assert services.replicate(rule_id=to_bob.pk, name="alice/app").status == "skipped"
    assert services.status_of(to_bob)["state"] == "awaiting acceptance"
    assert not Repository.objects.filter(name="bob/app").exists()
    services.answer(rule=to_bob, accept=True, actor=bob)
    services.replicate(rule_id=to_bob.pk, name="alice/app")
    pulled = RegistryClient("bob").get("/v2/bob/app/manifests/1.0")
    assert pulled.status_code == 200
    assert pulled.content == RegistryClient("alice").get("/v2/alice/app/manifests/1.0").content


def test_a_copy_to_another_publisher_links_blobs_and_keeps_privacy(as_alice, to_bob, bob):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    Repository.objects.filter(name="alice/app").update(is_private=True)
    before = Blob.objects.count()
    services.answer(rule=to_bob, accept=True, actor=bob)
    services.replicate(rule_id=to_bob.pk, name="alice/app")
    assert Blob.objects.count() == before
    assert Repository.objects.get(name="bob/app").is_private
    assert RegistryClient().get("/v2/bob/app/manifests/1.0").status_code == 401
    layer = RegistryClient("bob").get(f"/v2/bob/app/blobs/{sha256(b'layer one')}")
    assert b"".join(layer.streaming_content) == b"layer one"


def test_a_declined_rule_copies_nothing(as_alice, to_bob, bob):
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    services.answer(rule=to_bob, accept=False, actor=bob)
    assert services.replicate(rule_id=to_bob.pk, name="alice/app").status == "skipped"
    assert services.status_of(to_bob)["state"] == "declined"


def test_an_organization_is_a_publisher_a_rule_copies_to(as_alice, alice, bob):
    """Its owners and admins accept it, as a user accepts one to their own namespace."""
    organizations.create_organization(name="acme", owner=bob)
    rule = services.create_rule(namespace=alice.namespaces.get(), actor=alice, target="acme")
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    services.answer(rule=rule, accept=True, actor=bob)
    services.replicate(rule_id=rule.pk, name="alice/app")
    assert RegistryClient("bob").get("/v2/acme/app/manifests/1.0").status_code == 200


def test_a_deleted_organization_is_no_publisher_a_rule_copies_to(alice, bob):
    acme = organizations.create_organization(name="acme", owner=bob)
    organizations.delete_organization(organization=acme, actor=bob)
    with pytest.raises(services.ValidationError) as raised:
        services.create_rule(namespace=alice.namespaces.get(), actor=alice, target="acme")
    assert "target" in raised.value.message_dict


def test_a_deleted_organization_receives_no_more_copies(as_alice, alice, bob):
    """Its name stays reserved: a rule it had accepted went on publishing there."""
    acme = organizations.create_organization(name="acme", owner=bob)
    rule = services.create_rule(namespace=alice.namespaces.get(), actor=alice, target="acme")
    services.answer(rule=rule, accept=True, actor=bob)
    organizations.delete_organization(organization=acme, actor=bob)
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    assert services.replicate(rule_id=rule.pk, name="alice/app").status == "skipped"
    assert not Repository.objects.filter(name="acme/app").exists()
    rule.refresh_from_db()
    assert services.status_of(rule)["state"] == "declined"


def test_a_deleted_users_namespace_receives_no_more_copies(as_alice, to_bob, bob):
    services.answer(rule=to_bob, accept=True, actor=bob)
    bob.delete()  # as the admin deletes a user: bob's name stays reserved, without owner
    pushed(as_alice, "alice/app", "1.0", b"layer one")
    assert services.replicate(rule_id=to_bob.pk, name="alice/app").status == "skipped"
    assert not Repository.objects.filter(name="bob/app").exists()


def test_a_publisher_cannot_let_a_rule_reach_private_networks(alice):
    with pytest.raises(services.ValidationError) as raised:
        services.create_rule(
            namespace=alice.namespaces.get(),
            actor=alice,
            url="http://127.0.0.1:5000",
            allow_private_networks=True,
        )
    assert "allow_private_networks" in raised.value.message_dict
    with pytest.raises(services.ValidationError) as raised:
        services.create_rule(
            namespace=alice.namespaces.get(), actor=alice, url="http://127.0.0.1:5000"
        )
    assert "url" in raised.value.message_dict
