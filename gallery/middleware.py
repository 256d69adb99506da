"""The portal's own middleware: a Content-Security-Policy on every page (no inline scripts,
no foreign scripts or styles), multipart forms no larger than the largest the portal takes,
and 503 rather than 500 while the database is away."""

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


# The largest form the portal takes is a logo (2 MiB); archives and every API body are sent
# as plain bodies, read in pieces by the views that want them.
MULTIPART_MAX_BYTES = 4 * 1024 * 1024


def multipart_size_limit(get_response):
    """A multipart body over MULTIPART_MAX_BYTES (or of unknown length) is refused with 413
    before anything reads it: Django writes a form's files to disk as it parses it, and the
    CSRF check that refuses most such posts parses it first."""

    def middleware(request):
        if request.content_type == "multipart/form-data":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or -1)
            except ValueError:
                length = -1
            if not 0 <= length <= MULTIPART_MAX_BYTES:
                return _too_large(request)
        return get_response(request)

    return middleware


def _too_large(request) -> HttpResponse:
    message = "That form is too large: files of at most 2 MiB are taken here."
    if request.path.startswith("/api/"):
        return JsonResponse(api_errors.body("too_large", message), status=413)
    # No template context: the session is not read for a request refused unread.
    page = render_to_string("413.html", {"message": message})
    return HttpResponse(page, status=413, content_type="text/html; charset=utf-8")


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
