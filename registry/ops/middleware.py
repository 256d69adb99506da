"""First in the middleware list: a request id for every request, and its metrics."""

from __future__ import annotations

import time

from . import logs, metrics


def observe(get_response):
    def middleware(request):
        rid = logs.new_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        token = logs.request_id.set(rid)
        began = time.perf_counter()
        try:
            response = get_response(request)
        finally:
            logs.request_id.reset(token)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        metrics.LATENCY.labels(route, request.method).observe(time.perf_counter() - began)
        metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        response["X-Request-ID"] = rid
        return response

    return middleware
