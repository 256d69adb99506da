"""Driving the /v2/ API through Django's test client, as one user or anonymously."""

import base64
import hashlib
import json
from urllib.parse import urlencode

from django.test import Client

from registry import mediatypes
from tests.factories import PASSWORD


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def post_form(client: Client, path: str, data: dict):
    """POST `data` as an urlencoded form, the way OAuth2 clients send the token service's."""
    return client.post(
        path, urlencode(data, doseq=True), content_type="application/x-www-form-urlencoded"
    )


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


def push_platform_image(
    client: RegistryClient, name: str, tag: str, architecture: str, os: str = "linux"
) -> tuple[str, bytes]:
    config = json.dumps({"architecture": architecture, "os": os, "config": {}}).encode()
    return client.push_image(
        name, tag, layer=f"{name}:{tag}:{architecture}".encode(), config=config
    )


def push_index(client: RegistryClient, name: str, tag: str, architectures: list[str]) -> str:
    """A multi-platform OCI index of one image per architecture; returns its digest."""
    children = []
    for architecture in architectures:
        digest, body = push_platform_image(client, name, f"{tag}-{architecture}", architecture)
        children.append(
            {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": children}
    response = client.push_manifest(name, tag, index, mediatypes.OCI_INDEX)
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]


def push_helm_chart(client: RegistryClient, name: str, version: str) -> str:
    config = json.dumps({"name": name.rsplit("/", 1)[-1], "version": version}).encode()
    chart = f"chart {name} {version}".encode()
    manifest = image_manifest(
        (client.push_blob(name, config), len(config)), [], config_type=mediatypes.HELM_CONFIG
    )
    manifest["layers"] = [
        {
            "mediaType": mediatypes.HELM_CHART,
            "digest": client.push_blob(name, chart),
            "size": len(chart),
        }
    ]
    response = client.push_manifest(name, version, manifest)
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]
