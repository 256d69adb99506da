"""deploy/nginx.conf in front of a live Berth: TLS, uploads streamed through unbuffered,
blobs sent by nginx itself (X-Accel-Redirect), Range requests, probes on plain HTTP."""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import os
import re
import secrets
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.live import Account, free_port, manage, serve

pytestmark = pytest.mark.clients
ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def self_signed(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory):
    require_tool("nginx")
    tmp = tmp_path_factory.mktemp("nginx")
    alice = Account("alice", secrets.token_urlsafe(16))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env.pop("DATABASE_URL", None)
    env |= {
        "BERTH_DATA_DIR": str(tmp / "data"),
        "DJANGO_SETTINGS_MODULE": "gallery.settings",
        "GUNICORN_WORKERS": "2",
        "BERTH_ENCRYPTION": "off",
        "BERTH_BLOB_DELIVERY": "x-accel",
        "BERTH_BEHIND_PROXY": "true",
        "ALLOWED_HOSTS": "registry.example.com",
        "BERTH_CELERY_QUEUE": f"berth-nginx-{secrets.token_hex(6)}",
    }
    env.pop("REDIS_URL", None)
    manage(env, "migrate", "--noinput")
    create = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('alice', password={alice.password!r})"
    )
    manage(env, "shell", "-c", create)
    berth_port, http_port, https_port = free_port(), free_port(), free_port()
    (tmp / "tls").mkdir()
    self_signed(tmp / "tls")
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{berth_port};")
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", site)
    site = re.sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", site)
    site = re.sub(r"\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("/etc/ssl/berth", str(tmp / "tls"))
    site = site.replace("/var/lib/berth/blobs/", f"{tmp}/data/blobs/")
    site = site.replace(
        "return 301 https://$host$request_uri;",
        f"return 301 https://$host:{https_port}$request_uri;",
    )
    (tmp / "site.conf").write_text(site)
    (tmp / "nginx.conf").write_text(
        # As root, nginx's workers would run as nobody, who cannot read pytest's 0700 folders.
        f"{'user root;' if os.geteuid() == 0 else ''}\n"
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n access_log {tmp}/access.log;\n client_body_temp_path {tmp}/body;\n"
        f" proxy_temp_path {tmp}/proxy;\n include /etc/nginx/mime.types;\n"
        f" include {tmp}/site.conf;\n}}\n"
    )
    nginx = shutil.which("nginx")
    with serve(env, berth_port, tmp / "gunicorn.log"), (tmp / "nginx.out").open("wb") as output:
        process = subprocess.Popen(
            [nginx, "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                probe = http.client.HTTPConnection("127.0.0.1", http_port, timeout=1)
                try:
                    probe.connect()
                    break
                except OSError:
                    time.sleep(0.1)
                finally:
                    probe.close()
            yield {"http": http_port, "https": https_port, "alice": alice, "tmp": tmp}
        finally:
            process.terminate()
            process.wait(timeout=10)


def https(setup) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", setup["https"], context=context, timeout=60)


def call(setup, method, path, body=None, headers=None):
    connection = https(setup)
    auth = base64.b64encode(setup["alice"].creds.encode()).decode()
    headers = {"Host": "registry.example.com", "Authorization": f"Basic {auth}", **(headers or {})}
    try:
        chunked = headers.get("Transfer-Encoding") == "chunked"
        connection.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_a_chunked_push_and_a_pull_sent_by_nginx(behind_nginx):
    data = os.urandom(5 * MIB + 3)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response, _ = call(behind_nginx, "POST", "/v2/alice/app/blobs/uploads/")
    location = response.getheader("Location")
    pieces = (data[i : i + 100_000] for i in range(0, len(data), 100_000))
    response, body = call(behind_nginx, "PATCH", location, pieces, {"Transfer-Encoding": "chunked"})
    assert response.status == 202, body
    response, _ = call(behind_nginx, "PUT", f"{location}?digest={digest}")
    assert response.status == 201
    response, body = call(behind_nginx, "GET", f"/v2/alice/app/blobs/{digest}")
    assert (response.status, body == data) == (200, True)
    assert response.getheader("X-Accel-Redirect") is None  # nginx kept it to itself
    response, body = call(
        behind_nginx, "GET", f"/v2/alice/app/blobs/{digest}", headers={"Range": "bytes=10-19"}
    )
    assert (response.status, body) == (206, data[10:20])


def test_a_large_monolithic_upload_has_no_size_limit_on_v2(behind_nginx):
    data = os.urandom(3 * MIB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response, body = call(
        behind_nginx, "POST", f"/v2/alice/big/blobs/uploads/?digest={digest}", data
    )
    assert response.status == 201, body


def test_probes_answer_on_plain_http_and_pages_redirect_to_https(behind_nginx):
    connection = http.client.HTTPConnection("127.0.0.1", behind_nginx["http"], timeout=10)
    for path, status in [("/-/health", 200), ("/-/ready", 200), ("/search", 301)]:
        connection.request("GET", path, headers={"Host": "registry.example.com"})
        response = connection.getresponse()
        response.read()
        assert response.status == status, path
    connection.close()


def test_requests_carry_nginxs_request_id(behind_nginx):
    response, _ = call(behind_nginx, "GET", "/v2/")
    assert re.fullmatch(r"[0-9a-f]{32}", response.getheader("X-Request-ID"))
