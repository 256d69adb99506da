"""One JSON error shape for every 4xx and 5xx under /api/: never an HTML page or a traceback.

    {"error": {"code": "not_found", "message": "No such repository.", "fields": {...}}}

`fields` appears for validation errors: each field's messages.
"""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from registry.errors import RegistryError


def body(code: str, message: str, fields: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        return _message(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every API exception in the one shape."""
    if isinstance(exc, RegistryError):  # a registry service refused (name, size, quota…)
        code = exc.code.lower()
        return Response(body(code, exc.text), status=exc.status, headers=exc.headers)
    response = drf_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler answers, in JSON under /api/
    detail = getattr(exc, "detail", "")
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = body("invalid", "The request is not valid.", fields)
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        message = _message(detail) or str(getattr(exc, "default_detail", "")) or "Error."
        response.data = body(code, message)
    return response


def json_error(request, code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(body(code, message), status=status_code)


def not_found(request) -> JsonResponse:
    return json_error(request, "not_found", "Not found.", status.HTTP_404_NOT_FOUND)


def forbidden(request, message: str) -> JsonResponse:
    return json_error(request, "permission_denied", message, status.HTTP_403_FORBIDDEN)


def bad_request(request) -> JsonResponse:
    return json_error(
        request, "bad_request", "The request is not valid.", status.HTTP_400_BAD_REQUEST
    )


def server_error(request) -> JsonResponse:
    return json_error(
        request,
        "server_error",
        "Something went wrong on our side.",
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
