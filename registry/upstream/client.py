"""`Registry`: a client for another OCI registry, what the cache and replication speak through.

- **Authentication**: anonymous first; a `401` with a `Bearer` challenge fetches a token from
  its realm (with the credentials, if any, as Basic), cached per realm, service and scope
  until it expires; a `Basic` challenge is answered with the credentials. Credentials go to
  the registry's own host and to the realm its challenge names, nowhere else: they are
  never sent before a challenge asks for them, never follow a redirect to another host, and
  never go over plain http to a realm when the registry itself speaks https.
- **Retries**: connection failures, timeouts, `429` and `5xx` are retried (idempotent
  requests only) with exponential backoff and full jitter, honouring `Retry-After` up to
  `RetryPolicy.retry_after_max`; past that the error is raised at once with its
  `retry_after`, for the caller to decide (serve a stale copy, or retry the task later).
- **Streaming**: blob bodies are read in 1 MiB pieces, never whole; `BlobDownload` checks
  the size and the digest as the bytes pass and raises `DigestMismatch` at the end.
- **Safety**: addresses and redirects as `upstream.http` and `upstream.addresses` decide.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings

from .. import digests, mediatypes
from ..errors import DigestInvalid
from . import http
from .errors import (
    AuthFailed,
    BadResponse,
    DigestMismatch,
    NotFound,
    Refused,
    ServerError,
    Throttled,
    Unreachable,
    UpstreamError,
)

MANIFEST_ACCEPT = ", ".join(
    [
        mediatypes.OCI_INDEX,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_MANIFEST,
    ]
)
ERROR_BODY_MAX = 64 * 1024
TOKEN_BODY_MAX = 1024 * 1024
TOKEN_SECONDS_DEFAULT = 60  # the token spec's default for a missing expires_in
RETRIED = {429, 500, 502, 503, 504}
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # tries in all, the first included
    base: float = 0.5  # seconds; the n-th retry waits up to base * 2**n (full jitter)
    cap: float = 8.0  # no single wait is longer
    retry_after_max: float = 30.0  # a longer Retry-After is not waited for: raised at once

    @classmethod
    def default(cls) -> RetryPolicy:
        return cls(
            attempts=settings.BERTH_UPSTREAM_RETRIES + 1,
            retry_after_max=settings.BERTH_UPSTREAM_RETRY_AFTER_MAX,
        )

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311 (jitter)


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    digest: str
    media_type: str
    size: int


@dataclass(slots=True)
class Fetched:
    body: bytes
    media_type: str
    digest: str


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
    return scheme.lower(), params


def retry_after_of(value: str) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unsaid."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _message_of(body: bytes) -> str:
    """The first message of a registry's JSON error body, if it has one."""
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


class _Tokens:
    """Bearer tokens per (realm, service, scope, account), until shortly before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        with self._lock:
            found = self._tokens.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def put(self, key: tuple, token: str, seconds: float) -> None:
        with self._lock:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[key] = (token, time.monotonic() + max(seconds - 10, 5))

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = _Tokens()
# The last challenge each registry (and account) answered with: (base URL, username) ->
# its parameters, or {"basic": "1"}.
_CHALLENGES: dict[tuple[str, str], dict[str, str]] = {}


def forget_tokens() -> None:
    TOKENS.clear()
    _CHALLENGES.clear()


class BlobDownload:
    """A blob's bytes as they arrive; checks size and digest when `verify` (at the end:
    the last piece is handed out only after the check passed)."""

    def __init__(self, response: http.Response, digest: digests.Digest, size: int | None):
        self.response, self.digest, self.size = response, digest, size

    def chunks(self, *, verify: bool = True) -> Iterator[bytes]:
        hasher = self.digest.hasher() if verify else None
        held = None
        for data in self.response.chunks():
            if held is not None:
                yield held
            if hasher is not None:
                hasher.update(data)
            held = data
        received = self.response.received
        if self.size is not None and received != self.size:
            raise Unreachable(
                f"{self.digest} ended after {received} of {self.size} bytes",
            )
        if hasher is not None and hasher.hexdigest() != self.digest.encoded:
            raise _mismatch(self.digest)
        if held is not None:
            yield held

    def close(self) -> None:
        self.response.close(broken=True)


def _mismatch(digest) -> UpstreamError:
    return DigestMismatch(f"the content received for {digest} does not match its digest")


@dataclass
class Registry:
    """Another registry at `url` (`https://registry-1.docker.io`), as one account or none."""

    url: str
    username: str = ""
    password: str = ""
    allow_private_networks: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy.default)
    timeouts: http.Timeouts = field(default_factory=http.Timeouts.default)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        scheme, host, port, path = http.split(self.url.rstrip("/"))
        if path not in ("/", ""):
            raise Refused("a registry's URL is its scheme, host and port, without a path")
        self.scheme, self.host, self.port = scheme, host, port
        self.base = f"{scheme}://{host}" + ("" if port in (80, 443) else f":{port}")

    # -- requests ------------------------------------------------------------------------------

    def _send(self, method: str, url: str, headers: dict, body) -> http.Response:
        return http.request(
            method,
            url,
            headers=headers,
            body=body() if callable(body) else body,
            allow_private=self.allow_private_networks,
            redirect_hosts=settings.BERTH_UPSTREAM_REDIRECT_HOSTS,
            timeouts=self.timeouts,
        )

    def _basic_header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + b64encode(pair).decode()

    def _token_key(self, challenge: dict[str, str], scope: str) -> tuple:
        return (challenge.get("realm", ""), challenge.get("service", ""), scope, self.username)

    def _auth_headers(self, scope: str) -> dict[str, str]:
        """What the registry asked for last time (a token still valid, or Basic), so that
        requests after the first need no 401 round trip."""
        challenge = _CHALLENGES.get((self.base, self.username))
        if challenge is None:
            return {}
        if challenge.get("basic") and self.username:
            return {"Authorization": self._basic_header()}
        token = TOKENS.get(self._token_key(challenge, scope))
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _authorized(self, method, path, scope, headers, body) -> http.Response:
        url = self.base + path
        response = self._send(method, url, {**headers, **self._auth_headers(scope)}, body)
        if response.status != 401:
            return response
        header = response.header("WWW-Authenticate")
        response.read(ERROR_BODY_MAX)
        scheme, challenge = parse_challenge(header)
        if scheme == "bearer" and challenge.get("realm"):
            _CHALLENGES[(self.base, self.username)] = challenge
            token, seconds = self._fetch_token(challenge, scope)
            TOKENS.put(self._token_key(challenge, scope), token, seconds)
            auth = {"Authorization": f"Bearer {token}"}
        elif scheme == "basic" and self.username:
            _CHALLENGES[(self.base, self.username)] = {"basic": "1"}
            auth = {"Authorization": self._basic_header()}
        else:
            raise AuthFailed(
                f"{self.host} asks for credentials"
                + ("" if self.username else " and the rule has none")
            )
        response = self._send(method, url, {**headers, **auth}, body)
        if response.status == 401:
            response.read(ERROR_BODY_MAX)
            raise AuthFailed(
                f"{self.host} refused the credentials of user {self.username!r}"
                if self.username
                else f"{self.host} needs credentials for {scope}"
            )
        return response

    def _fetch_token(self, challenge: dict[str, str], scope: str) -> tuple[str, float]:
        realm = challenge["realm"]
        realm_scheme = http.split(realm)[0]
        if self.scheme == "https" and realm_scheme != "https" and self.username:
            raise Refused(f"the token realm {realm} is not https: credentials are not sent there")
        query = {"scope": scope} if scope else {}
        if challenge.get("service"):
            query["service"] = challenge["service"]
        if self.username:
            query["account"] = self.username
        headers = {"Authorization": self._basic_header()} if self.username else {}
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        response = http.request(
            "GET",
            url,
            headers=headers,
            allow_private=self.allow_private_networks,
            redirect_hosts=(),
            timeouts=self.timeouts,
        )
        body = response.read(TOKEN_BODY_MAX)
        if response.status in (401, 403):
            whose = f"the credentials of user {self.username!r}" if self.username else "anonymous"
            raise AuthFailed(f"the token service of {self.host} refused {whose} access")
        if response.status in RETRIED:
            raise (Throttled if response.status == 429 else ServerError)(
                f"the token service of {self.host} answered {response.status}",
                **({"retry_after": retry_after_of(response.header("Retry-After"))}
                   if response.status == 429 else {"status": response.status}),
            )  # fmt: skip
        if response.status != 200:
            raise BadResponse(f"the token service of {self.host} answered {response.status}")
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
            seconds = float(answer.get("expires_in") or TOKEN_SECONDS_DEFAULT)
        except (ValueError, AttributeError, TypeError):
            raise BadResponse(f"the token service of {self.host} sent no token") from None
        if not isinstance(token, str) or not token:
            raise BadResponse(f"the token service of {self.host} sent no token")
        return token, seconds

    def call(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        body=None,
        idempotent: bool = True,
    ) -> http.Response:
        """One request, authorized and retried; the answer (any status but 429/5xx, which
        raise once retries are spent)."""
        attempt = 0
        while True:
            try:
                response = self._authorized(method, path, scope, headers or {}, body)
            except Unreachable:
                if not idempotent or attempt + 1 >= self.policy.attempts:
                    raise
                self.sleep(self.policy.backoff(attempt))
                attempt += 1
                continue
            if response.status not in RETRIED:
                return response
            error = self._error(response, path)
            wait = getattr(error, "retry_after", None)
            if (
                not idempotent
                or attempt + 1 >= self.policy.attempts
                or (wait is not None and wait > self.policy.retry_after_max)
            ):
                raise error
            self.sleep(wait if wait is not None else self.policy.backoff(attempt))
            attempt += 1

    def _error(self, response: http.Response, path: str) -> UpstreamError:
        """The error an unwanted answer stands for (its body read and the response closed)."""
        status = response.status
        retry_after = retry_after_of(response.header("Retry-After"))
        try:
            detail = _message_of(response.read(ERROR_BODY_MAX))
        except UpstreamError:
            detail = ""
        where = f"{self.host}{path.split('?')[0]}"
        said = f" ({detail})" if detail else ""
        if status == 429:
            return Throttled(f"{where}: too many requests{said}", retry_after=retry_after)
        if status >= 500:
            return ServerError(f"{where}: the registry answered {status}{said}", status=status)
        if status == 404:
            return NotFound(f"{where}: not found{said}")
        if status in (401, 403):
            return AuthFailed(f"{where}: access denied ({status}){said}", status=status)
        return BadResponse(f"{where}: unexpected answer {status}{said}", status=status)

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _pull(repository: str) -> str:
        return f"repository:{repository}:pull"

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo:
        """The digest, media type and size of what `reference` names (NotFound if none)."""
        path = f"/v2/{repository}/manifests/{reference}"
        response = self.call(
            "HEAD", path, scope=self._pull(repository), headers={"Accept": MANIFEST_ACCEPT}
        )
        response.read(0)
        if response.status != 200:
            raise self._error(response, path)
        digest = response.header("Docker-Content-Digest")
        if not digest:  # some registries do not say on HEAD: ask for the body
            fetched = self.get_manifest(repository, reference)
            return ManifestInfo(fetched.digest, fetched.media_type, len(fetched.body))
        return ManifestInfo(
            digest, response.header("Content-Type").split(";")[0], response.length or 0
        )

    def get_manifest(self, repository: str, reference: str) -> Fetched:
        """The manifest's bytes, checked against the digest asked for or announced."""
        path = f"/v2/{repository}/manifests/{reference}"
        response = self.call(
            "GET", path, scope=self._pull(repository), headers={"Accept": MANIFEST_ACCEPT}
        )
        if response.status != 200:
            raise self._error(response, path)
        body = response.read(settings.BERTH_MANIFEST_MAX_BYTES)
        media_type = response.header("Content-Type").split(";")[0].strip()
        if not media_type:
            try:
                media_type = str(json.loads(body).get("mediaType") or "")
            except (ValueError, AttributeError):
                media_type = ""
        announced = response.header("Docker-Content-Digest")
        if digests.looks_like_digest(reference):
            expected = digests.parse(reference)
        elif announced:
            try:
                expected = digests.parse(announced)
            except DigestInvalid:
                raise BadResponse(f"{self.host} announced an invalid digest") from None
        else:
            expected = None
        actual = digests.compute(body, expected.algorithm if expected else "sha256")
        if expected is not None and actual != expected:
            raise _mismatch(expected)
        return Fetched(body, media_type, str(actual))

    def head_blob(self, repository: str, digest: str) -> int:
        """The size of the blob (NotFound if the registry does not have it)."""
        path = f"/v2/{repository}/blobs/{digest}"
        response = self.call("HEAD", path, scope=self._pull(repository))
        response.read(0)
        if response.status != 200:
            raise self._error(response, path)
        if response.length is None:
            raise BadResponse(f"{self.host} did not say the size of {digest}")
        return response.length

    def get_blob(self, repository: str, digest: str, *, size: int | None = None) -> BlobDownload:
        """The blob's bytes as they arrive (call `chunks()`, or `close()` to give up)."""
        parsed = digests.parse(digest)
        path = f"/v2/{repository}/blobs/{digest}"
        response = self.call("GET", path, scope=self._pull(repository))
        if response.status != 200:
            raise self._error(response, path)
        length = response.length
        if size is not None and length is not None and length != size:
            response.close(broken=True)
            raise _mismatch(parsed)
        return BlobDownload(response, parsed, length if length is not None else size)

    def tags(self, repository: str) -> list[str]:
        """Every tag of the repository (following the Link header's pages)."""
        found: list[str] = []
        path = f"/v2/{repository}/tags/list?n=1000"
        for _ in range(1000):
            response = self.call("GET", path, scope=self._pull(repository))
            if response.status != 200:
                raise self._error(response, path)
            link = response.header("Link")
            try:
                found += json.loads(response.read(16 * 1024 * 1024)).get("tags") or []
            except (ValueError, AttributeError):
                raise BadResponse(f"{self.host} sent a tags list that is not JSON") from None
            match = re.match(r"\s*<([^>]+)>", link)
            if not match:
                break
            path = match.group(1)
            if path.startswith("http"):
                path = "/" + path.split("/", 3)[3]
        return found

    # -- writing -------------------------------------------------------------------------------

    @staticmethod
    def _push(repository: str, *more: str) -> str:
        return " ".join([f"repository:{repository}:pull,push", *more])

    def has_manifest(self, repository: str, reference: str) -> str | None:
        """The digest `reference` names there, or None if it has none."""
        try:
            return self.head_manifest(repository, reference).digest
        except NotFound:
            return None

    def has_blob(self, repository: str, digest: str) -> bool:
        try:
            self.head_blob(repository, digest)
        except NotFound:
            return False
        return True

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Mount the blob from another repository of the same registry; False if it would
        not (the upload session it opened instead is left to expire)."""
        path = f"/v2/{repository}/blobs/uploads/?" + urlencode({"mount": digest, "from": source})
        scope = self._push(repository, self._pull(source))
        response = self.call("POST", path, scope=scope, headers={"Content-Length": "0"}, body=b"")
        response.read(ERROR_BODY_MAX)
        if response.status == 201:
            return True
        if response.status == 202:
            return False
        raise self._error_after_read(response, path)

    def _error_after_read(self, response, path) -> UpstreamError:
        status = response.status
        where = f"{self.host}{path.split('?')[0]}"
        if status in (401, 403):
            return AuthFailed(f"{where}: access denied ({status})", status=status)
        if status == 404:
            return NotFound(f"{where}: not found")
        if status == 413:
            return BadResponse(f"{where}: too large, or over the destination's quota", status=413)
        return BadResponse(f"{where}: unexpected answer {status}", status=status)

    def upload_blob(
        self, repository: str, digest: str, size: int, chunks: Callable[[], Iterable[bytes]]
    ) -> None:
        """Upload a blob: POST for a session, then one PUT carrying every byte (streamed)."""
        scope = self._push(repository)
        attempt = 0
        while True:
            try:
                self._upload_once(repository, digest, size, chunks, scope)
                return
            except UpstreamError as error:
                if not error.transient or attempt + 1 >= self.policy.attempts:
                    raise
                wait = getattr(error, "retry_after", None)
                if wait is not None and wait > self.policy.retry_after_max:
                    raise
                self.sleep(wait if wait is not None else self.policy.backoff(attempt))
                attempt += 1

    def _upload_once(self, repository, digest, size, chunks, scope) -> None:
        start = f"/v2/{repository}/blobs/uploads/"
        response = self.call("POST", start, scope=scope, headers={"Content-Length": "0"}, body=b"")
        response.read(ERROR_BODY_MAX)
        if response.status != 202:
            raise self._error_after_read(response, start)
        location = response.header("Location")
        if not location:
            raise BadResponse(f"{self.host} opened an upload without a Location")
        if location.startswith(("http://", "https://")):
            scheme, host, port, path = http.split(location)
            if (scheme, host, port) != (self.scheme, self.host, self.port):
                raise Refused(f"{self.host} sent the upload to another host ({host})")
            location = path
        put = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = self.call(
            "PUT", put, scope=scope, headers=headers, body=chunks, idempotent=False
        )
        body = response.read(ERROR_BODY_MAX)
        if response.status != 201:
            detail = _message_of(body)
            if response.status in RETRIED:
                raise ServerError(
                    f"{self.host}: the upload of {digest} failed ({response.status})",
                    status=response.status,
                )
            error = self._error_after_read(response, put)
            error.message += f" ({detail})" if detail else ""
            raise error

    def put_manifest(
        self,
        repository: str,
        reference: str,
        body: bytes,
        media_type: str,
        *,
        tags: Iterable[str] = (),
    ) -> set[str]:
        """Push a manifest (by digest with `?tag=` when `tags`); the tags the registry says
        it set (its OCI-Tag header: empty when it does not support the parameter)."""
        tags = list(tags)
        path = f"/v2/{repository}/manifests/{reference}"
        if tags:
            path += "?" + urlencode([("tag", tag) for tag in tags])
        headers = {"Content-Type": media_type, "Content-Length": str(len(body))}
        response = self.call("PUT", path, scope=self._push(repository), headers=headers, body=body)
        answer = response.read(ERROR_BODY_MAX)
        if response.status not in (200, 201):
            error = self._error_after_read(response, path)
            detail = _message_of(answer)
            error.message += f" ({detail})" if detail else ""
            raise error
        said = response.headers.get_all("OCI-Tag") or []
        return {tag.strip() for value in said for tag in value.split(",") if tag.strip()}

    def delete_manifest(self, repository: str, reference: str) -> bool:
        """Delete a tag or a manifest; False when the registry does not delete that way
        (405, or UNSUPPORTED), NotFound when it is not there."""
        path = f"/v2/{repository}/manifests/{reference}"
        scope = f"repository:{repository}:pull,push,delete"
        response = self.call("DELETE", path, scope=scope)
        body = response.read(ERROR_BODY_MAX)
        if response.status in (200, 202, 204):
            return True
        # Registries that delete manifests by digest only answer 405, 400 UNSUPPORTED, or
        # (distribution 2.8) 400 for a tag they took for a bad digest.
        by_tag = not digests.looks_like_digest(reference)
        unsupported = response.status == 400 and (by_tag or "UNSUPPORTED" in _message_of(body))
        if response.status == 405 or unsupported:
            return False
        raise self._error_after_read(response, path)
