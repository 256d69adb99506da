"""The portal's pages: thin views over the catalog, its search and its services."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from registry import names, policy
from registry.models import Repository

from . import search, services
from .commands import attach_commands
from .forms import CatalogForm, SearchForm, SignUpForm
from .models import CatalogEntry, CatalogTag, Publisher

log = logging.getLogger(__name__)
TAGS_PER_PAGE = 25
BEST_FIRST = CatalogTag.objects.order_by("-sort_key", "name")


def home(request):
    visible = CatalogEntry.objects.visible_to(request.user).listed()
    cards = visible.select_related("publisher__user")
    return render(
        request,
        "gallery/home.html",
        {
            "popular": cards.by_downloads()[:6],
            "recent": cards.recently_updated()[:6],
            "publishers": Publisher.objects.filter(is_verified=True)
            .select_related("user")
            .annotate(total=Sum("entries__downloads", filter=Q(entries__is_private=False)))
            .order_by("-total", "user__username")[:6],
            "total": visible.filter(is_private=False).count(),
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
            "sorts": search.SORTS,
        },
    )


def _entry(request, name: str) -> CatalogEntry:
    """The catalog entry `name` if the caller may see it (indexing it on first sight)."""
    visible = CatalogEntry.objects.visible_to(request.user).select_related("publisher__user")
    entry = visible.filter(name=name).first()
    if entry is None:
        repository = Repository.objects.visible_to(request.user).filter(name=name).first()
        if repository is None or _index_now(repository.pk) is None:
            raise Http404("No such repository")
        entry = visible.get(name=name)
    return entry


def _index_now(repository_id: int) -> CatalogEntry | None:
    """Index a repository the catalog has not seen yet; None (a 404) if that fails."""
    try:
        return services.index_repository(repository_id=repository_id)
    except Exception:  # a manifest the indexer cannot read must not break the page
        log.exception("indexing repository %s failed", repository_id)
        return None


def _repository_context(request, entry: CatalogEntry, tab: str) -> dict:
    latest = entry.images.prefetch_related(Prefetch("tags", queryset=BEST_FIRST))
    latest = latest.order_by("-sort_key").first()
    if latest is not None:
        attach_commands([latest], host=request.get_host(), name=entry.name)
    return {
        "entry": entry,
        "tab": tab,
        "latest": latest,
        "text": services.text_of(entry),
        "can_edit": policy.PUSH
        in policy.permitted_actions(request.user, entry.name, entry.repository),
    }


def repository(request, name: str):
    entry = _entry(request, name)
    return render(request, "gallery/repository.html", _repository_context(request, entry, "about"))


def repository_usage(request, name: str):
    entry = _entry(request, name)
    return render(request, "gallery/repository.html", _repository_context(request, entry, "usage"))


def repository_tags(request, name: str):
    entry = _entry(request, name)
    query = request.GET.get("name", "").strip()[:128]
    images = entry.images.order_by("-sort_key", "digest")
    if query:
        matching = CatalogTag.objects.filter(entry=entry, name__icontains=query)
        images = images.filter(pk__in=matching.values("image_id"))
    pages = Paginator(images.prefetch_related(Prefetch("tags", queryset=BEST_FIRST)), TAGS_PER_PAGE)
    page = pages.get_page(request.GET.get("page"))
    attach_commands(page, host=request.get_host(), name=entry.name)
    context = _repository_context(request, entry, "tags")
    context.update(page=page, query=query)
    return render(request, "gallery/repository.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def repository_settings(request, name: str):
    entry = _entry(request, name)
    context = _repository_context(request, entry, "settings")
    if not context["can_edit"]:
        raise Http404("No such repository")
    text = context["text"]
    form = CatalogForm(
        request.POST or None,
        initial={
            "description": entry.description,
            "about": text.about,
            "usage": text.usage,
            "is_private": entry.is_private,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.save_settings(entry=entry, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Saved.")
            return redirect("repository", name=entry.name)
    context["form"] = form
    return render(request, "gallery/repository.html", context)


def publisher(request, namespace: str):
    if not names.is_valid_component(namespace):
        raise Http404("No such publisher")
    publisher = get_object_or_404(
        Publisher.objects.select_related("user"), user__username=namespace
    )
    entries = (
        CatalogEntry.objects.visible_to(request.user)
        .listed()
        .filter(namespace=namespace)
        .select_related("publisher__user")
        .by_downloads()
    )
    page = Paginator(entries, 24).get_page(request.GET.get("page"))
    return render(
        request,
        "gallery/publisher.html",
        {
            "publisher": publisher,
            "page": page,
            "downloads": entries.aggregate(total=Sum("downloads"))["total"] or 0,
        },
    )


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("account")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        Publisher.objects.get_or_create(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Berth, {user.username}.")
        return redirect("account")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account(request):
    repositories = CatalogEntry.objects.filter(namespace=request.user.username).order_by("name")
    return render(
        request,
        "gallery/account.html",
        {
            "repositories": repositories,
            "namespace": policy.user_namespace(request.user),
        },
    )


def csrf_failure(request, reason=""):
    """An expired or missing CSRF token: a page that says what to do, not Django's debug text."""
    return render(request, "403_csrf.html", status=403)
