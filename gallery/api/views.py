"""The REST API's views: parse, authorize (registry.access.policy), call services, shape.

A repository the caller may not see answers exactly as a missing one: 404 with the same
body, on every path. Writes need the right the registry itself would ask for: push to edit
the catalog page or change visibility, delete to delete a repository or a tag.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Count, F, Q, Sum
from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import digests, names
from registry import services as registry_services
from registry.access import audit, clients, policy, ratelimit
from registry.errors import DigestInvalid, ManifestUnknown
from registry.models import PullCount, Repository

from .. import search, services
from ..images import image_details
from ..models import ArtifactType, CatalogEntry, CatalogTag, Publisher
from ..publishing.settings import EDITS
from . import serializers as api

NOT_FOUND = "No such repository."
LIMIT_MAX = 100


def visible_entry(request, name: str) -> CatalogEntry:
    """The entry if the caller may see it; otherwise the one 404 a missing name gets."""
    entry = services.visible_entry(user=request.user, name=name)
    if entry is None:
        raise exceptions.NotFound(NOT_FOUND)
    return entry


def require(request, name: str, action: str, *, public: bool) -> None:
    """Raise unless the caller may do `action` to repository `name`."""
    if action in policy.permitted_actions(request.user, name, public=public):
        return
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()
    raise exceptions.PermissionDenied(f"You may not {action} in {name}.")


class Limited(pagination.CursorPagination):
    """Cursor pages of `limit` items (at most 100), with opaque `cursor`s in the links."""

    page_size = 25
    page_size_query_param = "limit"
    max_page_size = LIMIT_MAX

    def __init__(self, ordering=("pk",)):
        self.ordering = ordering

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view=view)

    def decode_cursor(self, request):
        """A cursor that is not one of ours starts over, as the repositories list's does: not
        DRF's 404 (the repository exists), nor a 500 when its position is not a value of the
        ordering's field (`p=garbage` for a push time) or text the database refuses (NUL)."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            return None
        if cursor is None or cursor.position is None:
            return cursor
        if "\x00" in cursor.position:
            return None
        try:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:
            return cursor  # an annotation (a publisher's namespace): text, compared as text
        try:
            field.to_python(cursor.position)
        except ValidationError:
            return None
        return cursor

    def get_page_size(self, request):
        """A `limit` that is not a whole number from 1 to 100 is refused, not guessed at."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # isdigit() alone lets "²" through, which int() refuses (that was a 500).
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"limit": [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)


def limit_parameter(what: str) -> OpenApiParameter:
    return OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX},
        description=f"{what} per page, at most {LIMIT_MAX}.",
    )


# -- repositories -------------------------------------------------------------------------------


class RepositoryDetail(APIView):
    """One repository's catalog data."""

    anonymous_reads = True

    def _context(self, request, entry):
        return {
            "request": request,
            "text": services.text_of(entry),
            "can_edit": policy.PUSH in policy.permitted_actions(request.user, entry.name),
        }

    @extend_schema(responses=api.RepositoryDetailSerializer, operation_id="repository_read")
    def get(self, request, name: str):
        entry = visible_entry(request, name)
        data = api.RepositoryDetailSerializer(entry, context=self._context(request, entry)).data
        return last_modified(Response(data), changed_at(entry))

    @extend_schema(
        request=api.RepositoryUpdateSerializer,
        responses=api.RepositoryDetailSerializer,
        operation_id="repository_update",
    )
    def patch(self, request, name: str):
        entry = visible_entry(request, name)
        require(request, name, policy.PUSH, public=not entry.is_private)
        changes = api.RepositoryUpdateSerializer(data=request.data)
        changes.is_valid(raise_exception=True)
        try:
            EDITS.take(f"user:{request.user.pk}")
        except ratelimit.Throttled as throttled:
            raise exceptions.Throttled(wait=throttled.retry_after) from None
        values = changes.validated_data
        # Only a change is applied: a visibility as it was read could undo one made meanwhile.
        visibility = values.get("visibility")
        if visibility == _visibility(entry):
            visibility = None
        if visibility is not None:
            require(request, name, policy.MANAGE, public=not entry.is_private)
        text = services.text_of(entry)
        try:
            services.save_settings(
                entry=entry,
                description=values.get("description", entry.description),
                about=values.get("about", text.about),
                usage=values.get("usage", text.usage),
                is_private=None if visibility is None else visibility == "private",
                actor=actor_of(request),
            )
        except ValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from None
        entry.refresh_from_db()
        return Response(
            api.RepositoryDetailSerializer(entry, context=self._context(request, entry)).data
        )

    @extend_schema(responses={204: None}, operation_id="repository_delete")
    def delete(self, request, name: str):
        entry = visible_entry(request, name)
        # Its admins, with the account or a token with `api-write` and `delete`.
        require(request, name, policy.MANAGE, public=not entry.is_private)
        require(request, name, policy.DELETE, public=not entry.is_private)
        registry_services.delete_repository(
            repository=Repository.objects.get(pk=entry.pk), actor=actor_of(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def account_itself(request) -> None:
    """Changes to who may do what (members, robots, organizations, replication rules) take
    the account itself, a session or the password: a token administers nothing."""
    if getattr(request.user, "berth_token", None) is not None:
        raise exceptions.PermissionDenied(
            "This is changed with the account itself, not with a token."
        )


def actor_of(request) -> audit.Actor:
    return audit.Actor(request.user.username, request.user.pk, clients.client_address(request))


def _visibility(entry) -> str:
    return "private" if entry.is_private else "public"


SORTS = ["relevance", "downloads", "updated", "name"]
SORT_HELP = "relevance (the default with q), name (the default without), downloads, updated."


class RepositoryList(APIView):
    """Search and list the catalog (GET); create an empty repository (POST)."""

    anonymous_reads = True

    @extend_schema(
        parameters=[
            OpenApiParameter("q", description='Words, "a phrase", -excluded, or; as on /search.'),
            OpenApiParameter("type", enum=[t.value for t in ArtifactType], many=True),
            OpenApiParameter("arch", many=True, description="Architecture, e.g. arm64."),
            OpenApiParameter("os", many=True, description="Operating system, e.g. linux."),
            OpenApiParameter("verified", bool, description="Verified publishers only."),
            OpenApiParameter("signed", bool, description="Repositories with signed images only."),
            OpenApiParameter("namespace", description="One publisher's repositories."),
            OpenApiParameter("sort", enum=SORTS, description=SORT_HELP),
            limit_parameter("Repositories"),
            OpenApiParameter("cursor", description="From a `next` or `previous` link."),
        ],
        responses=api.RepositoryListSerializer,
        operation_id="repositories_list",
    )
    def get(self, request):
        query = api.RepositoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        after, before = _decode_cursor(values.get("cursor", ""))
        params = search.SearchParams(
            q=values.get("q", ""),
            architectures=values.get("arch", []),
            operating_systems=values.get("os", []),
            types=values.get("type", []),
            verified=values.get("verified", False),
            signed=values.get("signed", False),
            namespace=values.get("namespace", ""),
            sort=values.get("sort") or ("relevance" if values.get("q") else "name"),
            after=after,
            before=before,
        )
        page = search.search(search.Audience.of(request.user), params, size=values["limit"])
        link = lambda prefix, cursor: (  # noqa: E731 - a short local helper
            _link(request, prefix + cursor) if cursor else None
        )
        return Response(
            {
                "count": page.total,
                "count_exact": not page.total_is_lower_bound,
                "next": link("n.", page.next_cursor),
                "previous": link("p.", page.prev_cursor),
                "facets": {
                    facet.key: [
                        {"value": o["value"], "label": o["label"], "count": o["count"]}
                        for o in facet.options
                    ]
                    for facet in page.facets
                },
                "did_you_mean": page.suggestion or None,
                "results": api.repository_list(page.entries, request),
            }
        )

    @extend_schema(
        request=api.RepositoryCreateSerializer,
        responses={201: api.RepositoryDetailSerializer},
        operation_id="repository_create",
    )
    def post(self, request):
        values = api.RepositoryCreateSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        name = values.validated_data["name"]
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        if policy.PUSH not in policy.permitted_actions(request.user, name):
            raise exceptions.PermissionDenied(f"You may not create repositories in {name}.")
        visibility = values.validated_data.get("visibility")
        repository = registry_services.create_repository(
            name=name,
            user=request.user,
            private=None if visibility is None else visibility == "private",
            actor=actor_of(request),
        )
        entry = services.index_repository(repository_id=repository.pk)
        description = values.validated_data["description"]
        if description:
            services.update_catalog(entry=entry, description=description, about="", usage="")
        context = {"request": request, "text": services.text_of(entry), "can_edit": True}
        response = Response(
            api.RepositoryDetailSerializer(entry, context=context).data,
            status=status.HTTP_201_CREATED,
        )
        response["Location"] = request.build_absolute_uri(
            reverse("api:repository", args=[entry.name])
        )
        return response


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """(after, before) from the API's one opaque cursor; a forged one starts over."""
    direction, _, position = cursor.partition(".")
    if direction == "n":
        return position, ""
    if direction == "p":
        return "", position
    return "", ""


def _link(request, cursor: str) -> str:
    params = request.query_params.copy()
    params["cursor"] = cursor
    return request.build_absolute_uri(request.path) + "?" + params.urlencode()


# -- tags and images ----------------------------------------------------------------------------

TAG_ORDERINGS = {
    "version": ("-sort_key", "name"),
    "pushed": ("-pushed_at", "name"),
    "name": ("name",),
}


class TagList(APIView):
    anonymous_reads = True

    @extend_schema(
        parameters=[
            OpenApiParameter("ordering", enum=list(TAG_ORDERINGS), default="version"),
            OpenApiParameter("name", description="Only tags whose name contains this."),
            limit_parameter("Tags"),
            OpenApiParameter("cursor", description="From a `next` or `previous` link."),
        ],
        responses=api.paged(api.TagSerializer, "TagPage"),
        operation_id="tags_list",
    )
    def get(self, request, name: str):
        entry = visible_entry(request, name)
        ordering = request.query_params.get("ordering", "version")
        if ordering not in TAG_ORDERINGS:
            raise exceptions.ValidationError({"ordering": [f"One of {', '.join(TAG_ORDERINGS)}."]})
        tags = CatalogTag.objects.filter(entry=entry).select_related("image")
        filter_text = request.query_params.get("name", "").strip()[:128]
        if filter_text:
            tags = tags.filter(name__icontains=filter_text)
        paginator = Limited(ordering=TAG_ORDERINGS[ordering])
        page = paginator.paginate_queryset(tags, request, view=self)
        counts = dict(
            PullCount.objects.filter(repository_id=entry.pk, tag__in=[t.name for t in page])
            .values_list("tag")
            .annotate(total=Sum("count"))
        )
        for tag in page:
            tag.downloads = counts.get(tag.name, 0)
        data = api.TagSerializer(page, many=True, context={"request": request, "entry": entry}).data
        return last_modified(paginator.get_paginated_response(data), changed_at(entry))


class TagDetail(APIView):
    @extend_schema(responses={204: None}, operation_id="tag_delete")
    def delete(self, request, name: str, tag: str):
        entry = visible_entry(request, name)
        require(request, name, policy.DELETE, public=not entry.is_private)
        if not names.is_valid_tag(tag):
            raise exceptions.NotFound("No such tag.")
        try:
            registry_services.delete_manifest(
                repository=Repository.objects.get(pk=entry.pk),
                reference=tag,
                actor=actor_of(request),
            )
        except ManifestUnknown:
            raise exceptions.NotFound("No such tag.") from None
        services.index_repository(repository_id=entry.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageDetail(APIView):
    anonymous_reads = True

    @extend_schema(
        parameters=[OpenApiParameter("page", int, description="Page of an index's platforms.")],
        responses=api.ImageSerializer,
        operation_id="image_read",
    )
    def get(self, request, name: str, digest: str):
        entry = visible_entry(request, name)
        try:
            parsed = digests.parse(digest)
        except DigestInvalid:
            raise exceptions.NotFound("No such image.") from None
        try:
            page = max(int(request.query_params.get("page", "1")), 1)
        except ValueError:
            raise exceptions.ValidationError({"page": ["A positive integer."]}) from None
        details = image_details(entry=entry, digest=str(parsed), page=page)
        if details is None:
            raise exceptions.NotFound("No such image.")
        return last_modified(Response(api.ImageSerializer(details).data), changed_at(entry))


# -- publishers ---------------------------------------------------------------------------------


def _publishers():
    listed = Q(entries__is_private=False, entries__tag_count__gt=0)
    return (
        Publisher.objects.select_related("namespace_record")
        .annotate(
            ns=F("namespace_record__name"),
            repository_count=Count("entries", filter=listed),
            downloads=Sum("entries__downloads", filter=listed, default=0),
        )
        .filter(repository_count__gt=0)
    )


class PublisherList(APIView):
    anonymous_reads = True

    @extend_schema(
        parameters=[
            limit_parameter("Publishers"),
            OpenApiParameter("cursor", description="From a `next` or `previous` link."),
        ],
        responses=api.paged(api.PublisherSerializer, "PublisherPage"),
        operation_id="publishers_list",
    )
    def get(self, request):
        paginator = Limited(ordering=("ns",))
        page = paginator.paginate_queryset(_publishers(), request, view=self)
        data = api.PublisherSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class PublisherDetail(APIView):
    anonymous_reads = True

    @extend_schema(
        responses=inline_serializer(
            "PublisherDetail",
            {
                "publisher": api.PublisherSerializer(),
                "repositories": api.RepositorySerializer(many=True),
                "repositories_url": serializers.CharField(),
            },
        ),
        operation_id="publisher_read",
    )
    def get(self, request, namespace: str):
        publisher = _publishers().filter(ns=namespace).first()
        if publisher is None:
            raise exceptions.NotFound("No such publisher.")
        entries = (
            CatalogEntry.objects.visible_to(None)
            .listed()
            .filter(namespace=namespace)
            .select_related("publisher__namespace_record")
            .order_by("-downloads", "name")[:LIMIT_MAX]
        )
        context = {"request": request}
        listing = reverse("api:repositories") + f"?namespace={namespace}"
        return Response(
            {
                "publisher": api.PublisherSerializer(publisher, context=context).data,
                "repositories": api.RepositorySerializer(entries, many=True, context=context).data,
                "repositories_url": request.build_absolute_uri(listing),
            }
        )


def changed_at(entry):
    """A repository's Last-Modified, for its catalog data, tags and images: its last
    indexing (a push, a deleted tag) or edit (texts, visibility, logo). Download counts move
    without it; an ETag (of the body) sees them."""
    return entry.indexed_at or entry.pushed_at


def last_modified(response, moment):
    if moment is not None:
        response["Last-Modified"] = http_date(moment.timestamp())
    return response


# Swagger UI sets inline styles and draws its icons from data: URLs. Its page (and only its
# page) allows both; scripts still come from Berth alone, so the rule that matters against
# injected script holds there too.
DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)


class FirstRenderer(BaseContentNegotiation):
    """A page has one rendering, whatever the client's Accept says."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(exclude=True)
class ApiDocs(SpectacularSwaggerSplitView):
    """The API's docs page (Swagger UI, its files served by Berth: no CDN), with a bar back
    to the site and the system's dark mode."""

    content_negotiation_class = FirstRenderer
    template_name = "gallery/api_docs.html"

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_POLICY
        return response


class FormatParameter(DefaultContentNegotiation):
    """`?format=json` or `?format=yaml` picks the schema's rendering (URL_FORMAT_OVERRIDE is
    off for the rest of the API, where `format` is a parameter of our own)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        chosen = format_suffix or request.query_params.get("format")
        return super().select_renderer(request, renderers, chosen)


@extend_schema(exclude=True)
class ApiSchema(SpectacularAPIView):
    """The OpenAPI 3 schema (YAML, or JSON for `Accept: application/json` or ?format=json)."""

    content_negotiation_class = FormatParameter
