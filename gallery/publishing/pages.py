"""Publishing pages: a new repository, the live Markdown preview, the logo, and deleting a
repository, a tag or an image. Thin views over the registry's and the gallery's services."""

from __future__ import annotations

import mimetypes
import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods, require_POST

from registry import names
from registry import services as registry_services
from registry.access import audit, clients, namespaces, policy, ratelimit
from registry.errors import ManifestUnknown, RegistryError
from registry.models import Repository

from .. import readme, services
from ..models import DESCRIPTION_MAX, CatalogEntry
from ..views import _entry, _repository_context
from . import logos

PREVIEWS = ratelimit.Limiter("previews", settings.BERTH_RATELIMIT_PREVIEWS)
PREVIEW_MAX = 25_600
LOGO_NAME = re.compile(r"logos/[A-Za-z0-9_-]+\.png", re.ASCII)


def _actor(request) -> audit.Actor:
    return audit.Actor(request.user.username, request.user.pk, clients.client_address(request))


# registry.names' grammar in words, for the form's help and the name check's answer alike.
NAME_RULE_HTML = (
    "lowercase letters and digits, with one of <code>.</code> <code>_</code> <code>__</code> "
    "or any run of <code>-</code> between two of them (<code>web-app</code>, "
    "<code>web__app</code>, <code>web.v2</code>); <code>/</code> starts a further part "
    "(<code>tools/web</code>)"
)
NAME_RULE = strip_tags(NAME_RULE_HTML)


def name_problem(user, name: str) -> str:
    """Why `user` cannot create repository `name` ("" when they can)."""
    if not names.is_valid_name(name):
        return f"Use {NAME_RULE}; 2 to 255 characters with the namespace."
    if policy.PUSH not in policy.permitted_actions(user, name):
        return "You cannot publish in this namespace."
    if Repository.objects.filter(name=name, is_provisional=False).exists():
        return "A repository of that name exists."
    return ""


class NewRepositoryForm(forms.Form):
    namespace = forms.ChoiceField()
    name = forms.CharField(
        max_length=200,
        help_text=mark_safe(f"{capfirst(NAME_RULE_HTML)}."),  # noqa: S308 (our constant)
        # The status line under the name says what is wrong, as typed or as submitted.
        widget=forms.TextInput(attrs={"aria-describedby": "id_name_helptext name-status"}),
    )
    visibility = forms.ChoiceField(
        choices=[("", "The namespace's default"), ("public", "Public"), ("private", "Private")],
        required=False,
    )
    description = forms.CharField(max_length=DESCRIPTION_MAX, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # One's own namespace first, and so chosen unless ?namespace= says otherwise:
        # "acme" sorted before "alice" made a new repository an organization's by default.
        choices = sorted(policy.writable_namespaces(user), key=lambda n: (n != user.username, n))
        self.fields["namespace"].choices = [(n, n) for n in choices]
        # Say what the default is: "The namespace's default" alone left a publisher guessing.
        defaults = {namespaces.new_repository_private(f"{n}/repository") for n in choices}
        if len(defaults) == 1:
            word = "private" if defaults.pop() else "public"
            visibility = self.fields["visibility"]
            visibility.choices = [
                ("", f"The namespace's default ({word})"),
                *visibility.choices[1:],
            ]

    def clean(self):
        values = super().clean()
        if "namespace" in values and "name" in values:
            full = f"{values['namespace']}/{values['name']}"
            problem = name_problem(self.user, full)
            if problem:
                self.add_error("name", problem)
            values["full_name"] = full
        return values


@login_required
@require_http_methods(["GET", "POST"])
def new_repository(request):
    form = NewRepositoryForm(
        request.POST or None, user=request.user, initial={"namespace": request.GET.get("namespace")}
    )
    if request.method == "POST" and form.is_valid():
        visibility = form.cleaned_data["visibility"]
        repository = registry_services.create_repository(
            name=form.cleaned_data["full_name"],
            user=request.user,
            private=None if not visibility else visibility == "private",
            actor=_actor(request),
        )
        entry = services.index_repository(repository_id=repository.pk)
        if form.cleaned_data["description"]:
            services.update_catalog(
                entry=entry, description=form.cleaned_data["description"], about="", usage=""
            )
        messages.success(request, f"Repository {repository.name} created.")
        return redirect("repository-upload", name=repository.name)
    return render(request, "gallery/repository_new.html", {"form": form})


@login_required
def check_name(request):
    """As the name is typed: {"name", "ok", "problem"} (JSON)."""
    name = request.GET.get("name", "")[:300]
    problem = name_problem(request.user, name)
    return JsonResponse({"name": name, "ok": not problem, "problem": problem})


@login_required
@require_POST
def preview(request):
    """The same sanitizing renderer as the public page, for the editor's live preview."""
    try:
        PREVIEWS.take(f"user:{request.user.pk}")
    except ratelimit.Throttled as throttled:
        response = JsonResponse({"error": "Too many previews; wait a moment."}, status=429)
        response["Retry-After"] = str(throttled.retry_after)
        return response
    text = request.POST.get("text", "")
    if len(text) > PREVIEW_MAX:
        return JsonResponse({"error": f"At most {PREVIEW_MAX} characters."}, status=400)
    try:
        html = readme.render(text)
    except readme.RenderError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"html": html})


class LogoForm(forms.Form):
    logo = forms.FileField(help_text="PNG, JPEG or WebP; at most 2 MiB and 2,048 pixels a side.")


@login_required
@require_POST
def upload_logo(request, name: str):
    entry = _editable(request, name)
    form = LogoForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose an image file.")
    else:
        try:
            logo = logos.process(form.cleaned_data["logo"])
        except logos.LogoError as error:
            messages.error(request, str(error))
        else:
            services.set_logo(entry=entry, logo=logo)
            messages.success(request, "Logo saved.")
    return redirect("repository-settings", name=entry.name)


def _editable(request, name: str) -> CatalogEntry:
    entry = _entry(request, name)
    if policy.PUSH not in policy.permitted_actions(request.user, name):
        raise Http404("No such repository")
    return entry


@login_required
@require_POST
def delete_repository(request, name: str):
    entry = _entry(request, name)
    if policy.ADMIN not in policy.permitted_actions(request.user, name):
        raise Http404("No such repository")
    if request.POST.get("confirm") != entry.name:
        messages.error(request, f"Type {entry.name} to confirm.")
        return redirect("repository-settings", name=entry.name)
    registry_services.delete_repository(
        repository=Repository.objects.get(pk=entry.pk), actor=_actor(request)
    )
    messages.success(request, f"Repository {entry.name} deleted.")
    return redirect("account")


def _reference_to_delete(entry: CatalogEntry, *, tag: str, digest: str):
    """(the image, the word to type to confirm) for a tag or a digest of `entry`; (None, "")
    when the catalog knows no such tag or image."""
    if tag:
        found = entry.tags.filter(name=tag).select_related("image").first()
        return (found.image, tag) if found else (None, "")
    image = entry.images.filter(digest=digest).first() if digest else None
    return (image, digest.partition(":")[2][:12]) if image else (None, "")


@login_required
@require_http_methods(["GET", "POST"])
def delete_reference(request, name: str):
    """Delete a tag (`tag`) or an image with all its tags (`digest`) from the Tags tab: a
    page says what goes and asks for the tag (or the digest's start) to be typed, as the
    repository's own deletion does; the POST deletes once it is."""
    entry = _entry(request, name)
    if policy.DELETE not in policy.permitted_actions(request.user, name):
        raise Http404("No such repository")
    data = request.POST if request.method == "POST" else request.GET
    tag = data.get("tag", "")[:128]
    digest = "" if tag else data.get("digest", "")[:135]
    image, word = _reference_to_delete(entry, tag=tag, digest=digest)
    if image is None:
        messages.error(request, "Nothing to delete by that name.")
        return redirect("repository-tags", name=entry.name)
    wrong = request.method == "POST" and request.POST.get("confirm", "") != word
    if request.method == "POST" and not wrong:
        reference = tag or digest
        try:
            registry_services.delete_manifest(
                repository=Repository.objects.get(pk=entry.pk),
                reference=reference,
                actor=_actor(request),
            )
        except (ManifestUnknown, RegistryError):
            messages.error(request, "Nothing to delete by that name.")
        else:
            services.index_repository(repository_id=entry.pk)
            messages.success(request, f"Deleted {reference}.")
        return redirect("repository-tags", name=entry.name)
    tags = list(image.tags.order_by("name").values_list("name", flat=True))
    context = _repository_context(request, entry, "tags", side=False)
    context.update(
        image=image,
        tag=tag,
        word=word,
        wrong=wrong,
        other_tags=[other for other in tags if other != tag],
        tags=tags,
    )
    return render(request, "gallery/delete_reference.html", context)


def media(request, path: str):
    """Uploaded media (logos) from the default storage, cached for a year: their names are
    digests of their content, so a new logo is a new URL."""
    # Only names a logo gets (logos.process, with the storage's suffix for a name taken):
    # never the folder itself (`logos/`, `logos/.`), which exists but opens as no file.
    if not LOGO_NAME.fullmatch(path) or not default_storage.exists(path):
        raise Http404("No such file")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
