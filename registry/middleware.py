"""Registry requests go straight to their views, past the portal's middleware.

`/v2/` and `/token` answer OCI clients: they use no session, no CSRF token, no flash
messages and no framing policy, and they authenticate on their own (registry.auth). Taking
them through the portal's middleware costs about a fifth of a manifest GET's CPU, so this
middleware, first in the list, resolves and calls their views itself.

It also refuses, for every path, URLs carrying NUL bytes: no name, tag, digest or search
term can hold one, and PostgreSQL cannot even compare against one.
"""

from django.urls import get_resolver, resolve

from .errors import Unsupported
from .views import error_response


def registry_fast_path(get_response):
    def middleware(request):
        path = request.path_info
        if "\x00" in path or "%00" in request.META.get("QUERY_STRING", ""):
            if path.startswith("/v2/"):
                return error_response(request, Unsupported("NUL bytes in the URL", status=400))
            # The site's own handler400 (the portal's page, or JSON under /api/).
            return get_resolver().resolve_error_handler(400)(request, exception=None)
        if path.startswith("/v2/") or path == "/token":
            match = resolve(path)
            request.resolver_match = match
            response = match.func(request, *match.args, **match.kwargs)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response
        return get_response(request)

    return middleware
