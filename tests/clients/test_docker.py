"""The docker CLI against a live Berth, with no engine: login and the manifest commands.

With no engine to ask, `docker login` logs in on its own (client side). 127.0.0.0/8 is an
insecure registry to docker: it tries TLS first and falls back to plain HTTP because
gunicorn answers the TLS hello with an HTTP error.
"""

import json
from pathlib import Path

import pytest

from tests.clients.cli import layout_blob, run
from tests.conftest import require_tool

pytestmark = pytest.mark.clients


@pytest.fixture(autouse=True)
def _docker():
    require_tool("docker")


def login(live_registry, client_env, account, password=None):
    return run(
        ["docker", "login", live_registry.host, "-u", account.username, "--password-stdin"],
        env=client_env,
        input=(password or account.password) + "\n",
        check=False,
    )


def test_login_succeeds_and_stores_a_refresh_token_instead_of_the_password(
    live_registry, client_env
):
    result = login(live_registry, client_env, live_registry.alice)
    assert result.returncode == 0, result.stderr
    assert "Login Succeeded" in result.stdout
    config = Path(client_env["DOCKER_CONFIG"], "config.json").read_text()
    stored = json.loads(config)["auths"][live_registry.host]
    assert stored["identitytoken"]
    assert live_registry.alice.password not in config


def test_login_with_a_wrong_password_fails(live_registry, client_env):
    result = login(live_registry, client_env, live_registry.alice, password="not-her-password")
    assert result.returncode != 0
    assert "unauthorized" in result.stderr


def test_anonymous_manifest_inspect_prints_the_pushed_manifest(
    live_registry, client_env, build_image, push_image
):
    image = build_image()
    reference = push_image(image, "alice/docker-inspect:v1")
    result = run(["docker", "manifest", "inspect", "--insecure", reference], env=client_env)
    assert json.loads(result.stdout) == json.loads(layout_blob(image.layout, image.digest))


def test_manifest_inspect_with_the_stored_refresh_token_prints_the_pushed_manifest(
    live_registry, client_env, build_image, push_image
):
    image = build_image()
    reference = push_image(image, "alice/docker-inspect-login:v1")
    assert login(live_registry, client_env, live_registry.alice).returncode == 0
    result = run(["docker", "manifest", "inspect", "--insecure", reference], env=client_env)
    assert json.loads(result.stdout) == json.loads(layout_blob(image.layout, image.digest))


def test_login_with_an_access_token_then_manifest_inspect_of_a_private_image(
    live_registry, client_env, build_image, push_image
):
    image = build_image()
    reference = push_image(image, "alice/docker-token-private:v1")
    name = "alice/docker-token-private"
    status, body = live_registry.api(
        "PATCH",
        f"/api/v1/repositories/{name}",
        {"visibility": "private"},
        account=live_registry.alice,
    )
    assert status == 200, body
    status, body = live_registry.api(
        "POST", "/api/v1/tokens", {"name": "docker", "scopes": ["pull"]},
        account=live_registry.alice,
    )  # fmt: skip
    assert status == 201, body
    inspect = ["docker", "manifest", "inspect", "--insecure", reference]
    assert run(inspect, env=client_env, check=False).returncode != 0  # private, not signed in
    result = login(live_registry, client_env, live_registry.alice, password=body["token"])
    assert result.returncode == 0, result.stderr
    assert body["token"] not in Path(client_env["DOCKER_CONFIG"], "config.json").read_text()
    result = run(inspect, env=client_env)
    assert json.loads(result.stdout) == json.loads(layout_blob(image.layout, image.digest))
