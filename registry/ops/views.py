"""Health (`/-/health`: the process answers), readiness (`/-/ready`: it can serve: database,
cache, storage, key service) and metrics (`/metrics`, Prometheus text format)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from ..access import clients
from . import health, metrics


@require_GET
def alive(request):
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request):
    ok, checks = health.readiness()
    response = JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks})
    response.status_code = 200 if ok else 503
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def prometheus(request):
    if not _may_scrape(clients.client_address(request)):
        raise Http404()
    return HttpResponse(
        metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )


def _may_scrape(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(network, strict=False)
        for network in settings.BERTH_METRICS_NETWORKS
    )
