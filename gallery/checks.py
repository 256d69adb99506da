"""System checks for the site as a whole (ids gallery.E00x)."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_production_secrets(app_configs, **kwargs):
    """Production refuses to start on secrets generated into the data directory."""
    if not settings.PRODUCTION:
        return []
    problems = []
    if not settings.BERTH_SECRETS_FROM_ENVIRONMENT:
        problems.append(
            Error(
                "SECRET_KEY and BERTH_TOKEN_KEY must be set (or *_FILE) in production",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(50))' makes one",
                id="gallery.E001",
            )
        )
    if settings.DEBUG:
        problems.append(Error("DEBUG must be off in production", id="gallery.E002"))
    return problems
