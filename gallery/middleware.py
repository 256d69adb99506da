"""The portal's own middleware: a Content-Security-Policy on every page (no inline scripts,
no foreign scripts or styles), and 503 rather than 500 while the database is away."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from .api import errors as api_errors

log = logging.getLogger(__name__)

POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https:",  # README images come from anywhere on the web, over https
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def content_security_policy(get_response):
    def middleware(request):
        response = get_response(request)
        response.setdefault("Content-Security-Policy", POLICY)
        return response

    return middleware


class DatabaseUnavailable:
    """A database that is away for a moment (restarting, failing over) answers 503 with
    Retry-After: JSON in the API's error shape under /api/, a short page elsewhere. Other
    database errors are bugs and stay 500s."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable: %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            message = "The service is unavailable for a moment; try again."
            response = JsonResponse(api_errors.body("unavailable", message), status=503)
        else:
            # No template context: it would read the session, from the database.
            response = HttpResponse(
                render_to_string("503.html"), status=503, content_type="text/html; charset=utf-8"
            )
        response["Retry-After"] = "5"
        return response
