"""Every pull a client makes reaches the catalog's download count, whatever the traffic."""

import re
import time

import pytest

from tests.clients.cli import run
from tests.conftest import require_tool

pytestmark = pytest.mark.clients
PULLS = 20
INTERVAL = 1 + 1  # BERTH_PULL_FLUSH_SECONDS of the live server, then BERTH_INDEX_DELAY


def downloads(live_registry, name: str) -> int:
    status, body = live_registry.get(f"/r/{name}")
    assert status == 200, body[:500]
    match = re.search(rb"<dt>Downloads</dt><dd>([0-9,.kM]+)</dd>", body)
    assert match, body[:2000]
    return int(match[1].replace(b",", b""))


def test_twenty_pulls_show_twenty_downloads_within_the_interval(
    live_registry, client_env, build_image, push_image, tmp_path
):
    require_tool("skopeo")
    reference = push_image(build_image(), "alice/counted:v1")
    for i in range(PULLS):
        run(
            [
                "skopeo", "copy", "--src-tls-verify=false", "--src-no-creds",
                f"docker://{reference}", f"oci:{tmp_path}/pull-{i}:v1",
            ],
            env=client_env,
        )  # fmt: skip
    deadline = time.monotonic() + INTERVAL + 10  # generous on a loaded machine
    while downloads(live_registry, "alice/counted") < PULLS and time.monotonic() < deadline:
        time.sleep(0.5)
    assert downloads(live_registry, "alice/counted") == PULLS
