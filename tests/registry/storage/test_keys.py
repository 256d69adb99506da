"""Master keys: generated once, supplied by the operator, or from AWS KMS (moto)."""

import os
import secrets

import pytest

from registry.models import Blob
from registry.storage import blobs, keys
from tests.oci import sha256

pytestmark = pytest.mark.django_db
DATA = os.urandom(70_000)


def test_the_master_key_is_generated_once_into_its_file(as_alice, settings, tmp_path):
    as_alice.push_blob("alice/app", DATA)
    path = tmp_path / "master_key"
    first = path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    keys.forget()
    as_alice.push_blob("alice/app", DATA[:100])
    assert path.read_text() == first


def test_a_supplied_master_key_is_used_and_older_ones_still_open(as_alice, settings):
    old, new = secrets.token_urlsafe(40), secrets.token_urlsafe(40)
    settings.BERTH_MASTER_KEY = old
    digest = as_alice.push_blob("alice/app", DATA)
    settings.BERTH_MASTER_KEY = f"{new},{old}"
    later = as_alice.push_blob("alice/app", DATA[:5])
    assert Blob.objects.get(digest=later).key_id == keys.key_id_of(keys.derive(new))
    assert blobs.verify(Blob.objects.get(digest=digest))


def test_a_blob_whose_master_key_is_gone_is_refused(as_alice, settings):
    settings.BERTH_MASTER_KEY = secrets.token_urlsafe(40)
    digest = as_alice.push_blob("alice/app", DATA)
    settings.BERTH_MASTER_KEY = secrets.token_urlsafe(40)
    with pytest.raises(keys.KeyUnavailable):
        list(blobs.read(Blob.objects.get(digest=digest)))


def test_data_keys_come_from_kms_when_a_kms_key_is_configured(as_alice, settings, moto):
    key = moto.client("kms").create_key()["KeyMetadata"]
    settings.BERTH_KMS_KEY_ID = key["KeyId"]
    digest = as_alice.push_blob("alice/app", DATA)
    blob = Blob.objects.get(digest=digest)
    assert blob.key_id == key["Arn"]
    keys.forget()  # a fresh process: the data key is unwrapped by KMS again
    response = as_alice.get(f"/v2/alice/app/blobs/{digest}")
    assert sha256(b"".join(response.streaming_content)) == digest


def test_blobs_sealed_with_local_keys_stay_readable_under_kms(as_alice, settings, moto):
    digest = as_alice.push_blob("alice/app", DATA)
    settings.BERTH_KMS_KEY_ID = moto.client("kms").create_key()["KeyMetadata"]["KeyId"]
    assert blobs.verify(Blob.objects.get(digest=digest))
