"""The archive upload page and its JSON endpoints (session, CSRF token in X-CSRFToken).

    POST  /r/<name>/-/imports          {"filename", "size", "tag"?}  -> 201 {"id", "url", …}
    PATCH /r/<name>/-/imports/<id>     Content-Range: bytes START-END/SIZE, the chunk
                                       -> 200 {"received"}; 409 {"received"} to resume from
    GET   /r/<name>/-/imports/<id>     the import's state and progress

A browser slices the file and sends chunks in order; after a dropped connection it asks
where the upload stands and goes on from there.
"""

from __future__ import annotations

import json
import re
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from registry import names
from registry.access import policy
from registry.text import is_storable

from ..views import _entry, _repository_context
from . import imports
from .models import ArchiveImport

READ = 1024 * 1024
_CONTENT_RANGE = re.compile(
    r"bytes (?P<start>[0-9]{1,19})-(?P<end>[0-9]{1,19})/(?P<size>[0-9]{1,19})"
)


def _publishable(request, name: str):
    entry = _entry(request, name)
    if policy.PUSH not in policy.permitted_actions(request.user, name):
        raise Http404("No such repository")
    return entry


def status_of(archive: ArchiveImport, *, name: str) -> dict:
    return {
        "id": str(archive.id),
        "filename": archive.filename,
        "size": archive.size,
        "received": archive.received,
        "state": archive.state,
        "progress": archive.progress,
        "kind": archive.kind,
        "message": archive.message,
        "tags": [
            {"name": tag, "url": reverse("repository-tag", args=[name, tag])}
            for tag in archive.tags
        ],
        "url": reverse("archive-import", args=[name, archive.id]),
    }


@login_required
def upload_page(request, name: str):
    entry = _publishable(request, name)
    context = _repository_context(request, entry, "upload")
    context["recent"] = entry.repository.imports.order_by("-created_at")[:5]
    return render(request, "gallery/upload.html", context)


def _error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@login_required
@require_http_methods(["POST"])
def start_import(request, name: str):
    entry = _publishable(request, name)
    try:
        body = json.loads(request.body or b"{}")
        size = int(body.get("size", 0))
        filename = str(body.get("filename", ""))
        tag = str(body.get("tag", "") or "")
    except (ValueError, TypeError, AttributeError, OverflowError):  # Overflow: 1e400
        return _error("Send {filename, size} as JSON.", 400)
    if tag and not names.is_valid_tag(tag):
        return _error("That is not a valid tag.", 400)
    if not is_storable(filename):  # JSON may carry NUL or half a UTF-16 pair
        return _error("That is not a file name.", 400)
    if not imports.free_space_ok(size):
        return _error("There is not enough room for this archive on the server.", 507)
    try:
        archive = imports.start(
            repository=entry.repository, user=request.user, filename=filename, size=size, tag=tag
        )
    except imports.UploadError as error:
        return _error(str(error), 400)
    return JsonResponse(status_of(archive, name=entry.name), status=201)


@login_required
@require_http_methods(["GET", "PATCH"])
def archive_import(request, name: str, archive_id: str):
    entry = _publishable(request, name)
    archive = ArchiveImport.objects.filter(pk=_uuid(archive_id), repository_id=entry.pk).first()
    if archive is None:
        raise Http404("No such import")
    if request.method == "GET":
        return JsonResponse(status_of(archive, name=entry.name))
    match = _CONTENT_RANGE.fullmatch(request.META.get("HTTP_CONTENT_RANGE", "").strip())
    if (
        match is None
        or int(match["size"]) != archive.size
        or int(match["end"]) < int(match["start"])
    ):
        return _error("Send Content-Range: bytes START-END/SIZE.", 400, received=archive.received)
    expected = int(match["end"]) - int(match["start"]) + 1
    try:
        imports.append(archive=archive, start=int(match["start"]), chunks=_body(request, expected))
    except imports.UploadError as error:
        archive.refresh_from_db()
        return _error(str(error), 409, received=archive.received)
    return JsonResponse(status_of(archive, name=entry.name))


def _body(request, expected: int):
    """The request body in pieces, exactly `expected` bytes (never whole in memory)."""
    remaining = expected
    while remaining > 0:
        chunk = request.read(min(READ, remaining))
        if not chunk:
            raise imports.UploadError("The chunk ended early.", 0)
        remaining -= len(chunk)
        yield chunk


def _uuid(text: str):
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Http404("No such import") from None
