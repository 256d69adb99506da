"""Rate limits on the registry: manifest pulls per client address (anonymous) or per user,
and upload starts per user. Counted in the shared cache, so right across processes.

Over a limit, `/v2/` answers 429 TOOMANYREQUESTS with Retry-After; manifest responses carry
the remaining quota in RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset. What a pull
is: a manifest GET; the platform manifest a client fetches right after an index is part of
the same pull, and blob GETs never count.
"""

from __future__ import annotations

from django.conf import settings

from registry.errors import TooManyRequests

from . import clients
from .ratelimit import Limiter

ANONYMOUS_PULLS = Limiter("pulls:anonymous", settings.BERTH_RATELIMIT_ANONYMOUS_PULLS)
USER_PULLS = Limiter("pulls:user", settings.BERTH_RATELIMIT_USER_PULLS)
UPLOADS = Limiter("uploads", settings.BERTH_RATELIMIT_UPLOADS)


def _consume(limiter: Limiter, key: str, what: str) -> dict[str, str]:
    if limiter.rate is None:
        return {}
    count, reset = limiter.consume(key)
    limit = limiter.rate.count
    headers = {
        "RateLimit-Limit": f"{limit};w={limiter.rate.seconds}",
        "RateLimit-Remaining": str(max(limit - count, 0)),
        "RateLimit-Reset": str(reset),
    }
    if count > limit:
        raise TooManyRequests(
            f"too many {what}; the limit is {limit} per {limiter.rate.seconds} seconds",
            headers={**headers, "Retry-After": str(reset)},
        )
    return headers


def count_pull(request, identity) -> dict[str, str]:
    """Count a manifest pull; the RateLimit-* headers for the response, or 429."""
    if identity.user_id is not None:
        return _consume(USER_PULLS, f"user:{identity.user_id}", "pulls")
    return _consume(
        ANONYMOUS_PULLS, f"address:{clients.client_address(request)}", "anonymous pulls"
    )


def count_upload(identity) -> None:
    if identity.user_id is not None:
        _consume(UPLOADS, f"user:{identity.user_id}", "uploads")
