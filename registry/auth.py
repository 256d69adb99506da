"""Who is calling /v2/, and may they do what they ask.

Three kinds of caller: a Bearer token from our token service (what docker, podman and
skopeo send), HTTP Basic credentials sent directly (what the oras library sends), and
anonymous. Public repositories may be pulled without a token; everything else answers
401 with a `WWW-Authenticate: Bearer` challenge naming the scope to ask for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass, field

import jwt
from django.conf import settings
from django.contrib.auth import authenticate
from django.urls import reverse

from . import names, policy, queries, tokens
from .errors import Denied, NameUnknown, Unauthorized

_CREDENTIALS: dict[bytes, tuple[float, object]] = {}  # hmac(credentials) -> (expiry, user)
_CREDENTIALS_MAX = 10_000


@dataclass(slots=True)
class Identity:
    kind: str  # "anonymous", "token" or "basic"
    username: str = ""
    user_id: int | None = None
    user: object | None = None  # the User row, for Basic callers
    access: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)


ANONYMOUS = Identity(kind="anonymous")


def parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username or "\x00" in decoded:
        return None
    return username, password


def authenticate_credentials(username: str, password: str):
    """The active user with these credentials, or None.

    A verified pair is remembered for BERTH_CREDENTIAL_CACHE_TTL seconds under an HMAC of
    the pair (never the password itself), so that clients sending Basic credentials on every
    request pay the password hash once, not per request.
    """
    key = hmac.new(
        settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256
    ).digest()
    now = time.monotonic()
    cached = _CREDENTIALS.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        return None
    if len(_CREDENTIALS) >= _CREDENTIALS_MAX:
        _CREDENTIALS.clear()
    _CREDENTIALS[key] = (now + settings.BERTH_CREDENTIAL_CACHE_TTL, user)
    return user


def forget_credentials() -> None:
    _CREDENTIALS.clear()


def identify(request) -> Identity:
    identity = getattr(request, "_berth_identity", None)
    if identity is not None:
        return identity
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme = header.partition(" ")[0].lower()
    if scheme == "bearer":
        try:
            claims = tokens.verify_access_token(header.partition(" ")[2].strip())
        except jwt.InvalidTokenError:
            raise Unauthorized(
                "the token is invalid or has expired",
                headers={"WWW-Authenticate": challenge(request, error="invalid_token")},
            ) from None
        identity = Identity(
            kind="token",
            username=claims.get("sub", ""),
            user_id=claims.get("uid"),
            access=_access_map(claims.get("access")),
        )
    elif scheme == "basic":
        pair = parse_basic(header)
        user = authenticate_credentials(*pair) if pair else None
        if user is None:
            raise Unauthorized(
                "invalid username or password",
                headers={"WWW-Authenticate": challenge(request)},
            )
        identity = Identity(kind="basic", username=user.username, user_id=user.pk, user=user)
    else:
        identity = ANONYMOUS
    request._berth_identity = identity
    return identity


def _still_active(user_id: int | None) -> bool:
    """Writes check the token's user again (a pull need not: it changes nothing)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def _access_map(access) -> dict[tuple[str, str], frozenset[str]]:
    result: dict[tuple[str, str], frozenset[str]] = {}
    for entry in access if isinstance(access, list) else []:
        if isinstance(entry, dict):
            key = (str(entry.get("type", "")), str(entry.get("name", "")))
            result[key] = policy.expand(entry.get("actions") or ())
    return result


def challenge(request, *, scope: str = "", error: str = "") -> str:
    realm = settings.BERTH_TOKEN_REALM or request.build_absolute_uri(reverse("registry:token"))
    parts = [f'realm="{realm}"', f'service="{settings.BERTH_TOKEN_SERVICE}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


def scope_for(name: str, actions: frozenset[str]) -> str:
    # Clients ask for "pull,push" when pushing; keep that order.
    order = [a for a in (policy.PULL, policy.PUSH, policy.DELETE) if a in actions]
    return f"repository:{name}:{','.join(order)}"


def authorize(request, name: str, actions: frozenset[str]) -> Identity:
    """The caller's identity if it may do `actions` on repository `name`; raise otherwise."""
    identity = identify(request)
    granted = identity.access.get(("repository", name), frozenset())
    if identity.kind == "token" and actions <= granted:
        if actions != {policy.PULL} and not _still_active(identity.user_id):
            raise Denied("the account behind this token no longer exists or is disabled")
        return identity
    if identity.kind == "basic":
        repository = queries.repository(name)
        permitted = policy.permitted_actions(identity.user, name, repository)
        if actions <= permitted:
            return identity
        if policy.PULL in actions and policy.PULL not in permitted:
            raise NameUnknown(detail={"name": name})
        raise Denied()
    # Anonymous callers, and tokens that lack the scope, may still pull public repositories.
    if actions == {policy.PULL}:
        repository = queries.repository(name)
        if repository is not None and not repository.is_private:
            return identity
    error = "insufficient_scope" if identity.kind == "token" else ""
    raise Unauthorized(
        "insufficient scope" if error else "authentication required",
        detail=[{"Type": "repository", "Name": name, "Action": a} for a in sorted(actions)],
        headers={
            "WWW-Authenticate": challenge(request, scope=scope_for(name, actions), error=error)
        },
    )


def grant_access(user, scopes: list[tokens.Scope]) -> list[dict]:
    """The `access` claim: for each scope, what was asked and is permitted."""
    access = []
    for scope in scopes:
        if scope.type == "repository":
            if not names.is_valid_name(scope.name):
                continue
            repository = queries.repository(scope.name)
            permitted = policy.permitted_actions(user, scope.name, repository)
            granted = policy.grant(scope.actions, permitted)
        elif scope.type == "registry" and scope.name == "catalog":
            granted = ["*"]  # everyone may list; the listing shows only what they may see
        else:
            granted = []
        if granted:
            access.append({"type": scope.type, "name": scope.name, "actions": granted})
    return access


def token_get_user(header: str, params) -> tuple[object, bool]:
    """The user behind a token GET: None (anonymous) or False (bad credentials), and
    whether a refresh token was asked for (`offline_token=true`, as `docker login` does)."""
    if header.partition(" ")[0].lower() != "basic":
        return None, False  # no credentials (other schemes are not ours to read here)
    pair = parse_basic(header)
    user = authenticate_credentials(*pair) if pair else None
    if user is None:
        return False, False
    return user, params.get("offline_token", "").lower() == "true"


def token_grant_user(params) -> tuple[object | None, bool]:
    """The user behind an OAuth2 token POST, and whether to hand out a refresh token."""
    from django.contrib.auth import get_user_model

    grant_type = params.get("grant_type", "")
    if grant_type == "password":
        username, password = params.get("username", ""), params.get("password", "")
        if not username or "\x00" in username + password:
            return None, False
        user = authenticate_credentials(username, password)
        return user, params.get("access_type", "") == "offline"
    if grant_type == "refresh_token":
        try:
            claims = tokens.verify_refresh_token(params.get("refresh_token", ""))
        except jwt.InvalidTokenError:
            return None, False
        user = get_user_model().objects.filter(pk=claims["uid"], is_active=True).first()
        if user is None or not hmac.compare_digest(
            claims["pwd"], tokens.password_fingerprint(user)
        ):
            return None, False
        return user, True
    return None, False
