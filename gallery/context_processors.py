"""Template context every page needs."""

from django.core.exceptions import DisallowedHost


def site(request) -> dict:
    """The registry's host as clients should type it, and the page's canonical URL (the path
    without its query). Both are "" when the Host header is refused, so that the error page
    for a bad Host header can still render."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return {"registry_host": "", "canonical_url": ""}
    return {"registry_host": host, "canonical_url": request.build_absolute_uri(request.path)}
