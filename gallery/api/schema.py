"""What drf-spectacular cannot see by itself: our two credential schemes, which reads are
open to anonymous callers, and the one error shape every operation answers with."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import permissions


class BasicScheme(OpenApiAuthenticationExtension):
    target_class = "gallery.api.authentication.BasicCredentials"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Username and password, or username and an access token.",
        }


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "gallery.api.authentication.AccessTokenBearer"
    name = "accessToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "berth_<key>_<secret>",
            "description": "An access token with the api-read or api-write scope.",
        }


class BerthSchema(AutoSchema):
    """Views that set `anonymous_reads = True` answer GETs without credentials (what the
    caller sees then is what the public sees); the schema says so with an empty
    requirement beside the credential schemes."""

    def get_auth(self):
        auths = super().get_auth()
        if getattr(self.view, "anonymous_reads", False) and self.method in permissions.SAFE_METHODS:
            auths.append({})
        return auths


ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
        }
    },
}
ERRORS = {
    "400": "The request is not valid (`fields` says why).",
    "401": "Credentials are needed, or those given are refused.",
    "403": "The caller may not do this.",
    "404": "No such resource (a repository the caller may not see answers this way too).",
    "405": "The method is not allowed here.",
    "406": "The Accept header asks for no type this operation answers in.",
    "409": "The request conflicts with what exists.",
    "415": "The body's Content-Type is not one this operation reads.",
    "429": "Too many requests; Retry-After says when to try again.",
}


def error_responses(result, generator, request, public):
    """Every operation of /api/v1/ answers its errors in the one shape (gallery.api.errors)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result
