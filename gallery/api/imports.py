"""`POST /api/v1/repositories/{name}/-/imports`: the browser's archive import, for scripts.

The body is the whole archive (any content type; `Content-Length` required), streamed to
disk, never whole in memory. `?tag=` overrides the archive's own tags, `?filename=` names
it. The answer is 202 with the import's status; follow `url` until `state` is `done` (with
the tags it created) or `failed` (with the reason).
"""

from __future__ import annotations

import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import names
from registry.access import policy

from ..publishing import imports
from ..publishing.models import ArchiveImport
from .views import require, visible_entry

READ = 1024 * 1024


class ImportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    received = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ArchiveImport.State.choices)
    progress = serializers.IntegerField()
    kind = serializers.CharField(help_text="oci, docker, helm or opa, once read")
    message = serializers.CharField(help_text="Why a failed import failed.")
    tags = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField()


def _data(request, entry, archive) -> dict:
    return {
        "id": archive.id,
        "filename": archive.filename,
        "size": archive.size,
        "received": archive.received,
        "state": archive.state,
        "progress": archive.progress,
        "kind": archive.kind,
        "message": archive.message,
        "tags": archive.tags,
        "url": request.build_absolute_uri(reverse("api:import", args=[entry.name, archive.id])),
    }


class Imports(APIView):
    @extend_schema(
        request={"application/octet-stream": bytes},
        parameters=[OpenApiParameter("tag"), OpenApiParameter("filename")],
        responses={202: ImportSerializer},
        operation_id="import_create",
    )
    def post(self, request, name: str):
        entry = visible_entry(request, name)
        require(request, name, policy.PUSH, public=not entry.is_private)
        tag = request.query_params.get("tag", "")
        if tag and not names.is_valid_tag(tag):
            raise exceptions.ValidationError({"tag": ["Not a valid tag."]})
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        if size <= 0:
            raise exceptions.ValidationError(
                {"body": ["Send the archive as the body, with its length."]}
            )
        try:
            archive = imports.start(
                repository=entry.repository,
                user=request.user,
                filename=request.query_params.get("filename", "archive"),
                size=size,
                tag=tag,
            )
            imports.append(archive=archive, start=0, chunks=_body(request._request, size))
        except imports.UploadError as error:
            raise exceptions.ValidationError({"body": [str(error)]}) from None
        archive.refresh_from_db()
        return Response(_data(request, entry, archive), status=status.HTTP_202_ACCEPTED)


class ImportDetail(APIView):
    @extend_schema(responses=ImportSerializer, operation_id="import_read")
    def get(self, request, name: str, archive_id: str):
        entry = visible_entry(request, name)
        require(request, name, policy.PUSH, public=not entry.is_private)
        try:
            key = uuid.UUID(archive_id)
        except ValueError:
            raise exceptions.NotFound("No such import.") from None
        archive = ArchiveImport.objects.filter(pk=key, repository_id=entry.pk).first()
        if archive is None:
            raise exceptions.NotFound("No such import.")
        return Response(_data(request, entry, archive))


def _body(django_request, expected: int):
    remaining = expected
    while remaining > 0:
        chunk = django_request.read(min(READ, remaining))
        if not chunk:
            raise imports.UploadError("The body ended early.", 0)
        remaining -= len(chunk)
        yield chunk
