"""Settings read from the environment fail loudly, and production refuses generated secrets."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = "import django; django.setup()"


def load(tmp_path, **environment) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BERTH_", "SECRET_KEY"))}
    env |= {"DJANGO_SETTINGS_MODULE": "gallery.settings", "BERTH_DATA_DIR": str(tmp_path)}
    env |= environment
    return subprocess.run(
        [sys.executable, "-c", LOAD], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_production_refuses_to_load_without_configured_secrets(tmp_path):
    result = load(tmp_path, BERTH_ENV="production")
    assert result.returncode != 0
    assert "needs SECRET_KEY and BERTH_TOKEN_KEY" in result.stderr


def test_production_loads_with_secrets_from_files(tmp_path):
    (tmp_path / "s").write_text(secrets.token_urlsafe(50))
    result = load(
        tmp_path,
        BERTH_ENV="production",
        SECRET_KEY_FILE=str(tmp_path / "s"),
        BERTH_TOKEN_KEY_FILE=str(tmp_path / "s"),
        BERTH_MASTER_KEY_FILE=str(tmp_path / "s"),
    )
    assert result.returncode == 0, result.stderr


def test_embedded_mode_generates_its_secrets_once(tmp_path):
    assert load(tmp_path).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert load(tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_a_bad_boolean_is_a_clear_error(tmp_path):
    result = load(tmp_path, BERTH_NEW_REPOSITORIES_PRIVATE="maybe")
    assert "is not a boolean" in result.stderr


def production(tmp_path, **environment) -> subprocess.CompletedProcess:
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "BERTH_TOKEN_KEY": secrets.token_urlsafe(40),
        "BERTH_MASTER_KEY": secrets.token_urlsafe(40),
    }
    return load(tmp_path, BERTH_ENV="production", **{**keys, **environment})


def test_production_refuses_a_short_token_key(tmp_path):
    result = production(tmp_path, BERTH_TOKEN_KEY="b")
    assert result.returncode != 0
    assert "BERTH_TOKEN_KEY must be at least 32 characters" in result.stderr


def test_production_refuses_a_token_key_without_randomness(tmp_path):
    assert production(tmp_path, BERTH_TOKEN_KEY="a" * 64).returncode != 0


def test_production_sends_hsts_and_redirects_to_https(tmp_path):
    show = (
        "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BERTH_", "SECRET_KEY"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "gallery.settings",
        "BERTH_DATA_DIR": str(tmp_path),
        "BERTH_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "BERTH_TOKEN_KEY": secrets.token_urlsafe(40),
        "BERTH_MASTER_KEY": secrets.token_urlsafe(40),
    }
    result = subprocess.run(
        [sys.executable, "-c", f"{LOAD}; {show}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == ["31536000", "True"], result.stderr


def test_a_bad_rate_limit_is_a_clear_error(tmp_path):
    result = load(tmp_path, BERTH_RATELIMIT_LOGINS="lots")
    assert "is not a rate such as 10/minute" in result.stderr


def test_tasks_without_redis_log_no_broker_warnings(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BERTH_", "REDIS_URL", "DATABASE_URL"))
    }
    env |= {"DJANGO_SETTINGS_MODULE": "gallery.settings", "BERTH_DATA_DIR": str(tmp_path)}
    code = f"{LOAD}; from gallery import tasks; tasks.refresh_downloads.delay(0)"
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr


def test_a_presigned_redirect_with_berths_encryption_is_refused_at_load(tmp_path):
    result = load(tmp_path, BERTH_BLOB_DELIVERY="redirect")
    assert result.returncode != 0
    assert "BERTH_BLOB_DELIVERY=redirect hands clients the stored bytes" in result.stderr
    assert load(tmp_path, BERTH_BLOB_DELIVERY="redirect", BERTH_ENCRYPTION="off").returncode == 0


def test_production_with_encryption_needs_a_master_key_from_the_operator(tmp_path):
    result = production(tmp_path, BERTH_MASTER_KEY="")
    assert result.returncode != 0
    assert "needs BERTH_MASTER_KEY" in result.stderr
    assert production(tmp_path).returncode == 0


def test_an_unknown_encryption_mode_is_a_clear_error(tmp_path):
    assert "is not one of on, off, sse-kms" in load(tmp_path, BERTH_ENCRYPTION="maybe").stderr


def test_s3_settings_configure_the_blob_storage(tmp_path):
    show = "from django.conf import settings as s; print(s.STORAGES['blobs'])"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BERTH_", "SECRET_KEY"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "gallery.settings",
        "BERTH_DATA_DIR": str(tmp_path),
        "BERTH_S3_BUCKET": "blobs",
        "BERTH_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "BERTH_S3_PREFIX": "berth",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"{LOAD}; {show}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "storages.backends.s3.S3Storage" in result.stdout, result.stderr
    assert "'bucket_name': 'blobs'" in result.stdout
    assert "'location': 'berth'" in result.stdout
