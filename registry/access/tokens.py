"""Docker registry tokens: signed JWTs carrying the access the token service granted.

The token service and the registry are one process, so tokens are signed with HS256 and
the key in BERTH_TOKEN_KEY. Access tokens live BERTH_TOKEN_TTL seconds. Refresh tokens (for
`docker login`'s offline tokens) live BERTH_REFRESH_TOKEN_TTL and die when the password changes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from django.conf import settings

ALGORITHM = "HS256"
_SCOPE = re.compile(
    r"(?P<type>[a-z0-9]+)(?:\([a-z0-9]+\))?:(?P<name>[^:\s]+):(?P<actions>[a-z*,]*)"
)
_VERIFIED: dict[str, tuple[float, dict]] = {}  # token -> (expiry, claims); a small LRU-ish cache
_VERIFIED_MAX = 10_000
_VERIFIED_LOCK = threading.Lock()
# Clients ask for a few scopes (a push mounting from others: one per source). A token holds
# the scopes granted and must fit in one request header, which servers and proxies cap at
# 8 KB (gunicorn's limit_request_field_size, nginx's large_client_header_buffers): past
# either limit, the rest are not granted (a token of 100 long names was 21 KB, and every
# request sending it was refused with 431).
MAX_SCOPES = 32
MAX_SCOPE_CHARS = 3_000  # the scopes' text as asked, together


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scopes(values: list[str]) -> list[Scope]:
    """Scopes from `scope=` parameters; each may hold several, separated by spaces.

    Malformed scopes are ignored, as the spec lets a token service grant less than asked;
    so are scopes past the first MAX_SCOPES or past MAX_SCOPE_CHARS of them.
    """
    scopes: dict[tuple[str, str], set[str]] = {}
    chars = 0
    for value in values:
        for item in value.split()[:MAX_SCOPES]:
            chars += len(item)
            if len(scopes) >= MAX_SCOPES or chars > MAX_SCOPE_CHARS:
                break
            match = _SCOPE.fullmatch(item)
            if match:
                key = (match["type"], match["name"])
                actions = {a for a in match["actions"].split(",") if a}
                scopes.setdefault(key, set()).update(actions)
    return [Scope(type_, name, frozenset(actions)) for (type_, name), actions in scopes.items()]


def issue_access_token(
    *,
    subject: str,
    user_id: int | None,
    access: list[dict],
    token_id: int | None = None,
    password: str | None = None,
    not_after: datetime | None = None,
) -> tuple[str, int, int]:
    """Return (token, expires_in, issued_at).

    A token of a user carries the user's revocation generation (`gen`) and, when issued
    from an access token, that token's id (`tok`), or else the fingerprint of the password
    it was issued from (`pwd`): registry.access.revocation ends it early. It never lives
    past `not_after` (the access token's own expiry).
    """
    now = int(time.time())
    ttl = settings.BERTH_TOKEN_TTL
    if not_after is not None:
        ttl = max(min(ttl, int(not_after.timestamp()) - now), 1)
    claims = {
        "iss": settings.BERTH_TOKEN_ISSUER,
        "sub": subject,
        "aud": settings.BERTH_TOKEN_SERVICE,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    if user_id is not None:
        from . import revocation

        claims["uid"] = user_id
        claims["gen"] = revocation.generation(user_id)
    if token_id is not None:
        claims["tok"] = token_id
    elif password is not None:
        claims["pwd"] = password
    return jwt.encode(claims, settings.BERTH_TOKEN_KEY, algorithm=ALGORITHM), ttl, now


def verify_access_token(token: str) -> dict:
    """Claims of a valid access token; raises jwt.InvalidTokenError otherwise.

    Verified tokens are remembered until they expire: the pull path checks the same token
    many times a second and must not pay for the signature each time.
    """
    now = time.time()
    cached = _VERIFIED.get(token)
    if cached is not None and cached[0] > now:
        return cached[1]
    claims = jwt.decode(
        token,
        settings.BERTH_TOKEN_KEY,
        algorithms=[ALGORITHM],
        audience=settings.BERTH_TOKEN_SERVICE,
        issuer=settings.BERTH_TOKEN_ISSUER,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        leeway=5,
    )
    if claims.get("typ") == "refresh":
        raise jwt.InvalidTokenError("a refresh token is not an access token")
    with _VERIFIED_LOCK:  # gthread workers verify tokens on several threads at once
        if len(_VERIFIED) >= _VERIFIED_MAX:
            expired = [key for key, (exp, _) in _VERIFIED.items() if exp <= now]
            for key in expired or list(_VERIFIED)[: _VERIFIED_MAX // 10]:
                _VERIFIED.pop(key, None)
        _VERIFIED[token] = (float(claims["exp"]), claims)
    return claims


def token_response(*, user, access: list[dict], refresh: bool, oauth: bool) -> dict:
    """The token endpoint's JSON: `token` and `access_token` (clients read either), the
    granted `scope` for the OAuth2 form, and a refresh token when one was asked for."""
    from_token = getattr(user, "berth_token", None)
    access_token, expires_in, issued_at = issue_access_token(
        subject=user.username if user else "",
        user_id=user.pk if user else None,
        access=access,
        token_id=from_token.pk if from_token is not None else None,
        password=password_fingerprint(user) if user is not None else None,
        not_after=from_token.expires_at if from_token is not None else None,
    )
    body = {
        "token": access_token,
        "access_token": access_token,
        "expires_in": expires_in,
        "issued_at": datetime.fromtimestamp(issued_at, UTC).isoformat().replace("+00:00", "Z"),
    }
    if oauth:
        body["scope"] = " ".join(
            f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access
        )
    if user is not None and refresh:
        body["refresh_token"] = issue_refresh_token(user)
    return body


def password_fingerprint(user) -> str:
    """Changes whenever the user's password changes, so refresh tokens die with it."""
    return hmac.new(
        settings.BERTH_TOKEN_KEY.encode(), user.password.encode(), hashlib.sha256
    ).hexdigest()[:32]


def issue_refresh_token(user) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.BERTH_TOKEN_ISSUER,
        "sub": user.username,
        "aud": settings.BERTH_TOKEN_SERVICE,
        "iat": now,
        "exp": now + settings.BERTH_REFRESH_TOKEN_TTL,
        "jti": uuid.uuid4().hex,
        "typ": "refresh",
        "uid": user.pk,
        "pwd": password_fingerprint(user),
    }
    from_token = getattr(user, "berth_token", None)
    if from_token is not None:
        claims["tok"] = from_token.pk
    return jwt.encode(claims, settings.BERTH_TOKEN_KEY, algorithm=ALGORITHM)


def verify_refresh_token(token: str) -> dict:
    """Claims of a valid refresh token (the caller checks `pwd` against the user)."""
    claims = jwt.decode(
        token,
        settings.BERTH_TOKEN_KEY,
        algorithms=[ALGORITHM],
        audience=settings.BERTH_TOKEN_SERVICE,
        issuer=settings.BERTH_TOKEN_ISSUER,
        options={"require": ["exp", "sub", "uid", "pwd"]},
    )
    if claims.get("typ") != "refresh":
        raise jwt.InvalidTokenError("not a refresh token")
    return claims
