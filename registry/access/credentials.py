"""Access tokens: personal ones and robots', usable wherever a password is.

A token reads `berth_<key id>_<secret>`. It is shown once; the database keeps the key id
(to find the row) and an HMAC-SHA256 of the secret under BERTH_TOKEN_KEY (a fast keyed
hash is right for 32 random bytes: nothing to brute-force). `docker login`, `podman
login`, `skopeo --creds`, the oras library and the REST API (Basic or Bearer) take it
where they take a password. Revoking it, or the expiry, counts at the next request: every
registry token issued from it carries its id and its owner's revocation generation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.models import AccessToken

from . import audit, revocation
from .models import Scope

PREFIX = "berth_"
_TOKEN = re.compile(r"berth_(?P<key>[A-Za-z0-9]{12})_(?P<secret>[A-Za-z0-9_-]{43})")
SCOPES = frozenset(Scope.values)
# A token's last use is written at most this often (a pull must not write every time).
LAST_USED_EVERY = timedelta(minutes=1)


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX)


def _hash(secret: str) -> str:
    return hmac.new(settings.BERTH_TOKEN_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


def create_token(
    *, user, name: str, scopes, expires_at: datetime | None = None, actor=None, address: str = ""
) -> tuple[AccessToken, str]:
    """A new token for `user`; returns the row and the secret (shown once, never again)."""
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(sorted(SCOPES))}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = AccessToken.objects.create(
            user=user,
            name=name[:100],
            key_id=key_id,
            secret_hash=_hash(secret),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        audit.record(
            "token.created",
            actor=actor or user,
            address=address,
            namespace=_namespace_of(user),
            target=f"{user.username}: {token.name}",
            detail={"token": token.key_id, "scopes": token.scopes},
        )
    return token, f"{PREFIX}{key_id}_{secret}"


def verify(username: str, text: str, *, address: str = "") -> AccessToken | None:
    """The live token `text` of the user called `username`, or None."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    token = AccessToken.objects.filter(key_id=match["key"]).select_related("user").first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(match["secret"])):
        return None
    if token.user.username != username or not token.user.is_active:
        return None
    now = timezone.now()
    if token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        first = token.last_used_at is None
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_address=address)
        if first:
            audit.record(
                "token.first_used",
                actor=token.user,
                address=address,
                namespace=_namespace_of(token.user),
                target=f"{token.user.username}: {token.name}",
                detail={"token": token.key_id},
            )
    return token


def owner_of(text: str, *, address: str = "") -> AccessToken | None:
    """A live token presented without a username (a Bearer header on the REST API)."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    token = AccessToken.objects.filter(key_id=match["key"]).select_related("user").first()
    return verify(token.user.username, text, address=address) if token else None


def is_live(token_id: int | None) -> bool:
    """Is the token of this id still usable (a registry token issued from it is checked)."""
    if token_id is None:
        return True
    now = timezone.now()
    return (
        AccessToken.objects.filter(pk=token_id, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .exists()
    )


def revoke(*, token: AccessToken, actor=None, address: str = "") -> None:
    with transaction.atomic():
        AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        revocation.bump(token.user_id)
        audit.record(
            "token.revoked",
            actor=actor,
            address=address,
            namespace=_namespace_of(token.user),
            target=f"{token.user.username}: {token.name}",
            detail={"token": token.key_id},
        )


def _namespace_of(user) -> str:
    robot = getattr(user, "robot", None)  # RelatedObjectDoesNotExist is an AttributeError
    return robot.namespace.name if robot is not None else user.username
