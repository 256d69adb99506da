"""The findings page of an image, the rescan button behind it, and the comparison of two tags.

Each works without JavaScript: filters and sorting are GET parameters, the rescan is a form
posted with its CSRF token.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry import digests
from registry.access import policy, ratelimit
from registry.errors import ManifestUnknown

from ..views import _entry, _repository_context
from . import services
from .services import FINDINGS_PER_PAGE, SEVERITIES, SORTS, Filters, NotAnImage


def _digest(value: str) -> str:
    if not digests.looks_like_digest(value):
        raise Http404("No such image")
    return value


def findings(request, name: str, digest: str):
    entry = _entry(request, name)
    filters = Filters.from_query(request.GET)
    try:
        scans = services.image_scans(entry=entry, reference=_digest(digest))
        lines = services.find(entry=entry, reference=digest, filters=filters)
    except (ManifestUnknown, NotAnImage):
        raise Http404("No such image") from None
    page = Paginator(lines, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
    context = _repository_context(request, entry, "tags", side=False)
    context.update(
        digest=digest,
        image_tags=sorted(entry.tags.filter(image__digest=digest).values_list("name", flat=True)),
        scans=scans,
        filters=filters,
        page=page,
        severities=SEVERITIES,
        sorts=SORTS,
    )
    return render(request, "gallery/vulnerabilities/findings.html", context)


@login_required
@require_POST
def rescan(request, name: str, digest: str):
    entry = _entry(request, name)
    if policy.PUSH not in policy.permitted_actions(request.user, entry.name):
        raise PermissionDenied("Only those who may push to this repository may rescan it.")
    try:
        services.rescan(user=request.user, entry=entry, reference=_digest(digest))
    except (ManifestUnknown, NotAnImage):
        raise Http404("No such image") from None
    except ratelimit.Throttled as throttled:
        minutes = -(-throttled.retry_after // 60)
        messages.error(
            request,
            f"You have asked for many scans lately. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}.",
        )
        response = findings(request, name, digest)
        response.status_code = 429
        response["Retry-After"] = str(throttled.retry_after)
        return response
    messages.success(request, "A new scan is queued. Findings update when it is done.")
    return redirect("repository-image-vulnerabilities", name=entry.name, digest=digest)


def compare(request, name: str):
    entry = _entry(request, name)
    base = request.GET.get("base", "").strip()[:200]
    head = request.GET.get("head", "").strip()[:200]
    comparison, error = None, ""
    if base and base == head:
        error = "Choose two different tags to compare."
    elif base and head:
        try:
            comparison = services.compare(entry=entry, base=base, head=head)
        except ManifestUnknown as unknown:
            missing = services.unknown_reference(unknown) or base
            error = f"{entry.name} has no tag “{missing}”."
    elif base or head:
        error = "Choose two tags to compare."
    context = _repository_context(request, entry, "tags", side=False)
    context.update(
        base=base,
        head=head,
        comparison=comparison,
        error=error,
        tag_names=services.comparable_tags(entry),
    )
    return render(request, "gallery/vulnerabilities/compare.html", context)
