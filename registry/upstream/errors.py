"""What can go wrong when Berth speaks to another registry, one class per kind of answer.

`transient` errors (the other side is down, slow, overloaded or rate-limiting) are worth
retrying later; the others need a person (wrong credentials, a refused address, content
that does not match its digest) or mean the content is not there.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Any failure talking to another registry. `message` is meant for a person."""

    transient = False
    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Unreachable(UpstreamError):
    """No answer: the name does not resolve, the connection failed, timed out or dropped."""

    transient = True


class Throttled(UpstreamError):
    """429: the other side asks to come back after `retry_after` seconds (None: unsaid)."""

    transient = True
    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(UpstreamError):
    """A 5xx answer."""

    transient = True


class NotFound(UpstreamError):
    """404: the repository, manifest or blob is not there."""

    status = 404


class AuthFailed(UpstreamError):
    """401 or 403 after authenticating: the credentials are wrong or lack the right."""


class Refused(UpstreamError):
    """Berth will not connect there: a forbidden address, a redirect to a host that is not
    allowed, credentials that would leave for the wrong host, an unusable URL."""


class DigestMismatch(UpstreamError):
    """The content received does not match its digest (or its announced size)."""


class BadResponse(UpstreamError):
    """An answer Berth cannot use (an unexpected status, a malformed body or header)."""
