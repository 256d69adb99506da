import sys

from django.core.checks import run_checks

from registry.checks import check_scanning


def ids(settings_override, settings):
    for key, value in settings_override.items():
        setattr(settings, key, value)
    return {message.id for message in run_checks()}


def test_production_refuses_generated_secrets(settings):
    assert "gallery.E001" in ids(
        {"PRODUCTION": True, "BERTH_SECRETS_FROM_ENVIRONMENT": False}, settings
    )


def test_production_with_configured_secrets_passes(settings):
    found = ids(
        {"PRODUCTION": True, "BERTH_SECRETS_FROM_ENVIRONMENT": True, "DEBUG": False}, settings
    )
    assert not {"gallery.E001", "gallery.E002"} & found


def test_unknown_blob_delivery_is_an_error(settings):
    assert "registry.E001" in ids({"BERTH_BLOB_DELIVERY": "carrier-pigeon"}, settings)


def test_short_token_key_is_an_error(settings):
    assert "registry.E002" in ids({"BERTH_TOKEN_KEY": "short"}, settings)


def test_a_presigned_redirect_with_berths_encryption_is_an_error(settings):
    found = ids({"BERTH_BLOB_DELIVERY": "redirect", "BERTH_ENCRYPTION": "on"}, settings)
    assert "registry.E003" in found


def test_x_accel_with_encryption_warns_that_nginx_sends_only_plain_blobs(settings):
    assert "registry.W002" in ids({"BERTH_BLOB_DELIVERY": "x-accel"}, settings)


def test_sse_kms_without_s3_is_an_error(settings, local_blobs):
    assert "registry.E004" in ids({"BERTH_ENCRYPTION": "sse-kms"}, settings)


def test_scanning_without_zstandard_warns_under_an_id_of_its_own(monkeypatch):
    """registry.W002 is x-accel's warning; the missing zstd reader has its own id."""
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails as if not installed
    (warning,) = check_scanning(None)
    assert warning.id == "registry.W003"


def test_scanning_without_zstandard_names_the_package(monkeypatch):
    """An installation that left out a dependency is told which one ("pip install
    berth[zstd]" would ask PyPI for a package of that name)."""
    monkeypatch.setitem(sys.modules, "zstandard", None)
    (warning,) = check_scanning(None)
    assert "pip install zstandard" in warning.msg
