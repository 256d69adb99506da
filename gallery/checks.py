"""System checks for the site as a whole (ids gallery.E00x)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


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


@register(Tags.security)
def check_https_behind_proxy(app_configs, **kwargs):
    """Redirecting to https only works where the request says it came over https."""
    if settings.SECURE_SSL_REDIRECT and not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return [
            Warning(
                "BERTH_SSL_REDIRECT is on but BERTH_BEHIND_PROXY is not: unless TLS ends in "
                "this process, every page will redirect to itself",
                hint="Set BERTH_BEHIND_PROXY=true behind a TLS proxy, or BERTH_SSL_REDIRECT=false",
                id="gallery.W001",
            )
        ]
    return []
