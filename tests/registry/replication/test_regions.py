"""Replication between processes: a second Berth as another region (token authentication,
tags set with ?tag=, deletes), and a worker killed mid-replication whose work the next run
completes exactly once (docker-registry as the destination, behind a proxy that stalls an
upload so the worker can be killed in the middle of it)."""

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse

import pytest

from registry import mediatypes
from registry.models import ReplicatedTag
from registry.replication import services
from tests.factories import UserFactory
from tests.live import ROOT, Account, berth_server
from tests.oci import push_index, sha256
from tests.peers import Fault, FaultProxy, get, push_image, unique

pytestmark = [pytest.mark.clients, pytest.mark.django_db]


def basic(account: Account) -> str:
    return "Basic " + base64.b64encode(account.creds.encode()).decode()


def manifest_at(url: str, name: str, reference: str, account: Account | None = None):
    headers = {"Accept": f"{mediatypes.OCI_MANIFEST}, {mediatypes.OCI_INDEX}"}
    if account is not None:
        headers["Authorization"] = basic(account)
    status, answer, body = get(url, f"/v2/{name}/manifests/{reference}", headers)
    return status, answer.get("Docker-Content-Digest", ""), body


@pytest.fixture
def to_region(alice, live_registry):
    """alice's rule to the live Berth (another region), as its alice, under alice/<unique>."""
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    where = unique("alice").split("/")[1]
    return services.create_rule(
        namespace=alice.namespaces.get(),
        actor=root,
        url=live_registry.url,
        destination_namespace=f"alice/{where}",
        username=live_registry.alice.username,
        password=live_registry.alice.password,
        allow_private_networks=True,
        replicate_deletes=True,
    )


def test_a_second_berth_receives_the_copy_with_tags_set_by_the_tag_parameter(
    as_alice, to_region, live_registry
):
    one, _ = as_alice.push_image("alice/app", "1.0", layer=b"layer one")
    index = push_index(as_alice, "alice/app", "multi", ["amd64", "arm64"])
    outcome = services.replicate(rule_id=to_region.pk, name="alice/app")
    assert outcome.status == "done"
    target = to_region.destination_name("alice/app")
    account = live_registry.alice
    assert manifest_at(live_registry.url, target, "1.0", account)[:2] == (200, one)
    status, digest, body = manifest_at(live_registry.url, target, "multi", account)
    assert (status, digest) == (200, index)
    for child in json.loads(body)["manifests"]:
        assert manifest_at(live_registry.url, target, child["digest"], account)[0] == 200
    to_region.refresh_from_db()
    assert to_region.tag_parameter is True  # Berth answers OCI-Tag


def test_a_tag_deleted_here_is_deleted_in_the_other_region(as_alice, to_region, live_registry):
    as_alice.push_image("alice/app", "1.0", layer=b"layer one")
    kept, _ = as_alice.push_image("alice/app", "2.0", layer=b"layer two")
    services.replicate(rule_id=to_region.pk, name="alice/app")
    assert as_alice.request("DELETE", "/v2/alice/app/manifests/1.0").status_code == 202
    services.replicate(rule_id=to_region.pk, name="alice/app")
    target = to_region.destination_name("alice/app")
    account = live_registry.alice
    assert manifest_at(live_registry.url, target, "1.0", account)[0] == 404
    assert manifest_at(live_registry.url, target, "2.0", account)[:2] == (200, kept)
    assert list(ReplicatedTag.objects.values_list("tag", flat=True)) == ["2.0"]


def test_the_other_region_refusing_the_account_is_said_plainly(as_alice, alice, live_registry):
    as_alice.push_image("alice/app", "1.0", layer=b"layer one")
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    rule = services.create_rule(
        namespace=alice.namespaces.get(),
        actor=root,
        url=live_registry.url,
        destination_namespace="bob/stolen",
        username=live_registry.alice.username,
        password=live_registry.alice.password,
        allow_private_networks=True,
    )
    with pytest.raises(services.ReplicationFailed, match="check the rule's username"):
        services.replicate(rule_id=rule.pk, name="alice/app")


# -- a worker killed mid-replication ------------------------------------------------------------


def _worker(runner: str, source, rule_id: int, log) -> subprocess.Popen:
    if runner == "command":
        argv = [sys.executable, "manage.py", "replicate", "--rule", str(rule_id)]
    else:
        argv = [sys.executable, "-m", "celery", "-A", "gallery", "worker", "--pool", "threads",
                "--concurrency", "1", "--queues", source.env["BERTH_CELERY_QUEUE"]]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, env=source.env, stdout=log, stderr=log)


def _replicate_now(source, staff, rule_id: int) -> None:
    status, body = source.api(
        "POST", f"/api/v1/replication-rules/{rule_id}/replicate", {}, account=staff
    )
    assert status == 202, body


def _wait_in_sync(source, staff, rule_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _status, body = source.api(
            "GET", f"/api/v1/replication-rules/{rule_id}/status", account=staff
        )
        if body.get("state") == "in sync":
            return body
        time.sleep(0.5)
    pytest.fail(f"the copy did not get in sync: {body}")


@pytest.mark.parametrize("runner", ["command", "celery"])
def test_a_worker_killed_mid_replication_leaves_the_next_run_to_finish_it_exactly_once(
    tmp_path, peer, runner
):
    if runner == "celery" and not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (a Redis server) for a real broker")
    alice, bob = (
        Account("alice", secrets.token_urlsafe(12)),
        Account("bob", secrets.token_urlsafe(12)),
    )
    staff = Account("root", secrets.token_urlsafe(12))
    layers = {tag: secrets.token_bytes(3_000_000) for tag in ("1", "2", "3")}
    settings = {"BERTH_REPLICATION_LEASE_SECONDS": "3"}
    with (
        FaultProxy(peer.url) as proxy,
        berth_server(tmp_path / "source", [alice, bob], staff=staff, env_extra=settings,
                     worker=False) as source,
    ):  # fmt: skip
        pushed = {
            tag: push_image(source.url, "alice/app", tag, [layer], auth=basic(alice))
            for tag, layer in layers.items()
        }
        where = unique("region")
        status, rule = source.api(
            "POST",
            "/api/v1/replication-rules",
            {"namespace": "alice", "url": proxy.url, "destination_namespace": where,
             "allow_private_networks": True},
            account=staff,
        )  # fmt: skip
        assert status == 201, rule
        stalled = urllib.parse.quote(sha256(layers["2"]), safe="")
        stall = proxy.inject(
            Fault(path=f"digest={stalled}", method="PUT", stall_request_after=1_000_000, stall=30)
        )
        with (tmp_path / "first-worker.log").open("wb") as log:
            worker = _worker(runner, source, rule["id"], log)
            if runner == "celery":
                _replicate_now(source, staff, rule["id"])
            assert stall.started.wait(60), (tmp_path / "first-worker.log").read_text()
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        target = f"{where}/app"
        assert manifest_at(peer.url, target, "1")[:2] == (200, pushed["1"].digest)
        assert manifest_at(peer.url, target, "2")[0] == 404
        proxy.faults.clear()
        time.sleep(3.5)  # the dead run's lease runs out

        if runner == "command":
            done = subprocess.run(
                [sys.executable, "manage.py", "replicate", "--rule", str(rule["id"])],
                cwd=ROOT, env=source.env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            status_body = _wait_in_sync(source, staff, rule["id"], timeout=5)
        else:
            with (tmp_path / "second-worker.log").open("wb") as log:
                worker = _worker(runner, source, rule["id"], log)
                try:
                    _replicate_now(source, staff, rule["id"])
                    status_body = _wait_in_sync(source, staff, rule["id"])
                finally:
                    worker.terminate()
                    worker.wait(30)

        for tag, image in pushed.items():
            assert manifest_at(peer.url, target, tag)[:2] == (200, image.digest)
        assert status_body["repositories"][0]["last_error"] == ""
        # Exactly once: each manifest went up once, and only the upload the kill cut short
        # went up twice; what was done before the kill was not done again.
        for tag, image in pushed.items():
            assert proxy.count("PUT", f"/manifests/{image.digest}") == 1, tag
            layer = urllib.parse.quote(sha256(layers[tag]), safe="")
            assert proxy.count("PUT", f"digest={layer}") == (2 if tag == "2" else 1), tag
