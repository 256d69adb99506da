"""Credentials for other registries, stored encrypted with a key from the settings.

`seal(text, purpose)` returns `v1.<key id>.<base64url(nonce || AES-256-GCM ciphertext)>`;
the purpose (e.g. "cache-rule:7") is authenticated with it, so a sealed password cannot be
moved to another rule. Keys come from BERTH_CREDENTIALS_KEY (several, comma-separated: the
first seals, all open, for rotation); without it, one is derived from SECRET_KEY. A key id
is the first 8 hex digits of the key's SHA-256: a sealed value names the key that opens it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "v1"


class VaultError(Exception):
    """A sealed value that no configured key opens (a lost or rotated-away key)."""


def _keys() -> list[tuple[str, bytes]]:
    texts = [key.strip() for key in settings.BERTH_CREDENTIALS_KEY.split(",") if key.strip()]
    if texts:
        raw = [hashlib.sha256(text.encode()).digest() for text in texts]
    else:
        raw = [hmac.new(settings.SECRET_KEY.encode(), b"berth credentials", "sha256").digest()]
    return [(hashlib.sha256(key).hexdigest()[:8], key) for key in raw]


def seal(text: str, purpose: str) -> str:
    """`text` encrypted under the current key ("" stays "")."""
    if not text:
        return ""
    key_id, key = _keys()[0]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, text.encode(), purpose.encode())
    return f"{PREFIX}.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(value: str, purpose: str) -> str:
    """The text `seal` sealed for `purpose`; VaultError when no key opens it."""
    if not value:
        return ""
    version, _, rest = value.partition(".")
    key_id, _, payload = rest.partition(".")
    if version != PREFIX:
        raise VaultError("unknown sealed format")
    for candidate_id, key in _keys():
        if candidate_id != key_id:
            continue
        try:
            data = base64.urlsafe_b64decode(payload.encode())
            return AESGCM(key).decrypt(data[:12], data[12:], purpose.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise VaultError("the sealed value does not open with its key") from exc
    raise VaultError(f"no configured key has id {key_id} (BERTH_CREDENTIALS_KEY)")


def key_id(value: str) -> str:
    """The id of the key a sealed value needs ("" for an empty value)."""
    return value.split(".")[1] if value.count(".") >= 2 else ""
