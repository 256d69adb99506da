"""Template context every page needs."""

from django.core.exceptions import DisallowedHost


def site(request) -> dict:
    """The registry's host as clients should type it ("" when the Host header is refused,
    so that the error page for a bad Host header can still render)."""
    try:
        host = request.get_host()
    except DisallowedHost:
        host = ""
    return {"registry_host": host}
