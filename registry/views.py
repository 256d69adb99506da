"""The OCI Distribution API (`/v2/`) as plain function views.

Each view parses the request, authorizes it (`auth.authorize`), calls one service and
shapes the response. Every RegistryError becomes the spec's JSON error body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import wraps
from types import GeneratorType
from urllib.parse import urlencode

from django.conf import settings
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import bodies, digests, mediatypes, names, pulls, quotas, services
from .access import auth, clients, limits, policy, ratelimit, tokens
from .cache import rules as cache_rules
from .cache import services as cache
from .cache import views as cache_views
from .errors import (
    DigestInvalid,
    ManifestTooLarge,
    NameInvalid,
    NameUnknown,
    PaginationNumberInvalid,
    RangeInvalid,
    RangeNotSatisfiable,
    RegistryError,
    SizeInvalid,
    Unsupported,
    error_body,
)
from .ops import metrics
from .storage import blobs

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
PULL, PUSH, DELETE = (frozenset({a}) for a in (policy.PULL, policy.PUSH, policy.DELETE))
PULL_PUSH = PULL | PUSH
# Request bodies are read in pieces of this size: large enough for few system calls, small
# enough that the server's buffers stay a few MiB however large the blob.
READ_SIZE = 256 * 1024
# Byte positions: ASCII digits only (str.isdigit() also takes "²"), and no more than fit
# in a 64-bit offset.
_RANGE = re.compile(r"bytes=(?P<start>[0-9]{0,19})-(?P<end>[0-9]{0,19})")
_CONTENT_RANGE = re.compile(
    r"(?:bytes[ =])?(?P<start>[0-9]{1,19})-(?P<end>[0-9]{1,19})(?:/[0-9*]+)?"
)


def error_response(request, error: RegistryError) -> HttpResponse:
    body = b"" if request.method == "HEAD" else error_body(error)
    response = HttpResponse(body, status=error.status, content_type="application/json")
    for key, value in error.headers.items():
        response[key] = value
    return response


def registry_view(*methods: str):
    """Allow only `methods`, render RegistryErrors, stamp the API version header."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise Unsupported(
                        f"{request.method} is not supported here",
                        headers={"Allow": ", ".join(methods)},
                    )
                response = view(request, *args, **kwargs)
            except RegistryError as error:
                response = error_response(request, error)
            response[API_VERSION[0]] = API_VERSION[1]
            return response

        return wrapper

    return decorate


# -- request helpers ----------------------------------------------------------------------------


def body_chunks(
    request,
    *,
    limit: int | None = None,
    too_large: type[RegistryError] = SizeInvalid,
    from_socket: bool = False,
) -> Iterator[bytes]:
    """The request body in chunks, read straight from the socket (never whole in memory).

    Handles Content-Length and chunked transfer encoding (Go clients stream uploads chunked;
    Django alone would see an empty body). A body that ends early is SIZE_INVALID.
    `from_socket` (blob uploads): under gunicorn, read with registry.bodies, whose pieces
    are valid only until the next is requested.
    """
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if raw_length and not chunked:
        try:
            expected = int(raw_length)
        except ValueError:
            raise SizeInvalid("invalid Content-Length") from None
        if expected < 0:
            raise SizeInvalid("invalid Content-Length")
        if limit is not None and expected > limit:
            raise too_large(status=413, detail={"limit": limit})
        fast = bodies.content_length_body(request.environ, expected) if from_socket else None
        return _read(fast or request, expected, limit, too_large)
    if chunked:
        fast = bodies.chunked_body(request.environ) if from_socket else None
        return _read(fast or request.environ["wsgi.input"], None, limit, too_large)
    return iter(())


def _read(stream, expected: int | None, limit: int | None, too_large) -> Iterator[bytes]:
    if isinstance(stream, GeneratorType):  # registry.bodies: already in pieces
        pieces, read = stream, None
    else:
        pieces, read = None, stream.read
    received = 0
    while expected is None or received < expected:
        try:
            if pieces is not None:
                chunk = next(pieces, b"")
            else:
                want = READ_SIZE if expected is None else min(READ_SIZE, expected - received)
                chunk = read(want)
        except RegistryError:
            raise
        except Exception:  # the connection broke, or the server could not parse the body
            raise SizeInvalid("the request body ended early or is malformed") from None
        if not chunk:
            break
        received += len(chunk)
        if limit is not None and received > limit:
            raise too_large(status=413, detail={"limit": limit})
        yield chunk
    if expected is not None and received < expected:
        raise SizeInvalid("the request body ended early")


def page_size(request, cap: int) -> int | None:
    raw = request.GET.get("n")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # int() also takes " 1", "1_0", fullwidth digits
        raise PaginationNumberInvalid(detail={"n": raw[:50]})
    return min(int(raw), cap)


def parse_content_range(request) -> tuple[int, int] | None:
    """`Content-Range: <start>-<end>` (inclusive) as sent with upload chunks."""
    header = request.META.get("HTTP_CONTENT_RANGE", "").strip()
    if not header:
        return None
    match = _CONTENT_RANGE.fullmatch(header)
    if match is None or int(match["end"]) < int(match["start"]):
        raise RangeInvalid("invalid Content-Range", detail={"Content-Range": header[:100]})
    return int(match["start"]), int(match["end"])


def chunk_range(request, session) -> tuple[int, int] | None:
    """Where a chunk says it starts and how long it is (its Content-Range), checked against
    its Content-Length."""
    content_range = parse_content_range(request)
    if content_range is None:
        return None
    start, end = content_range
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isascii() and length.isdigit() and int(length) != end - start + 1:
        raise RangeInvalid(
            "Content-Range does not match Content-Length",
            headers={"Range": services.upload_range(session)},
        )
    return start, end - start + 1


def exactly(chunks: Iterator[bytes], length: int, session) -> Iterator[bytes]:
    """A chunk's body, which must be as long as its Content-Range says (a chunked body has
    no Content-Length to check it against before it arrives)."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > length:
            break
        yield chunk
    if received != length:
        raise RangeInvalid(
            "the body does not match Content-Range",
            headers={"Range": services.upload_range(session)},
        )


def upload_location(name: str, upload) -> str:
    return f"/v2/{name}/blobs/uploads/{upload.id}"


def upload_response(name: str, upload, status: int = 202) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Location"] = upload_location(name, upload)
    response["Range"] = services.upload_range(upload)
    response["Docker-Upload-UUID"] = str(upload.id)
    response["Content-Length"] = "0"
    return response


def blob_created(name: str, digest, size: int | None = None) -> HttpResponse:
    """201 for a blob now in the repository (`size`: it was uploaded, not mounted)."""
    if size is not None:
        metrics.BLOB_UPLOADS.inc()
        metrics.BLOB_UPLOAD_BYTES.inc(size)
    response = HttpResponse(status=201)
    response["Location"] = f"/v2/{name}/blobs/{digest}"
    response["Docker-Content-Digest"] = str(digest)
    response["Content-Length"] = "0"
    return response


def paginated(request, payload: dict, items: list[str], more: bool, n: int | None) -> JsonResponse:
    response = JsonResponse(payload)
    if more and items and n:
        query = urlencode({"n": n, "last": items[-1]})
        response["Link"] = f'<{request.path}?{query}>; rel="next"'
    return response


# -- base and catalog ---------------------------------------------------------------------------


@registry_view("GET", "HEAD")
def api_root(request):
    identity = auth.identify(request)
    if identity.kind == "anonymous":
        raise auth.Unauthorized(headers={"WWW-Authenticate": auth.challenge(request)})
    return JsonResponse({})


@registry_view("GET")
def catalog(request):
    user = auth.user_of(auth.identify(request))
    n = page_size(request, settings.BERTH_CATALOG_PAGE_MAX)
    visible = services.Repository.objects.visible_to(user).listed()
    limit = settings.BERTH_CATALOG_PAGE_MAX if n is None else n
    names, more = services.list_repositories(
        visible=visible, n=limit, last=request.GET.get("last", "")
    )
    return paginated(request, {"repositories": names}, names, more, limit)


# -- manifests ----------------------------------------------------------------------------------


@registry_view("GET", "HEAD", "PUT", "DELETE")
def manifest(request, name: str, reference: str):
    if request.method == "PUT":
        return put_manifest(request, name, reference)
    if request.method == "DELETE":
        auth.authorize(request, name, DELETE)
        services.delete_manifest(
            repository=services.get_repository(name=name),
            reference=reference,
            actor=auth.actor_of(request),
        )
        return HttpResponse(status=202)
    identity = auth.authorize(request, name, PULL)
    rule = cache_rules.rule_for(name)
    if rule is None:
        try:
            found = services.find_manifest(name=name, reference=reference)
        except NameUnknown:
            rule = cached_after_all(name)
    if rule is not None:  # a pull-through cache: fresh, fetched or stale (registry.cache)
        served = cache.manifest(rule=rule, name=name, reference=reference)
        found = served.manifest
    quota = {}
    if request.method == "GET":  # a HEAD is a client checking, not a pull
        tag = "" if digests.looks_like_digest(reference) else reference
        client = pull_client(request)
        if not pulls.continues_a_pull(found.repository_id, tag, client):
            quota = limits.count_pull(request, identity)
        metrics.PULLS.inc()
        pulls.record(found.repository_id, tag, client=client)
    body = bytes(found.body)
    response = HttpResponse(
        b"" if request.method == "HEAD" else body, content_type=found.media_type
    )
    response["Content-Length"] = str(len(body))
    response["Docker-Content-Digest"] = found.digest
    response["ETag"] = f'"{found.digest}"'
    for key, value in quota.items():
        response[key] = value
    if rule is not None:
        cache_views.mark(response, served)
    return response


def put_manifest(request, name: str, reference: str):
    identity = auth.authorize(request, name, PULL_PUSH)
    repository = services.repository_for_push(name=name, user_id=identity.user_id)
    limit = settings.BERTH_MANIFEST_MAX_BYTES
    # `?tag=` with a digest reference: tags pointed at the manifest in the same request.
    tags = request.GET.getlist("tag") if digests.looks_like_digest(reference) else []
    stored, parsed = services.commit_manifest(
        repository=repository,
        reference=reference,
        body=b"".join(body_chunks(request, limit=limit, too_large=ManifestTooLarge)),
        content_type=request.content_type or "",
        actor=auth.actor_of(request),
        tags=tags,
    )
    metrics.PUSHES.inc()
    response = HttpResponse(status=201)
    response["Location"] = f"/v2/{name}/manifests/{stored.digest}"
    response["Docker-Content-Digest"] = stored.digest
    response["Content-Length"] = "0"
    if tags:
        response["OCI-Tag"] = ", ".join(stored.tag_names)
    if parsed.subject:
        response["OCI-Subject"] = str(parsed.subject.digest)
    return response


@registry_view("GET")
def tags_list(request, name: str):
    auth.authorize(request, name, PULL)
    n = page_size(request, settings.BERTH_TAGS_PAGE_MAX)
    limit = settings.BERTH_TAGS_PAGE_MAX if n is None else n
    last = request.GET.get("last", "")
    rule = cache_rules.rule_for(name)
    if rule is None and services.Repository.objects.filter(name=name).first() is None:
        rule = cached_after_all(name)
    upstream_tags = cache.tags(rule=rule, name=name) if rule is not None else None
    if upstream_tags is not None:  # a cached repository lists its upstream's tags
        following = [tag for tag in upstream_tags if tag > last]
        tags, more = following[:limit], len(following) > limit
    else:
        repository = services.get_repository(name=name)
        tags, more = services.list_tags(repository=repository, n=limit, last=last)
    return paginated(request, {"name": name, "tags": tags}, tags, more, limit)


@registry_view("GET")
def referrers(request, name: str, digest: str):
    auth.authorize(request, name, PULL)
    subject = digests.parse(digest)
    repository = services.Repository.objects.filter(name=name).first()
    artifact_type = request.GET.get("artifactType", "")
    descriptors, more = [], False  # nothing refers to anything in a repository not made yet
    if repository is not None:
        descriptors, more = services.list_referrers(
            repository=repository,
            digest=subject,
            artifact_type=artifact_type,
            last=request.GET.get("last", "")[:200],
        )
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
    response = HttpResponse(json.dumps(index), content_type=mediatypes.OCI_INDEX)
    if artifact_type:
        response["OCI-Filters-Applied"] = "artifactType"
    if more:
        query = {"artifactType": artifact_type} if artifact_type else {}
        query["last"] = descriptors[-1]["digest"]
        response["Link"] = f'<{request.path}?{urlencode(query)}>; rel="next"'
    return response


# -- blobs --------------------------------------------------------------------------------------


@registry_view("GET", "HEAD", "DELETE")
def blob(request, name: str, digest: str):
    if request.method == "DELETE":
        auth.authorize(request, name, DELETE)
        services.delete_blob(
            repository=services.get_repository(name=name), digest=digests.parse(digest)
        )
        return HttpResponse(status=202)
    auth.authorize(request, name, PULL)
    parsed = digests.parse(digest)
    rule = cache_rules.rule_for(name)
    if rule is None:
        try:
            repository = services.get_repository(name=name)
        except NameUnknown:
            rule = cached_after_all(name)
    if rule is not None:
        return cache_views.blob(request, rule, name, parsed)
    found = services.find_blob(repository=repository, digest=parsed)
    return blob_response(request, found)


def cached_after_all(name: str):
    """A repository that does not exist: under a cache rule made a moment ago in another
    process, it is the cache's to fetch; otherwise NAME_UNKNOWN."""
    rule = cache_rules.rule_for(name, fresh=True)
    if rule is None:
        raise NameUnknown(detail={"name": name})
    return rule


def blob_response(request, found):
    """The blob's bytes, or the headers that let the proxy or the store send them.

    Plain blobs on local disk leave through sendfile (`file`) or nginx (`x-accel`); on an
    object store through a pre-signed redirect (`redirect`). Sealed blobs are opened by
    Berth chunk by chunk whatever the delivery (they cannot be handed over as stored).
    """
    size = found.size
    headers = {
        "Docker-Content-Digest": found.digest,
        "ETag": f'"{found.digest}"',
        "Accept-Ranges": "bytes",
    }
    byte_range = requested_range(request, size)
    start, end = byte_range or (0, size - 1)
    status = 206 if byte_range else 200
    if request.method == "HEAD":
        response = HttpResponse(
            status=status, headers=headers, content_type=mediatypes.OCTET_STREAM
        )
    elif settings.BERTH_BLOB_DELIVERY == "redirect" and not found.sealed_key:
        response = HttpResponse(status=307, headers=headers)
        response["Location"] = blobs.url(found)
        metrics.BYTES_SERVED.labels("redirect").inc(size)
        return response
    elif settings.BERTH_BLOB_DELIVERY == "x-accel" and blobs.local_file(found) is not None:
        # nginx sends the file, Range requests included.
        response = HttpResponse(headers=headers, content_type=mediatypes.OCTET_STREAM)
        key = digests.parse(found.digest).storage_key
        response["X-Accel-Redirect"] = settings.BERTH_X_ACCEL_PREFIX + key
        metrics.BYTES_SERVED.labels("x-accel").inc(end - start + 1)
        return response
    elif not byte_range and (path := blobs.local_file(found)) is not None:
        # FileResponse on a real file: gunicorn sends it with one sendfile() call.
        response = FileResponse(
            open(path, "rb"),  # noqa: SIM115 (the response closes it)
            headers=headers,
            content_type=mediatypes.OCTET_STREAM,
        )
        del response["Content-Disposition"]
        metrics.BYTES_SERVED.labels("file").inc(size)
    else:
        response = StreamingHttpResponse(
            blobs.read(found, start, end),
            status=status,
            headers=headers,
            content_type=mediatypes.OCTET_STREAM,
        )
        metrics.BYTES_SERVED.labels("stream").inc(max(end - start + 1, 0))
    response["Content-Length"] = str(max(end - start + 1, 0))
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def requested_range(request, size: int) -> tuple[int, int] | None:
    """A single `Range: bytes=…` as (start, end) inclusive; None to send everything.

    Malformed or multi-range headers are ignored (RFC 9110 allows it); a range that starts
    past the end, or ends before it starts, is 416.
    """
    match = _RANGE.fullmatch(request.META.get("HTTP_RANGE", "").strip())
    if match is None or not (match["start"] or match["end"]):
        return None
    start_text, end_text = match["start"], match["end"]
    if not start_text:  # suffix: the last N bytes
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    start = int(start_text)
    end = int(end_text) if end_text else size - 1
    if end < start or start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


# -- uploads ------------------------------------------------------------------------------------


@registry_view("POST")
def upload_start(request, name: str):
    identity = auth.authorize(request, name, PULL_PUSH)
    limits.count_upload(identity)
    repository = services.repository_for_upload(name=name, user_id=identity.user_id)
    if "digest" in request.GET:
        digest = digests.parse(request.GET["digest"])
        limit, too_large = quotas.upload_allowance(repository)
        stored = services.upload_blob(
            repository=repository,
            digest=digest,
            chunks=body_chunks(request, limit=limit, too_large=too_large, from_socket=True),
        )
        return blob_created(name, digest, stored.size)
    mount, source = request.GET.get("mount"), request.GET.get("from")
    if mount and source and may_pull(request, source):
        digest = digests.parse(mount)
        source_repository = services.Repository.objects.filter(name=source).first()
        if source_repository and services.mount_blob(
            repository=repository, digest=digest, source=source_repository
        ):
            return blob_created(name, digest)
    elif mount and not source:
        digest = digests.parse(mount)
        if services.mount_known_blob(
            repository=repository, digest=digest, user=auth.user_of(identity)
        ):
            return blob_created(name, digest)
    # No digest, or a mount we cannot honour: open an ordinary upload session (spec: 202).
    upload = services.start_upload(repository=repository, user_id=identity.user_id)
    return upload_response(name, upload)


def pull_client(request) -> tuple:
    """Who is pulling, for counting: the address and the credential (token or account)."""
    identity = auth.identify(request)
    return (clients.client_address(request), identity.token_id or identity.user_id or "")


def may_pull(request, name: str) -> bool:
    try:
        auth.authorize(request, name, PULL)
    except RegistryError:
        return False
    return True


@registry_view("GET", "PATCH", "PUT", "DELETE")
def upload(request, name: str, upload_id: str):
    identity = auth.authorize(request, name, PULL_PUSH)
    repository = services.get_repository(name=name)
    session = services.get_upload(
        repository=repository, upload_id=upload_id, user_id=identity.user_id
    )
    if request.method == "GET":
        return upload_response(name, session, status=204)
    if request.method == "DELETE":
        services.cancel_upload(upload=session)
        return HttpResponse(status=204)
    declared = chunk_range(request, session)
    start = declared[0] if declared else None
    limit, too_large = quotas.upload_allowance(repository, offset=session.offset)
    chunks = body_chunks(request, limit=limit, too_large=too_large, from_socket=True)
    if declared:
        chunks = exactly(chunks, declared[1], session)
    if request.method == "PATCH":
        session = services.append_upload(upload=session, chunks=chunks, start=start)
        return upload_response(name, session)
    if "digest" not in request.GET:
        raise DigestInvalid("the digest query parameter is required to finish an upload")
    digest = digests.parse(request.GET["digest"])
    stored = services.finish_upload(upload=session, digest=digest, chunks=chunks, start=start)
    return blob_created(name, digest, stored.size)


# -- fallbacks ----------------------------------------------------------------------------------


@registry_view("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
def unknown(request, rest: str):
    """Anything under /v2/ that matches no route: usually a repository name off the grammar."""
    path = f"/{rest}"
    for marker in ("/manifests/", "/blobs/", "/tags/list", "/referrers/"):
        name = path.split(marker)[0][1:]  # slashes kept: `/v2//a/b/…` names "/a/b"
        if marker in path and not names.is_valid_name(name):
            raise NameInvalid(detail={"name": name[:300]})
    raise NameUnknown("no such endpoint")


# -- token service ------------------------------------------------------------------------------


def token_error(status: int, error: str, description: str, headers=None) -> JsonResponse:
    """OAuth2-style errors; `details` is what the docker CLI prints from such a body."""
    response = JsonResponse(
        {"error": error, "error_description": description, "details": description}, status=status
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


@csrf_exempt
def token(request):
    """Docker token authentication.

    GET: anonymous, or with Basic credentials (`offline_token=true` adds a refresh token).
    POST: the OAuth2 forms the docker CLI uses, `grant_type=password` and
    `grant_type=refresh_token`. The token grants what was asked and is permitted, no more.
    """
    if request.method not in ("GET", "POST"):
        return token_error(405, "invalid_request", "use GET or POST")
    if request.method == "POST" and request.content_type != "application/x-www-form-urlencoded":
        # RFC 6749 §4.3.2. Django would parse a multipart body first, writing its files to disk.
        return token_error(400, "invalid_request", "send an application/x-www-form-urlencoded form")
    params = request.GET if request.method == "GET" else request.POST
    service = params.get("service")
    if service and service != settings.BERTH_TOKEN_SERVICE:
        return token_error(400, "invalid_request", f"unknown service {service[:100]!r}")
    try:
        if request.method == "GET":
            user, refresh = auth.token_get_user(request, params)
        else:
            user, refresh = auth.token_grant_user(request, params)
    except ratelimit.Throttled as throttled:
        return token_error(
            429,
            "slow_down",
            "too many failed sign-in attempts; try again later",
            {"Retry-After": str(throttled.retry_after)},
        )
    if user is False:
        challenge = {"WWW-Authenticate": f'Basic realm="{settings.BERTH_TOKEN_SERVICE}"'}
        return token_error(401, "invalid_client", "invalid username or password", challenge)
    if request.method == "POST" and user is None:
        return token_error(400, "invalid_grant", "invalid credentials or refresh token")
    access = auth.grant_access(user, tokens.parse_scopes(params.getlist("scope")))
    body = tokens.token_response(
        user=user, access=access, refresh=refresh, oauth=request.method == "POST"
    )
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response
