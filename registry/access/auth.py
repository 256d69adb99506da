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
from django.contrib.auth import authenticate, get_user_model
from django.urls import reverse

from registry import names, queries
from registry.errors import Denied, NameUnknown, TooManyRequests, Unauthorized
from registry.models import AccessToken

from . import audit, clients, credentials, policy, ratelimit, revocation, sharing, tokens

_CREDENTIALS: dict[bytes, float] = {}  # hmac(credentials, stored hash) -> expiry
_CREDENTIALS_MAX = 10_000
# Failed sign-ins (here, /token, the sign-in page, the admin) per address and per username.
LOGINS = ratelimit.Limiter("logins", settings.BERTH_RATELIMIT_LOGINS)


@dataclass(slots=True)
class Identity:
    kind: str  # "anonymous", "token" or "basic"
    username: str = ""
    user_id: int | None = None
    user: object | None = None  # the User row, for Basic callers
    access: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    token_id: str = ""  # the token's jti, for Bearer callers
    claims: dict = field(default_factory=dict)  # the registry token's, for Bearer callers
    networks: dict[str, list[str]] = field(default_factory=dict)  # name -> allowed networks


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


def _fingerprint(username: str, password: str, stored_hash: str) -> bytes:
    message = "\0".join((username, password, stored_hash)).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


def authenticate_credentials(request, username: str, password: str):
    """The active user with these credentials, or None; Throttled past the failure limit.

    The user's row is read on every call, so a password change, deactivation or demotion
    counts at once. A verified pair is remembered for BERTH_CREDENTIAL_CACHE_TTL seconds
    under an HMAC of the pair and of the stored password hash (never the password
    itself), so that clients sending Basic credentials on every request pay the password
    hash once, and a changed password misses the cache. Failures are counted per client
    address and per username; once over BERTH_RATELIMIT_LOGINS, attempts are refused
    before any hashing.
    """
    if not username or "\x00" in username + password or len(username) > 150:
        return None
    address = clients.client_address(request) if request is not None else ""
    if credentials.looks_like_token(password):
        return _token_user(username, password, address)
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
    now = time.monotonic()
    if user is not None and user.is_active and user.has_usable_password():
        expiry = _CREDENTIALS.get(_fingerprint(username, password, user.password))
        if expiry is not None and expiry > now:
            return user
    LOGINS.check(f"address:{address}", f"username:{username.lower()}")
    verified = authenticate(request, username=username, password=password)
    if verified is None or not verified.is_active:
        _failed(username, address)
        return None
    if len(_CREDENTIALS) >= _CREDENTIALS_MAX:
        _CREDENTIALS.clear()
    _CREDENTIALS[_fingerprint(username, password, verified.password)] = (
        now + settings.BERTH_CREDENTIAL_CACHE_TTL
    )
    return verified


def _token_user(username: str, secret: str, address: str):
    """The owner of a live access token, carrying it (`berth_token`): its scopes limit
    every decision about this caller (registry.access.policy).

    Only the address's failures count here, not the username's: a token carries 256 random
    bits that no one guesses, so the per-username limit (which exists for passwords) would
    only let anyone who knows a username lock its CI and robots out by failing on purpose.
    """
    LOGINS.check(f"address:{address}")
    token = credentials.verify(username, secret, address=address)
    if token is None:
        _failed(username, address, per_username=False)
        return None
    user = token.user
    user.berth_token = token
    return user


def _failed(username: str, address: str, *, per_username: bool = True) -> None:
    """A failed sign-in: counted against the limits, and in the audit log."""
    keys = [f"address:{address}"] + ([f"username:{username.lower()}"] if per_username else [])
    LOGINS.hit(*keys)
    audit.record(
        "signin.failed",
        address=address,
        namespace=username[:255],
        target=username[:300],
    )


def forget_credentials() -> None:
    _CREDENTIALS.clear()


def _too_many(throttled: ratelimit.Throttled) -> TooManyRequests:
    return TooManyRequests(
        "too many failed sign-in attempts; try again later",
        headers={"Retry-After": str(throttled.retry_after)},
    )


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
            token_id=str(claims.get("jti", "")),
            claims=claims,
            networks=_networks_map(claims.get("access")),
        )
    elif scheme == "basic":
        pair = parse_basic(header)
        try:
            user = authenticate_credentials(request, *pair) if pair else None
        except ratelimit.Throttled as throttled:
            raise _too_many(throttled) from None
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


def user_of(identity: Identity):
    """The caller's active User row, or None (anonymous, or the account is gone or
    disabled, or the access token a registry token came from was revoked, or the password
    it came from changed). A Basic caller's row was read with its credentials; a registry
    token's is read now."""
    if identity.user is not None:
        return identity.user
    if identity.user_id is None:
        return None
    user = get_user_model().objects.filter(pk=identity.user_id, is_active=True).first()
    token_id = identity.claims.get("tok")
    if user is not None and token_id is not None:
        token = AccessToken.objects.filter(pk=token_id).first()
        if token is None or not credentials.is_live(token_id):
            return None
        user.berth_token = token
    password = identity.claims.get("pwd")
    if (
        user is not None
        and password is not None
        and not hmac.compare_digest(str(password), tokens.password_fingerprint(user))
    ):
        return None
    identity.user = user
    return user


def _access_map(access) -> dict[tuple[str, str], frozenset[str]]:
    result: dict[tuple[str, str], frozenset[str]] = {}
    for entry in access if isinstance(access, list) else []:
        if isinstance(entry, dict):
            key = (str(entry.get("type", "")), str(entry.get("name", "")))
            result[key] = policy.expand(entry.get("actions") or ())
    return result


def _networks_map(access) -> dict[str, list[str]]:
    result = {}
    for entry in access if isinstance(access, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("networks"), list):
            result[str(entry.get("name", ""))] = [str(n) for n in entry["networks"]]
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
    if actions - {policy.PULL} and policy.is_cached(name):
        raise Denied("this repository is a pull-through cache of another registry: read-only")
    granted = identity.access.get(("repository", name), frozenset())
    if identity.kind == "token" and actions <= granted:
        networks = identity.networks.get(name)
        if revocation.is_current(identity.claims, name) and (
            networks is None or sharing.address_allowed(_address(request), networks)
        ):
            return identity
        # Revoked, disabled, demoted or made private since the token was issued, or asked
        # from a network the repository refuses: decide again from the database.
        stale = True
    else:
        stale = False
    # One query answers "may anyone pull it?"; a private and a missing repository take the
    # same path through it, in the same time.
    public, restricted = queries.access_of(name)
    user = user_of(identity) if stale or identity.kind == "basic" else None
    permitted = policy.permitted_actions(user, name, public=public) if user else frozenset()
    if actions <= permitted or (actions == {policy.PULL} and public):
        if not restricted or sharing.address_allowed(_address(request), sharing.networks_for(name)):
            return identity
        if user is not None:
            raise Denied("this repository may not be reached from your network")
        public = False  # to an anonymous caller from elsewhere it does not exist
    elif identity.kind == "basic":
        if policy.PULL not in permitted:  # what one may not see does not exist for them
            raise NameUnknown(detail={"name": name})
        raise Denied()
    error = "insufficient_scope" if identity.kind == "token" else ""
    raise Unauthorized(
        "insufficient scope" if error else "authentication required",
        detail=[{"Type": "repository", "Name": name, "Action": a} for a in sorted(actions)],
        headers={
            "WWW-Authenticate": challenge(request, scope=scope_for(name, actions), error=error)
        },
    )


def actor_of(request) -> audit.Actor:
    """The caller, for the audit log."""
    identity = identify(request)
    return audit.Actor(identity.username, identity.user_id, _address(request))


def _address(request) -> str:
    return clients.client_address(request)


def grant_access(user, scopes: list[tokens.Scope]) -> list[dict]:
    """The `access` claim: for each scope, what was asked and is permitted."""
    access = []
    for scope in scopes:
        if scope.type == "repository":
            if not names.is_valid_name(scope.name):
                continue
            public, restricted = queries.access_of(scope.name)
            permitted = policy.permitted_actions(user, scope.name, public=public)
            granted = policy.grant(scope.actions, permitted)
            if granted and restricted:
                # The registry checks the caller's address against these at each request.
                networks = sharing.networks_for(scope.name)
                access.append(
                    {"type": "repository", "name": scope.name, "actions": granted,
                     "networks": networks}
                )  # fmt: skip
                continue
        elif scope.type == "registry" and scope.name == "catalog":
            granted = ["*"]  # everyone may list; the listing shows only what they may see
        else:
            granted = []
        if granted:
            access.append({"type": scope.type, "name": scope.name, "actions": granted})
    return access


def token_get_user(request, params) -> tuple[object, bool]:
    """The user behind a token GET: None (anonymous) or False (bad credentials), and
    whether a refresh token was asked for (`offline_token=true`, as `docker login` does).
    Raises ratelimit.Throttled past the failure limit."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.partition(" ")[0].lower() != "basic":
        return None, False  # no credentials (other schemes are not ours to read here)
    pair = parse_basic(header)
    user = authenticate_credentials(request, *pair) if pair else None
    if user is None:
        return False, False
    return user, params.get("offline_token", "").lower() == "true"


def token_grant_user(request, params) -> tuple[object | None, bool]:
    """The user behind an OAuth2 token POST, and whether to hand out a refresh token.
    Raises ratelimit.Throttled past the failure limit."""
    grant_type = params.get("grant_type", "")
    if grant_type == "password":
        username, password = params.get("username", ""), params.get("password", "")
        user = authenticate_credentials(request, username, password)
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
        token_id = claims.get("tok")
        if token_id is not None:  # issued from an access token: it must still be live
            token = AccessToken.objects.filter(pk=token_id, user=user).first()
            if token is None or not credentials.is_live(token_id):
                return None, False
            user.berth_token = token
        return user, True
    return None, False
