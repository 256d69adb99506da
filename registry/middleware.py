"""Registry requests go straight to their views, past the portal's middleware.

`/v2/` and `/token` answer OCI clients: they use no session, no CSRF token, no flash
messages and no framing policy, and they authenticate on their own (registry.auth). Taking
them through the portal's middleware costs about a fifth of a manifest GET's CPU, so this
middleware, first in the list, resolves and calls their views itself.

It also refuses, for every path, URLs carrying NUL bytes: no name, tag, digest or search
term can hold one, and PostgreSQL cannot even compare against one. Requests Django refuses
as suspicious (too many query parameters, a Host not allowed) answer their 400 in the
registry's JSON, not the portal's page. And when the database is
away (restarting, failing over), a registry request answers 503 with Retry-After, which
every client retries, rather than a 500 that reads as a bug.
"""

import logging

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.urls import get_resolver, resolve

from .errors import Unavailable, Unsupported
from .views import error_response, token_error

log = logging.getLogger(__name__)
RETRY_AFTER = {"Retry-After": "5"}


def registry_fast_path(get_response):
    def middleware(request):
        path = request.path_info
        if "\x00" in path or "%00" in request.META.get("QUERY_STRING", ""):
            if path.startswith("/v2/") or path == "/token":
                return bad_request(request, path, "NUL bytes in the URL")
            # The site's own handler400 (the portal's page, or JSON under /api/).
            return get_resolver().resolve_error_handler(400)(request, exception=None)
        if path.startswith("/v2/") or path == "/token":
            match = resolve(path)
            request.resolver_match = match
            try:
                response = match.func(request, *match.args, **match.kwargs)
            except SuspiciousOperation as error:
                # Django's refusals of a hostile request (too many query parameters, a form
                # too large, a Host not allowed): the same 400, in the endpoint's own JSON.
                logging.getLogger(f"django.security.{type(error).__name__}").warning(
                    "%s %s: %s", request.method, path, error
                )
                return bad_request(request, path, "malformed request")
            except (OperationalError, InterfaceError) as error:
                log.warning("database unavailable: %s %s: %s", request.method, path, error)
                if path == "/token":
                    return token_error(
                        503, "temporarily_unavailable", "try again in a moment", RETRY_AFTER
                    )
                return error_response(
                    request, Unavailable("the registry's database is unavailable; try again",
                                         headers=RETRY_AFTER)
                )  # fmt: skip
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response
        return get_response(request)

    return middleware


def bad_request(request, path: str, message: str):
    """A 400 in the endpoint's own JSON: the token service's, or the registry's."""
    if path == "/token":
        return token_error(400, "invalid_request", message)
    return error_response(request, Unsupported(message, status=400))
