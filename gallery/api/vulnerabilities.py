"""The API's vulnerability reads and rescans: an image's findings, its SBOM, a new scan.

As everywhere under /api/v1/, a repository the caller may not see answers exactly as a
missing one, and a rescan needs the right to push (registry.access.policy).
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import digests
from registry.access import policy, ratelimit
from registry.errors import DigestInvalid, ManifestUnknown
from registry.scanning import services as scanning

from ..vulnerabilities import services
from . import serializers as api
from .views import require, visible_entry

CYCLONEDX = "application/vnd.cyclonedx+json"
NO_IMAGE = "No such image."
ERROR = OpenApiResponse(description='The error shape: {"error": {"code", "message"}}.')


class NotAnImage(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Only container images are scanned; this artifact has nothing to scan."
    default_code = "not_an_image"


class NotScanned(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The image has no finished scan yet: its SBOM comes from the scan."
    default_code = "not_scanned"


def _image(request, name: str, digest: str):
    """(entry, digest) of an image the caller may see; the one 404 otherwise."""
    entry = visible_entry(request, name)
    try:
        return entry, str(digests.parse(digest))
    except DigestInvalid:
        raise exceptions.NotFound(NO_IMAGE) from None


def _as_publisher(request, name: str, digest: str, act):
    """(entry, digest, act(entry, digest)) for a caller who may push to the repository, with
    the errors every publisher's action on an image answers alike."""
    entry, digest = _image(request, name, digest)
    require(request, name, policy.PUSH, public=not entry.is_private)
    try:
        return entry, digest, act(entry, digest)
    except ManifestUnknown:
        raise exceptions.NotFound(NO_IMAGE) from None
    except services.NotAnImage:
        raise NotAnImage() from None
    except services.NotScanned:
        raise NotScanned() from None
    except ratelimit.Throttled as throttled:
        raise exceptions.Throttled(wait=throttled.retry_after) from None


def _status(report: scanning.ImageReport) -> dict:
    overview = services.overview_of(report.digest, report.platforms)
    return {
        "digest": report.digest,
        "status": overview.status,
        "database_updated_at": report.database_updated_at,
        "platforms": api.PlatformScanSerializer(overview.platforms, many=True).data,
    }


def _page_link(request, offset: int) -> str:
    params = request.query_params.copy()
    params["offset"] = str(offset)
    return request.build_absolute_uri(request.path) + "?" + params.urlencode()


class ImageVulnerabilities(APIView):
    anonymous_reads = True

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "severity",
                enum=api.SEVERITIES,
                many=True,
                description="Only these severities (repeat, or separate with commas).",
            ),
            OpenApiParameter("package", description="Only packages whose name contains this."),
            OpenApiParameter("platform", description="Only this platform, e.g. linux/arm64."),
            OpenApiParameter(
                "ordering",
                enum=api.FINDING_ORDERINGS,
                default="severity",
                description="severity (the most severe first, then CVSS score), score (CVSS, "
                "highest first), package, advisory.",
            ),
            OpenApiParameter(
                "limit", int, description=f"Findings per page, at most {api.FINDINGS_LIMIT_MAX}."
            ),
            OpenApiParameter("offset", int, description="Findings to skip."),
        ],
        responses={200: api.VulnerabilityReportSerializer, 400: ERROR, 404: ERROR},
        operation_id="image_vulnerabilities",
        summary="An image's scan status per platform, and its findings",
    )
    def get(self, request, name: str, digest: str):
        entry, digest = _image(request, name, digest)
        query = api.FindingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        filters = services.Filters(
            severities=tuple(values.get("severity", ())),
            package=values.get("package", ""),
            platform=values.get("platform", ""),
            sort=values["ordering"],
        )
        try:
            report = scanning.image_vulnerabilities(repository=entry.repository, reference=digest)
            lines = services.find(entry=entry, reference=digest, filters=filters)
        except ManifestUnknown:
            raise exceptions.NotFound(NO_IMAGE) from None
        offset, limit = values["offset"], values["limit"]
        shown = [line.finding for line in lines[offset : offset + limit]]
        more, earlier = offset + limit < len(lines), offset > 0
        return Response(
            {
                **_status(report),
                "count": len(lines),
                "next": _page_link(request, offset + limit) if more else None,
                "previous": _page_link(request, max(offset - limit, 0)) if earlier else None,
                "findings": api.FindingSerializer(shown, many=True).data,
            }
        )


class ImageRescan(APIView):
    @extend_schema(
        request=None,
        responses={
            202: api.ScanStatusSerializer,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            429: ERROR,
        },
        operation_id="image_vulnerabilities_scan",
        summary="Scan an image again (those who may push to the repository)",
        description="Queues a new scan of the image, or of each platform of an index, and "
        "answers 202 with the scans' status; a scan already on its way is left to finish. "
        "Limited per user (BERTH_RATELIMIT_RESCANS: 429 with Retry-After beyond it). An "
        "artifact that is not an image answers 409 not_an_image.",
    )
    def post(self, request, name: str, digest: str):
        entry, digest, report = _as_publisher(
            request,
            name,
            digest,
            lambda entry, digest: services.rescan(user=request.user, entry=entry, reference=digest),
        )
        response = Response(_status(report), status=status.HTTP_202_ACCEPTED)
        path = reverse("api:image-vulnerabilities", args=[entry.name, digest])
        response["Location"] = request.build_absolute_uri(path)
        return response


class ImageSbom(APIView):
    anonymous_reads = True

    @extend_schema(
        responses={
            (200, CYCLONEDX): api.SbomSerializer,
            (404, "application/json"): ERROR,
            (409, "application/json"): ERROR,
        },
        operation_id="image_sbom",
        summary="The software bill of materials of an image (CycloneDX JSON)",
        description="The packages found by the image's scan (each platform of an index), as "
        "CycloneDX 1.6 JSON. An image without a finished scan answers 409 not_scanned.",
    )
    def get(self, request, name: str, digest: str):
        entry, digest = _image(request, name, digest)
        try:
            report = scanning.image_vulnerabilities(repository=entry.repository, reference=digest)
            if not report.platforms:
                raise exceptions.NotFound("Only container images have an SBOM.")
            if not any(p.status == "done" for p in report.platforms):
                raise NotScanned()
            document = scanning.sbom(repository=entry.repository, reference=digest)
        except ManifestUnknown:
            raise exceptions.NotFound(NO_IMAGE) from None
        response = HttpResponse(json.dumps(document, indent=2), content_type=CYCLONEDX)
        filename = f"{entry.name.replace('/', '_')}_{digest.partition(':')[2][:12]}.cdx.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @extend_schema(
        request=None,
        responses={
            200: api.AttachedSbomSerializer,
            201: api.AttachedSbomSerializer,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            429: ERROR,
        },
        operation_id="image_sbom_attach",
        summary="Attach the SBOM to the image as an OCI referrer (those who may push)",
        description="Pushes the SBOM into the repository as an OCI artifact whose subject is the "
        "image, so that any client finds it through the referrers API (`oras discover`). 201 "
        "with the referrer's descriptor and a Location; 200 with the one attached since the "
        "image's newest scan, if there is one. 409 not_scanned before a finished scan, "
        "409 not_an_image for an artifact; limited like rescans (BERTH_RATELIMIT_RESCANS).",
    )
    def post(self, request, name: str, digest: str):
        entry, digest, (stored, created) = _as_publisher(
            request,
            name,
            digest,
            lambda entry, digest: services.attach_sbom(
                user=request.user, entry=entry, reference=digest
            ),
        )
        body = {
            "mediaType": stored.media_type,
            "digest": stored.digest,
            "size": stored.size,
            "artifactType": stored.artifact_type,
            "subject": digest,
        }
        response = Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        response["Location"] = request.build_absolute_uri(
            f"/v2/{entry.name}/manifests/{stored.digest}"
        )
        return response
