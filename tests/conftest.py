"""Shared test set-up: isolated blob storage per test, and tools that must exist in CI.

BERTH_TEST_BLOBS=s3 runs every test on S3 (moto's server on loopback, a bucket per test)
instead of the local disk: CI runs the registry suite both ways.
"""

import os
import shutil

import pytest
from django.core.cache import cache

from gallery.celery import app as celery_app
from tests.factories import UserFactory
from tests.oci import RegistryClient

pytest_plugins = ["tests.live", "tests.peers"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ON_S3 = os.environ.get("BERTH_TEST_BLOBS", "").lower() == "s3"


def require_tool(*names: str) -> None:
    """Skip (locally) or fail (in CI, where nothing may skip) when a tool is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        reason = f"needs {', '.join(missing)} on PATH (Debian packages; .ci/run installs them)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """moto's S3 and KMS server on a free loopback port, for the whole session."""
    from tests.s3 import moto_server

    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        saved = {key: os.environ.get(key) for key in server.environment()}
        os.environ.update(server.environment())
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def s3_blobs(request, settings):
    """Blobs on S3 (a fresh bucket on moto) for this test."""
    server = request.getfixturevalue("moto")
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": server.storage_options(server.new_bucket()),
        },
    }
    return server


@pytest.fixture
def local_blobs(settings, tmp_path):
    """Blobs on the local disk for this test, even when the run is on S3."""
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }


@pytest.fixture(autouse=True)
def _isolated_storage(request, settings, tmp_path):
    """Every test gets its own blob storage and upload staging directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }
    if ON_S3:
        request.getfixturevalue("s3_blobs")
    settings.BERTH_UPLOAD_DIR = tmp_path / "uploads"
    settings.BERTH_MASTER_KEY_FILE = str(tmp_path / "master_key")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tasks run at once, in the test (a timer thread or a worker cannot see a test's data);
    # tests/gallery/test_tasks.py runs them on a real worker instead.
    settings.BERTH_INDEX_DELAY = 0
    settings.BERTH_BACKGROUND_INLINE = True
    settings.BERTH_PULL_FLUSH_SECONDS = 0  # no flusher thread writing beside a test's transaction
    # Scans on push run on a background thread; tests of scanning turn them on themselves.
    settings.BERTH_SCAN_ON_PUSH = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    celery_app.conf.task_always_eager = True
    from registry import pulls
    from registry.access import auth
    from registry.cache import rules

    auth.forget_credentials()
    pulls.discard()
    rules.forget()  # cache rules of an earlier test were rolled back with it
    # A private in-process cache: clearing a shared Redis would flush other users' data.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    pulls.discard()  # counts of a rolled-back test's repositories must not be written at exit


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def as_alice(alice) -> RegistryClient:
    return RegistryClient("alice")


@pytest.fixture
def as_bob(bob) -> RegistryClient:
    return RegistryClient("bob")


@pytest.fixture
def anonymous(db) -> RegistryClient:
    return RegistryClient()
