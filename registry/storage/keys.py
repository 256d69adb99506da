"""Key services: the master keys that wrap each blob's data key (never content itself).

- `LocalKeys`: master keys held by Berth. From BERTH_MASTER_KEY (several, comma-separated,
  the first current), else from the key file (BERTH_MASTER_KEY_FILE; by default
  `<data dir>/master_key`, generated once, one key per line, the first current). A key is
  any random text of 32+ characters; the AES key is derived from it with SHA-256.
- `KmsKeys`: AWS KMS (BERTH_KMS_KEY_ID) through boto3; each data key comes from
  GenerateDataKey and is unwrapped with Decrypt (the usual AWS variables, AWS_ENDPOINT_URL).

A wrapped data key is stored with the id of the master key that wrapped it, so that keys
can be rotated (`manage.py rotate_master_key`) and older wrappings stay readable until then.
Unwrapped data keys are cached in the process (KMS calls cost a round trip).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .crypto import new_data_key

WRAP_CONTEXT = b"berth data key v1"
CACHE_SIZE = 4096


class KeyUnavailable(Exception):
    """The master key that wrapped a data key is not available (or the key service is down)."""


def derive(text: str) -> bytes:
    """The AES-256 master key derived from a configured secret."""
    return hashlib.sha256(b"berth master key\x00" + text.strip().encode()).digest()


def key_id_of(key: bytes) -> str:
    return "local:" + hashlib.sha256(b"berth master key id\x00" + key).hexdigest()[:16]


class _UnwrapCache:
    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)


class LocalKeys:
    kind = "local"

    def __init__(self, *, texts: list[str] | None = None, path: Path | None = None) -> None:
        self._texts, self._path = texts, path
        self._loaded_stamp: tuple | None = None
        self._keys: list[bytes] = []
        self._lock = threading.Lock()
        self._cache = _UnwrapCache()

    # -- the keys ----------------------------------------------------------------------------

    def _stamp(self):
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def keys(self) -> list[bytes]:
        """The master keys, current first; a key file changed by a rotation is re-read."""
        if self._texts is not None:
            if not self._keys:
                self._keys = [derive(text) for text in self._texts]
            return self._keys
        with self._lock:
            stamp = self._stamp()
            if stamp is None:
                generate_key_file(self._path)
                stamp = self._stamp()
            if stamp != self._loaded_stamp:
                self._keys = [derive(line) for line in read_key_file(self._path)]
                self._loaded_stamp = stamp
                if not self._keys:
                    raise KeyUnavailable(f"the master key file {self._path} holds no key")
            return self._keys

    def current_id(self) -> str:
        return key_id_of(self.keys()[0])

    def known_ids(self) -> list[str]:
        return [key_id_of(key) for key in self.keys()]

    # -- wrapping ----------------------------------------------------------------------------

    def new_data_key(self) -> tuple[bytes, str, bytes]:
        data_key = new_data_key()
        key_id, wrapped = self.wrap(data_key)
        return data_key, key_id, wrapped

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        master = self.keys()[0]
        nonce = os.urandom(12)
        return key_id_of(master), nonce + AESGCM(master).encrypt(nonce, data_key, WRAP_CONTEXT)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        cached = self._cache.get((key_id, wrapped))
        if cached is not None:
            return cached
        master = next((key for key in self.keys() if key_id_of(key) == key_id), None)
        if master is None:
            raise KeyUnavailable(f"master key {key_id} is not configured")
        try:
            data_key = AESGCM(master).decrypt(wrapped[:12], wrapped[12:], WRAP_CONTEXT)
        except InvalidTag:
            raise KeyUnavailable(f"a data key wrapped by {key_id} failed authentication") from None
        self._cache.put((key_id, wrapped), data_key)
        return data_key

    def check(self) -> str:
        self.keys()
        return self.current_id()


class KmsKeys:
    kind = "kms"

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self._cache = _UnwrapCache()
        self._local = threading.local()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            import boto3  # only deployments that use KMS need boto3

            client = self._local.client = boto3.client("kms")
        return client

    def current_id(self) -> str:
        return self.key_id

    def known_ids(self) -> list[str]:
        return [self.key_id]

    def new_data_key(self) -> tuple[bytes, str, bytes]:
        try:
            answer = self._client().generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=_context()
            )
        except Exception as exc:
            raise KeyUnavailable(f"KMS GenerateDataKey failed: {exc}") from exc
        return answer["Plaintext"], answer["KeyId"], answer["CiphertextBlob"]

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        try:
            answer = self._client().encrypt(
                KeyId=self.key_id, Plaintext=data_key, EncryptionContext=_context()
            )
        except Exception as exc:
            raise KeyUnavailable(f"KMS Encrypt failed: {exc}") from exc
        return answer["KeyId"], answer["CiphertextBlob"]

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        cached = self._cache.get((key_id, wrapped))
        if cached is not None:
            return cached
        try:
            answer = self._client().decrypt(
                CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=_context()
            )
        except Exception as exc:
            raise KeyUnavailable(f"KMS Decrypt failed for {key_id}: {exc}") from exc
        self._cache.put((key_id, wrapped), answer["Plaintext"])
        return answer["Plaintext"]

    def check(self) -> str:
        try:
            return self._client().describe_key(KeyId=self.key_id)["KeyMetadata"]["Arn"]
        except Exception as exc:
            raise KeyUnavailable(f"KMS key {self.key_id} is not available: {exc}") from exc


def _context() -> dict[str, str]:
    return {"purpose": "berth-blob"}


# -- the key file -------------------------------------------------------------------------------


def read_key_file(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise KeyUnavailable(f"the master key file {path} cannot be read: {exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def write_key_file(path: Path, texts: list[str]) -> None:
    """Replace the key file whole (a temporary file renamed into place), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{text}\n" for text in texts))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def generate_key_file(path: Path) -> None:
    """Generate the key file once: linked into place, so concurrent starters agree."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key_text() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # fails if another process got there first
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def new_key_text() -> str:
    return secrets.token_urlsafe(48)


# -- the configured service ---------------------------------------------------------------------


@cache
def local_keys() -> LocalKeys:
    if settings.BERTH_MASTER_KEY:
        texts = [text for text in settings.BERTH_MASTER_KEY.split(",") if text.strip()]
        if any(len(text.strip()) < 32 for text in texts):
            raise ImproperlyConfigured("BERTH_MASTER_KEY: each key needs 32+ characters")
        return LocalKeys(texts=texts)
    return LocalKeys(path=Path(settings.BERTH_MASTER_KEY_FILE))


def unwrap(key_id: str, wrapped: bytes) -> bytes:
    """A data key, unwrapped by whichever service wrapped it (blobs sealed before KMS was
    configured stay readable with the local keys, and the other way round)."""
    service = local_keys() if key_id.startswith("local:") else _kms(key_id)
    return service.unwrap(key_id, wrapped)


def key_service() -> LocalKeys | KmsKeys:
    """The key service new data keys come from (KMS when BERTH_KMS_KEY_ID is set)."""
    if settings.BERTH_KMS_KEY_ID:
        return _kms(settings.BERTH_KMS_KEY_ID)
    return local_keys()


@cache
def _kms(key_id: str) -> KmsKeys:
    return KmsKeys(key_id)


def forget() -> None:
    """Drop the configured services (tests change settings)."""
    local_keys.cache_clear()
    _kms.cache_clear()
