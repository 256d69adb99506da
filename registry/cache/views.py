"""How /v2/ answers for cached repositories (registry.views calls these after authorizing):
manifests with a `Berth-Cache` header (hit, revalidated, miss or stale, the last with a
`Warning: 110`), blobs streamed from the upstream on a miss, tags from the upstream."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse

from .. import mediatypes
from ..ops import metrics
from . import services

STALE_WARNING = '110 - "Response is Stale"'


def mark(response: HttpResponse, served: services.Served) -> HttpResponse:
    response["Berth-Cache"] = served.status
    if served.status == services.STALE:
        response["Warning"] = STALE_WARNING
    return response


def blob(request, rule, name: str, digest):
    from .. import views  # the registry's own blob answer, for what Berth holds

    found = services.open_blob(rule=rule, name=name, digest=digest, head=request.method == "HEAD")
    headers = {
        "Docker-Content-Digest": str(digest),
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
    }
    if isinstance(found, services.Remote):
        response = HttpResponse(headers=headers, content_type=mediatypes.OCTET_STREAM)
        response["Content-Length"] = str(found.size)
        response["Berth-Cache"] = services.MISS
        return response
    if not isinstance(found, services.Download):
        response = views.blob_response(request, found)
        response["Berth-Cache"] = services.HIT
        return response
    try:
        byte_range = views.requested_range(request, found.size) if found.size else None
    except BaseException:
        found.close()
        raise
    start, end = byte_range or (0, None)
    response = StreamingHttpResponse(
        found.stream(start, end),
        status=206 if byte_range else 200,
        headers=headers,
        content_type=mediatypes.OCTET_STREAM,
    )
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{found.size}"
        response["Content-Length"] = str(end - start + 1)
    elif found.size is not None:
        response["Content-Length"] = str(found.size)
    response["Berth-Cache"] = services.MISS
    metrics.BYTES_SERVED.labels("cache").inc(found.size or 0)
    return response
