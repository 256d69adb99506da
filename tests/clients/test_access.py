"""Organizations, access tokens and robots with real clients against a live Berth."""

import base64
import json
import re
import secrets
import urllib.request

import pytest

from tests.clients.cli import layout_manifest_digest, run
from tests.conftest import require_tool
from tests.live import Account

pytestmark = pytest.mark.clients


@pytest.fixture(autouse=True)
def _clients():
    require_tool("skopeo", "podman", "umoci")


@pytest.fixture
def organization(live_registry) -> str:
    """A new organization owned by alice, with bob as a reader."""
    name = f"team-{secrets.token_hex(3)}"
    status, body = live_registry.api(
        "POST", "/api/v1/organizations", {"name": name}, account=live_registry.alice
    )
    assert status == 201, body
    status, body = live_registry.api(
        "PUT", f"/api/v1/organizations/{name}/members/bob", {"role": "reader"},
        account=live_registry.alice,
    )  # fmt: skip
    assert status == 200, body
    return name


def token_for(live_registry, account: Account, scopes: list[str]) -> tuple[int, str]:
    status, body = live_registry.api(
        "POST", "/api/v1/tokens", {"name": "client test", "scopes": scopes}, account=account
    )
    assert status == 201, body
    return body["id"], body["token"]


def test_skopeo_logs_in_with_a_token_and_pushes_to_an_organization(
    live_registry, client_env, build_image, organization, tmp_path
):
    _, token = token_for(live_registry, live_registry.alice, ["pull", "push"])
    run(
        ["skopeo", "login", "--tls-verify=false", "-u", "alice", "--password-stdin",
         live_registry.host],
        env=client_env, input=token,
    )  # fmt: skip
    image = build_image()
    reference = f"{live_registry.host}/{organization}/app:v1"
    run(["skopeo", "copy", "--dest-tls-verify=false", image.reference, f"docker://{reference}"],
        env=client_env)  # fmt: skip
    pulled = tmp_path / "pulled"
    run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{reference}", f"oci:{pulled}:v1"],
        env=client_env)  # fmt: skip
    assert layout_manifest_digest(pulled, "v1") == image.digest


def test_podman_logs_in_with_a_token_and_pushes_to_an_organization(
    live_registry, client_env, build_image, organization, tmp_path
):
    _, token = token_for(live_registry, live_registry.alice, ["pull", "push"])
    storage = ["--root", f"{tmp_path}/store", "--runroot", f"/tmp/berth-rr-{secrets.token_hex(3)}",
               "--storage-driver", "vfs"]  # fmt: skip
    run(["podman", *storage, "login", "--tls-verify=false", "-u", "alice", "--password-stdin",
         live_registry.host], env=client_env, input=token)  # fmt: skip
    image = build_image()
    pulled = run(["podman", *storage, "pull", image.reference], env=client_env)
    image_id = pulled.stdout.split()[-1]
    target = f"{live_registry.host}/{organization}/podman:v1"
    run(["podman", *storage, "push", "--tls-verify=false", image_id, f"docker://{target}"],
        env=client_env)  # fmt: skip
    status, _ = live_registry.get(
        f"/v2/{organization}/podman/tags/list", account=live_registry.alice
    )
    assert status == 200


def test_a_robot_pushes_with_its_own_token(live_registry, client_env, build_image, organization):
    status, body = live_registry.api(
        "POST", f"/api/v1/organizations/{organization}/robots",
        {"name": "ci", "permissions": [{"repository": "", "actions": ["pull", "push"]}]},
        account=live_registry.alice,
    )  # fmt: skip
    assert status == 201, body
    creds = f"{organization}+ci:{body['token']}"
    run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", creds,
         build_image().reference, f"docker://{live_registry.host}/{organization}/built:1"],
        env=client_env)  # fmt: skip
    outside = run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", creds,
                   build_image().reference, f"docker://{live_registry.host}/alice/robot-no:1"],
                  env=client_env, check=False)  # fmt: skip
    assert outside.returncode != 0


def test_a_reader_pulls_a_private_image_and_an_outsider_sees_nothing(
    live_registry, client_env, build_image, push_image, organization, tmp_path
):
    image = build_image()
    reference = push_image(image, f"{organization}/secret:v1")
    status, body = live_registry.api(
        "PATCH", f"/api/v1/repositories/{organization}/secret", {"visibility": "private"},
        account=live_registry.alice,
    )  # fmt: skip
    assert status == 200, body
    run(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", live_registry.bob.creds,
         f"docker://{reference}", f"oci:{tmp_path}/reader:v1"], env=client_env)  # fmt: skip

    def inspect_as_outsider(name: str):
        return run(["skopeo", "inspect", "--tls-verify=false", "--creds", outsider.creds,
                    f"docker://{live_registry.host}/{organization}/{name}:v1"],
                   env=client_env, check=False)  # fmt: skip

    status, body = live_registry.api(
        "DELETE", f"/api/v1/organizations/{organization}/members/bob", account=live_registry.alice
    )
    assert status == 204, body
    outsider = live_registry.bob
    hidden, missing = inspect_as_outsider("secret"), inspect_as_outsider("nothing-here")
    assert hidden.returncode == missing.returncode != 0
    assert without_times(hidden.stderr).replace("secret", "X") == without_times(
        missing.stderr
    ).replace("nothing-here", "X")


def without_times(text: str) -> str:
    return re.sub(r'time="[^"]*"', "", text)


def test_a_revoked_token_fails_on_its_next_request(
    live_registry, client_env, build_image, push_image
):
    push_image(build_image(), "alice/revocable:v1")
    live_registry.api(
        "PATCH", "/api/v1/repositories/alice/revocable", {"visibility": "private"},
        account=live_registry.alice,
    )  # fmt: skip
    token_id, token = token_for(live_registry, live_registry.alice, ["pull"])
    pair = base64.b64encode(f"alice:{token}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (our http URL)
        f"{live_registry.url}/token?scope=repository:alice/revocable:pull&service=berth",
        headers={"Authorization": f"Basic {pair}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        bearer = json.loads(response.read())["token"]

    def pull_with_bearer() -> int:
        request = urllib.request.Request(  # noqa: S310 (our http URL)
            f"{live_registry.url}/v2/alice/revocable/manifests/v1",
            headers={"Authorization": f"Bearer {bearer}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert pull_with_bearer() == 200
    creds = f"alice:{token}"
    inspect = ["skopeo", "inspect", "--tls-verify=false", "--creds", creds,
               f"docker://{live_registry.host}/alice/revocable:v1"]  # fmt: skip
    run(inspect, env=client_env)
    status, _ = live_registry.api(
        "DELETE", f"/api/v1/tokens/{token_id}", account=live_registry.alice
    )
    assert status == 204
    assert pull_with_bearer() == 401  # the registry token issued from it ends too
    assert run(inspect, env=client_env, check=False).returncode != 0
