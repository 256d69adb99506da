"""A repository's Settings tab: catalog texts (maintainers), visibility and policy
(admins: who else may pull or push, and from which networks)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from registry.access import audit, clients, policy, ratelimit, sharing
from registry.access.organizations import AccessError

from .. import services
from ..forms import CatalogForm
from ..views import _entry, _repository_context

# Saves of catalog pages per user: each renders Markdown in a child process for up to seconds.
EDITS = ratelimit.Limiter("edits", settings.BERTH_RATELIMIT_EDITS)


class PolicyForm(forms.Form):
    grants = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: who, then pull or pull,push. Who is a user, a robot "
        "(organization+name) or an organization. Example: bob pull",
    )
    networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Pulls and pushes only from these networks, one CIDR range per line "
        "(e.g. 10.0.0.0/8). Empty: from anywhere.",
    )

    def grant_list(self) -> list[dict]:
        grants = []
        for line in self.cleaned_data["grants"].splitlines():
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise AccessError(f"“{line.strip()[:80]}”: write a name, then pull or pull,push.")
            grants.append({"principal": parts[0], "actions": parts[1].split(",")})
        return grants


def _actor(request) -> audit.Actor:
    return audit.Actor(request.user.username, request.user.pk, clients.client_address(request))


@login_required
@require_http_methods(["GET", "POST"])
def repository_settings(request, name: str):
    entry = _entry(request, name)
    context = _repository_context(request, entry, "settings")
    if not context["can_edit"]:
        raise Http404("No such repository")
    can_admin = policy.ADMIN in policy.permitted_actions(request.user, name)
    text = context["text"]
    # On a GET nothing is submitted: the forms must be unbound, so that they show the
    # current texts and visibility (a bound empty form would show blanks, and saving it
    # would erase them).
    which = request.POST.get("form", "catalog") if request.method == "POST" else None
    form = CatalogForm(
        request.POST if which == "catalog" else None,
        initial={
            "description": entry.description,
            "about": text.about,
            "usage": text.usage,
            "is_private": entry.is_private,
        },
    )
    if not can_admin:
        del form.fields["is_private"]
    current = sharing.policy_of(entry.repository)
    policy_form = PolicyForm(
        request.POST if which == "policy" else None,
        initial={
            "grants": "\n".join(
                f"{g['principal']} {','.join(g['actions'])}" for g in current["grants"]
            ),
            "networks": "\n".join(current["networks"]),
        },
    )
    status, headers = 200, {}
    if request.method == "POST" and which == "policy" and not can_admin:
        raise PermissionDenied("Only admins change a repository's policy.")
    if request.method == "POST" and which == "policy":
        if policy_form.is_valid():
            try:
                sharing.set_policy(
                    repository=entry.repository,
                    grants=policy_form.grant_list(),
                    networks=policy_form.cleaned_data["networks"].split(),
                    actor=_actor(request),
                )
            except AccessError as error:
                policy_form.add_error(None, str(error))
            else:
                messages.success(request, "Policy saved.")
                return redirect("repository-settings", name=entry.name)
    elif request.method == "POST" and form.is_valid():
        values = {**form.cleaned_data}
        # Only a change is applied (None: kept as it is when saved): the visibility as the
        # page was read could undo one made while the texts render.
        if "is_private" not in form.changed_data:
            values["is_private"] = None
        try:
            EDITS.take(f"user:{request.user.pk}")
            services.save_settings(entry=entry, actor=_actor(request), **values)
        except ratelimit.Throttled as throttled:
            form.add_error(None, "You are saving too often. Wait a few minutes and try again.")
            status, headers = 429, {"Retry-After": str(throttled.retry_after)}
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Saved.")
            return redirect("repository", name=entry.name)
    context.update(form=form, policy_form=policy_form if can_admin else None)
    response = render(request, "gallery/repository.html", context, status=status)
    for key, value in headers.items():
        response[key] = value
    return response
