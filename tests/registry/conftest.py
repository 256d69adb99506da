"""Fixtures for driving the /v2/ API through Django's test client."""

import base64
import hashlib
import json

import pytest
from django.test import Client

from registry import mediatypes
from tests.factories import PASSWORD, UserFactory


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    """A test client that speaks as one user (Basic credentials) or anonymously."""

    def __init__(self, username: str | None = None):
        self.http = Client()
        self.headers = {"Authorization": basic(username)} if username else {}

    def request(
        self,
        method: str,
        path: str,
        data=b"",
        content_type="application/octet-stream",
        headers=None,
        **extra,
    ):
        return getattr(self.http, method.lower())(
            path,
            data=data,
            content_type=content_type,
            headers={**self.headers, **(headers or {})},
            **extra,
        )

    def get(self, path, **kwargs):
        return self.http.get(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def head(self, path, **kwargs):
        return self.http.head(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256(data)
        response = self.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)
        assert response.status_code == 201, response.content
        return digest

    def push_manifest(
        self,
        name: str,
        reference: str,
        manifest: dict | bytes,
        media_type: str = mediatypes.OCI_MANIFEST,
    ):
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.request(
            "PUT", f"/v2/{name}/manifests/{reference}", body, content_type=media_type
        )

    def push_image(
        self,
        name: str,
        tag: str = "latest",
        layer: bytes = b"layer",
        config: bytes | None = None,
        **fields,
    ) -> tuple[str, bytes]:
        """Push a config, one layer and an OCI image manifest; return (digest, body)."""
        config = config or json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        manifest = image_manifest(
            config=(self.push_blob(name, config), len(config)),
            layers=[(self.push_blob(name, layer), len(layer))],
            **fields,
        )
        body = json.dumps(manifest).encode()
        response = self.push_manifest(name, tag, body)
        assert response.status_code == 201, response.content
        return response["Docker-Content-Digest"], body


def image_manifest(
    config, layers, media_type=mediatypes.OCI_MANIFEST, config_type=mediatypes.OCI_CONFIG, **fields
) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config[0], "size": config[1]},
        "layers": [
            {"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": d, "size": s} for d, s in layers
        ],
        **fields,
    }


def error_codes(response) -> list[str]:
    return [error["code"] for error in json.loads(response.content)["errors"]]


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def as_alice(alice) -> RegistryClient:
    return RegistryClient("alice")


@pytest.fixture
def as_bob(bob) -> RegistryClient:
    return RegistryClient("bob")


@pytest.fixture
def anonymous(db) -> RegistryClient:
    return RegistryClient()
