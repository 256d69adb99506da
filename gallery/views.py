"""The portal's pages: thin views over the catalog, its search and its services."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error

from registry import names
from registry.access import policy
from registry.cache import services as cache
from registry.errors import ManifestUnknown
from registry.models import Namespace

from . import listing, search, services
from .api import errors as api_errors
from .commands import attach_commands, pull_commands
from .forms import SearchForm
from .images import image_details
from .models import CatalogEntry, CatalogTag, Publisher
from .vulnerabilities import services as vulnerabilities

TAGS_PER_PAGE = 25
BEST_FIRST = CatalogTag.objects.order_by("-sort_key", "name")


def home(request):
    visible = CatalogEntry.objects.visible_to(request.user).listed()
    total = search.public_total()
    return render(
        request,
        "gallery/home.html",
        {
            "popular": listing.cards(listing.rows(visible.by_downloads()[:6])),
            "recent": listing.cards(listing.rows(visible.recently_updated()[:6])),
            "publishers": Publisher.objects.filter(is_verified=True)
            .select_related("namespace_record")
            .annotate(total=Sum("entries__downloads", filter=Q(entries__is_private=False)))
            .order_by("-total", "namespace_record__name")[:6],
            "total": total,
            "total_text": f"{total:,}",
        },
    )


def search_page(request):
    form = SearchForm(request.GET)
    params = form.params()
    page = search.search(search.Audience.of(request.user), params)
    return render(
        request,
        "gallery/search.html",
        {
            "form": form,
            "params": params,
            "page": page,
            "cards": listing.cards(page.entries),
            "sorts": search.SORTS,
            # Without words to match, the best match is the most downloaded: say so.
            "shown_sort": "downloads"
            if page.sort == "relevance" and not params.q.strip()
            else page.sort,
            "selected": [
                {"key": facet.key, "value": option["value"], "label": option["label"]}
                for facet in page.facets
                for option in facet.options
                if option["selected"]
            ],
        },
    )


def _entry(request, name: str) -> CatalogEntry:
    """The catalog entry `name` if the caller may see it; 404 otherwise."""
    entry = services.visible_entry(user=request.user, name=name)
    if entry is None:
        raise Http404("No such repository")
    return entry


def _repository_context(request, entry: CatalogEntry, tab: str, *, side: bool = True) -> dict:
    """What every tab shows; `side`: the Pull box of the newest image, with its scans."""
    latest = entry.images.prefetch_related(Prefetch("tags", queryset=BEST_FIRST))
    latest = latest.order_by("-sort_key").first()
    if latest is not None:
        attach_commands([latest], host=request.get_host(), name=entry.name)
    card = reverse("repository-card", args=[entry.name])
    context = {
        "entry": entry,
        "tab": tab,
        "latest": latest,
        "card_url": "" if entry.is_private else request.build_absolute_uri(card),
        "text": services.text_of(entry),
        "can_edit": policy.PUSH in policy.permitted_actions(request.user, entry.name),
        "origin": cache.origin_of(entry.pk),  # a pull-through cache's upstream, or ""
    }
    if side and latest is not None:
        context["latest_scan"] = vulnerabilities.latest_overview(entry, latest)
        context["database_updated_at"] = vulnerabilities.database_updated_at()
    return context


def repository(request, name: str):
    try:
        entry = _entry(request, name)
    except Http404:
        # /r/<namespace> is a person looking for a publisher (when no top-level repository
        # of that name exists for them).
        if names.is_valid_component(name) and Namespace.objects.filter(name=name).exists():
            return redirect("publisher", namespace=name)
        raise
    return render(request, "gallery/repository.html", _repository_context(request, entry, "about"))


def repository_usage(request, name: str):
    entry = _entry(request, name)
    return render(request, "gallery/repository.html", _repository_context(request, entry, "usage"))


TAG_SORTS = {"version": "Version", "pushed": "Newest push", "name": "Name"}


def repository_tags(request, name: str):
    entry = _entry(request, name)
    query = request.GET.get("name", "").strip()[:128]
    sort = request.GET.get("sort", "version")
    sort = sort if sort in TAG_SORTS else "version"
    images = services.tagged_images(entry, sort=sort, name_filter=query)
    pages = Paginator(images.prefetch_related(Prefetch("tags", queryset=BEST_FIRST)), TAGS_PER_PAGE)
    page = pages.get_page(request.GET.get("page"))
    attach_commands(page, host=request.get_host(), name=entry.name)
    services.attach_attachments(entry, page)
    vulnerabilities.attach_to_images(entry, page)
    context = _repository_context(request, entry, "tags", side=False)
    context.update(
        page=page,
        query=query,
        sort=sort,
        tag_sorts=TAG_SORTS,
        can_delete=policy.DELETE in policy.permitted_actions(request.user, entry.name),
        database_updated_at=vulnerabilities.database_updated_at(),
    )
    return render(request, "gallery/repository.html", context)


def repository_image(request, name: str, digest: str):
    entry = _entry(request, name)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    details = image_details(entry=entry, digest=digest, page=page)
    if details is None:
        raise Http404("No such image")
    return _image_page(request, entry, details, tag=details.tags[0] if details.tags else "")


def repository_tag(request, name: str, tag: str):
    entry = _entry(request, name)
    found = entry.tags.filter(name=tag).select_related("image").first()
    details = image_details(entry=entry, digest=found.image.digest) if found else None
    if details is None:
        raise Http404("No such tag")
    return _image_page(request, entry, details, tag=tag)


def _image_page(request, entry, details, *, tag: str):
    kind = entry.artifact_type if details.is_index else details.kind
    commands = pull_commands(
        kind=kind, host=request.get_host(), name=entry.name, tag=tag, digest=details.digest
    )
    if not tag:  # an untagged image is pulled by digest only
        commands = [command for command in commands if "digest" in command.label]
    context = _repository_context(request, entry, "tags", side=False)
    context.update(details=details, tag=tag, commands=commands, scans=None)
    try:
        context["scans"] = vulnerabilities.image_scans(entry=entry, reference=details.digest)
    except (ManifestUnknown, vulnerabilities.NotAnImage):
        pass  # an artifact that is not an image, or an image deleted meanwhile
    else:
        vulnerabilities.attach_to_platforms(context["scans"], details.platforms)
    return render(request, "gallery/image.html", context)


def publisher(request, namespace: str):
    if namespace != namespace.lower() and names.is_valid_component(namespace.lower()):
        return redirect("publisher", namespace=namespace.lower(), permanent=True)
    publisher = services.shown_publisher(namespace=namespace)
    if publisher is None:
        raise Http404("No such publisher")
    entries = (
        CatalogEntry.objects.visible_to(request.user)
        .listed()
        .filter(namespace=namespace)
        .by_downloads()
    )
    page = Paginator(entries.values_list(*listing.COLUMNS), 24).get_page(request.GET.get("page"))
    return render(
        request,
        "gallery/publisher.html",
        {
            "publisher": publisher,
            "page": page,
            "cards": listing.cards(map(listing.Row._make, page)),
            "downloads": entries.aggregate(total=Sum("downloads"))["total"] or 0,
            # Its own people find their way to its settings from its page.
            "manages": publisher.namespace in policy.administered_namespaces(request.user),
            "card_url": request.build_absolute_uri(
                reverse("publisher-card", args=[publisher.namespace])
            ),
        },
    )


@csrf_exempt  # it never acts on a POST (a 404 below), so a POST gets that 404, not a 403
def without_trailing_slash(request, path: str):
    """/r/<name>/, /search/ and the like: the same page without the slash, when there is one
    (reads only: a form posted to the wrong address must not be turned into a GET)."""
    if request.method not in ("GET", "HEAD"):
        raise Http404("No such page")
    target = "/" + path
    try:
        match = resolve(target)
    except Resolver404:
        raise Http404("No such page") from None
    # Only to a real page: "//evil.example/" resolves to this view again, and in a Location
    # header it names another site.
    if match.func is without_trailing_slash or target.startswith("//"):
        raise Http404("No such page")
    query = request.META.get("QUERY_STRING", "")
    return redirect(target + ("?" + query if query else ""), permanent=True)


def csrf_failure(request, reason=""):
    """An expired or missing CSRF token: a page that says what to do, not Django's debug text;
    under /api/, the API's one JSON error shape."""
    if request.path.startswith("/api/"):
        return api_errors.forbidden(request, f"CSRF Failed: {reason}")
    return render(request, "403_csrf.html", status=403)


def not_found(request, exception=None):
    """404: JSON under /api/ (the API's one error shape), the designed page elsewhere."""
    if request.path.startswith("/api/"):
        return api_errors.not_found(request)
    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """400: JSON under /api/, the designed page elsewhere."""
    if request.path.startswith("/api/"):
        return api_errors.bad_request(request)
    return default_bad_request(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return api_errors.server_error(request)
    return default_server_error(request)
