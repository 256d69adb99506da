"""rotate_master_key: every data key re-wrapped, no content rewritten."""

import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import Blob, Upload
from registry.storage import blobs, keys, rotation, stores
from tests.oci import sha256

pytestmark = pytest.mark.django_db
DATA = os.urandom(100_000)


def stored_state(digest):
    store = stores.blob_store()
    key = blobs.Digest(*digest.split(":")).storage_key
    return store.read(key) if store.kind == "s3" else store.path(key).read_bytes()


def test_rotation_rewraps_every_data_key_under_a_new_master_key(as_alice, tmp_path):
    digest = as_alice.push_blob("alice/app", DATA)
    before_key, before_bytes = Blob.objects.get().key_id, stored_state(digest)
    location = as_alice.request("POST", "/v2/alice/app/blobs/uploads/")["Location"]
    as_alice.request("PATCH", location, DATA[:70_000])

    done = rotation.rotate(new_key=True, settle=0)

    key_file = keys.read_key_file(tmp_path / "master_key")
    assert len(key_file) == 1
    assert done.retired == [before_key]
    assert Blob.objects.get().key_id == done.current != before_key
    assert Upload.objects.get().key_id == done.current
    assert stored_state(digest) == before_bytes  # content untouched
    assert blobs.verify(Blob.objects.get())
    as_alice.request("PATCH", location, DATA[70_000:], headers={"Content-Range": "70000-99999"})
    assert as_alice.request("PUT", f"{location}?digest={sha256(DATA)}").status_code == 201


def test_the_command_reports_what_it_did(as_alice, capsys):
    as_alice.push_blob("alice/app", DATA)
    call_command("rotate_master_key", "--new-key")
    out = capsys.readouterr().out
    assert "re-wrapped 1 data key(s)" in out
    assert "retired master key local:" in out


def test_a_new_key_cannot_be_generated_for_a_key_given_in_the_environment(settings):
    settings.BERTH_MASTER_KEY = "k" * 20 + "abcdefghijklmnopqrstuvwxyz"
    with pytest.raises(CommandError):
        call_command("rotate_master_key", "--new-key")


def test_rotation_moves_local_data_keys_to_kms(as_alice, settings, moto):
    digest = as_alice.push_blob("alice/app", DATA)
    key = moto.client("kms").create_key()["KeyMetadata"]
    settings.BERTH_KMS_KEY_ID = key["KeyId"]
    rotation.rotate()
    assert Blob.objects.get(digest=digest).key_id == key["Arn"]
    assert blobs.verify(Blob.objects.get(digest=digest))
