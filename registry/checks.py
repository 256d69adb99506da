"""System checks for dangerous registry settings (ids registry.E00x / W00x)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_registry_settings(app_configs, **kwargs):
    problems = []
    if settings.BERTH_BLOB_DELIVERY not in {"file", "redirect", "x-accel"}:
        problems.append(
            Error(
                f"BERTH_BLOB_DELIVERY={settings.BERTH_BLOB_DELIVERY!r} is not one of "
                "file, redirect, x-accel",
                id="registry.E001",
            )
        )
    if len(settings.BERTH_TOKEN_KEY) < 32:
        problems.append(
            Error("BERTH_TOKEN_KEY must be at least 32 characters long", id="registry.E002")
        )
    if settings.BERTH_BLOB_DELIVERY == "redirect" and settings.BERTH_ENCRYPTION == "on":
        problems.append(Error(settings.BERTH_ENCRYPTION_REDIRECT_ERROR, id="registry.E003"))
    if settings.BERTH_BLOB_DELIVERY == "x-accel" and settings.BERTH_ENCRYPTION == "on":
        problems.append(
            Warning(
                "BERTH_BLOB_DELIVERY=x-accel with BERTH_ENCRYPTION=on: nginx can only send "
                "blobs stored before encryption was on; sealed blobs are sent by Berth",
                id="registry.W002",
            )
        )
    if (
        settings.BERTH_ENCRYPTION == "sse-kms"
        and "s3" not in settings.STORAGES["blobs"]["BACKEND"].lower()
    ):
        problems.append(
            Error(
                "BERTH_ENCRYPTION=sse-kms asks the object store to encrypt: it needs S3 "
                "blob storage (BERTH_S3_BUCKET)",
                id="registry.E004",
            )
        )
    if settings.BERTH_MANIFEST_MAX_BYTES < 4 * 1000 * 1000:
        problems.append(
            Warning(
                "BERTH_MANIFEST_MAX_BYTES is below 4 MB, the least the OCI spec asks "
                "registries to accept",
                id="registry.W001",
            )
        )
    return problems


@register()
def check_scanning(app_configs, **kwargs):
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return [
            Warning(
                "zstd-compressed layers cannot be scanned: the zstandard package, one of "
                "Berth's dependencies, is not installed (pip install zstandard); their "
                "scans fail with that reason",
                id="registry.W003",
            )
        ]
    return []
