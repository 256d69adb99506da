"""Garbage collection: what nothing references goes, everything referenced stays."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry import mediatypes, quotas
from registry.models import Blob, Collection, Manifest, Repository, RepositoryBlob, Tag
from registry.storage import blobs, gc, stores
from tests.oci import push_index, sha256

pytestmark = pytest.mark.django_db


def age(seconds: int = 3600) -> None:
    """Make everything stored so far older than a grace period of `seconds`."""
    past = timezone.now() - timedelta(seconds=seconds + 1)
    Blob.objects.update(created_at=past)
    RepositoryBlob.objects.update(linked_at=past)
    Manifest.objects.update(created_at=past)


def stored_keys() -> set[str]:
    return {key for key, _, _ in stores.blob_store().listing() if not key.startswith("_")}


def test_a_blob_no_manifest_references_is_reclaimed_after_the_grace_period(as_alice):
    as_alice.push_image("alice/app", "v1")
    stray = as_alice.push_blob("alice/app", b"pushed, never referenced")
    assert gc.collect(grace=3600).blobs == []  # too young
    age()
    report = gc.collect(grace=3600)
    assert report.blobs == [(stray, len(b"pushed, never referenced"))]
    assert not Blob.objects.filter(digest=stray).exists()
    assert len(stored_keys()) == 2  # the image's config and layer
    assert as_alice.get("/v2/alice/app/manifests/v1").status_code == 200


def test_a_dry_run_lists_what_would_go_and_changes_nothing(as_alice, capsys):
    stray = as_alice.push_blob("alice/app", b"x" * 1000)
    age()
    call_command("gc", "--dry-run", "--grace", "3600")
    out = capsys.readouterr().out
    assert f"blob     {stray} (1000 bytes)" in out
    assert "would reclaim 0 manifests, 1 links, 1 blobs and 0 leftovers: 1000 bytes" in out
    assert Blob.objects.filter(digest=stray).exists()
    assert Collection.objects.get().dry_run


def test_deleting_a_manifest_frees_its_blobs_but_not_shared_ones(as_alice):
    shared = b"shared layer"
    digest, _ = as_alice.push_image("alice/one", "v1", layer=shared)
    as_alice.push_image("alice/two", "v1", layer=shared)
    as_alice.request("DELETE", f"/v2/alice/one/manifests/{digest}")
    age()
    gc.collect(grace=3600)
    assert Blob.objects.filter(digest=sha256(shared)).exists()
    assert not RepositoryBlob.objects.filter(repository__name="alice/one").exists()
    assert as_alice.get(f"/v2/alice/two/blobs/{sha256(shared)}").status_code == 200


def test_untagged_manifests_are_kept_by_default_and_reclaimed_when_the_repository_says(
    as_alice,
):
    old, _ = as_alice.push_image("alice/app", "v1", layer=b"first")
    as_alice.push_image("alice/app", "v1", layer=b"second")  # v1 moves on: `old` is untagged
    age()
    gc.collect(grace=3600)
    assert Manifest.objects.filter(digest=old).exists()
    Repository.objects.filter(name="alice/app").update(reclaim_untagged=True)
    report = gc.collect(grace=3600)
    assert report.manifests == [("alice/app", old)]
    assert not Blob.objects.filter(digest=sha256(b"first")).exists()
    assert Blob.objects.filter(digest=sha256(b"second")).exists()


def test_an_index_keeps_its_children(as_alice):
    Repository.objects.create(name="alice/multi", namespace="alice", reclaim_untagged=True)
    index = push_index(as_alice, "alice/multi", "latest", ["amd64", "arm64"])
    Tag.objects.exclude(manifest__digest=index).delete()  # children untagged
    age()
    assert gc.collect(grace=3600).manifests == []
    assert Manifest.objects.count() == 3
    Tag.objects.all().delete()
    assert len(gc.collect(grace=3600).manifests) == 3


def referrer(client, name: str, subject: str, size: int) -> str:
    body = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": str(sha256(b"{}")), "size": 2},
        "layers": [],
        "subject": {"mediaType": mediatypes.OCI_MANIFEST, "digest": subject, "size": size},
    }
    response = client.push_manifest(name, sha256(json.dumps(body).encode()), body)
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]


def test_referrers_follow_their_subject(as_alice):
    subject, body = as_alice.push_image("alice/app", "v1")
    signature = referrer(as_alice, "alice/app", subject, len(body))
    age()
    assert gc.collect(grace=3600).manifests == []  # the subject is tagged: kept, and so is it
    as_alice.request("DELETE", f"/v2/alice/app/manifests/{subject}")
    age()
    assert gc.collect(grace=3600).manifests == [("alice/app", signature)]


def test_quotas_count_exactly_what_is_left_after_collection(as_alice):
    as_alice.push_image("alice/app", "v1", layer=b"kept layer")
    as_alice.push_blob("alice/app", b"y" * 5000)
    before = quotas.namespace_usage("alice")
    age()
    gc.collect(grace=3600)
    assert quotas.namespace_usage("alice") == before - 5000


def test_a_blob_mounted_again_within_the_grace_period_is_kept(as_alice):
    digest = as_alice.push_blob("alice/source", b"mounted blob")
    age()
    response = as_alice.request(
        "POST", f"/v2/alice/target/blobs/uploads/?mount={digest}&from=alice/source"
    )
    assert response.status_code == 201
    gc.collect(grace=3600)
    assert RepositoryBlob.objects.filter(repository__name="alice/target").exists()
    assert Blob.objects.filter(digest=digest).exists()


def test_a_mount_of_a_collected_blob_opens_an_ordinary_upload(as_alice):
    digest = as_alice.push_blob("alice/source", b"soon gone")
    age()
    gc.collect(grace=3600)
    response = as_alice.request(
        "POST", f"/v2/alice/target/blobs/uploads/?mount={digest}&from=alice/source"
    )
    assert response.status_code == 202


def test_an_upload_that_commits_after_a_collection_stores_the_blob_anew(as_alice):
    data = b"collected then pushed again"
    digest = as_alice.push_blob("alice/app", data)
    age()
    gc.collect(grace=3600)
    assert not Blob.objects.filter(digest=digest).exists()
    as_alice.push_blob("alice/app", data)
    assert blobs.verify(Blob.objects.get(digest=digest))


def test_stored_bytes_without_a_record_are_reclaimed_as_leftovers(as_alice, local_blobs):
    import os

    digest = as_alice.push_blob("alice/app", b"leftover")
    blob = Blob.objects.get(digest=digest)
    path = stores.blob_store().path(blobs.Digest(*digest.split(":")).storage_key)
    blob.delete()  # as if the record had never been written
    old = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(path, (old, old))
    report = gc.collect(grace=3600)
    assert [key for key, _ in report.leftovers] == [f"sha256/{digest[7:9]}/{digest[7:]}"]
    assert not path.exists()


def test_every_run_is_recorded(as_alice):
    as_alice.push_blob("alice/app", b"z" * 10)
    age()
    gc.collect(grace=3600)
    run = Collection.objects.get()
    assert (run.blobs, run.bytes_freed, run.dry_run) == (1, 10, False)
    assert run.finished_at is not None
