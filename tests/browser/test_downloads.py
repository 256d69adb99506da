"""Pulls by a real client reach the repository page's download count, whatever the traffic,
and counts still waiting in a web process survive that process being stopped."""

from __future__ import annotations

import secrets
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP
from tests.browser.publish import real_clients, wait_for_page
from tests.clients.cli import run
from tests.conftest import require_tool
from tests.live import Account, berth_setup, celery_worker, free_port, live_registry_at, serve

pytestmark = pytest.mark.browser
PULLS = 20
INTERVAL = 1 + 1  # BERTH_PULL_FLUSH_SECONDS of the live server, then BERTH_INDEX_DELAY
SLACK = 10  # generous on a loaded machine


def pull(clients, reference: str, times: int) -> None:
    """`times` runs of skopeo copying the image anonymously: each run is one pull."""
    for i in range(times):
        run(
            [
                "skopeo", "copy", "--src-tls-verify=false", "--src-no-creds",
                f"docker://{reference}", f"oci:{clients.base}/pull-{secrets.token_hex(4)}-{i}:v1",
            ],
            env=clients.env,
        )  # fmt: skip


def downloads(page: Page):
    """The Downloads figure in the repository header, as a person reads it."""
    return page.locator(".repo-facts div").filter(has_text="Downloads").locator("dd")


def reload_until_downloads(page: Page, count: int, timeout: float = INTERVAL + SLACK) -> None:
    deadline = time.monotonic() + timeout
    while downloads(page).inner_text() != str(count) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(downloads(page)).to_have_text(str(count), timeout=1)


def test_twenty_pulls_show_twenty_downloads_within_the_interval(page, live_registry, tmp_path):
    require_tool("umoci", "skopeo")
    with real_clients(live_registry, tmp_path) as clients:
        reference = clients.push(clients.build(), "alice/counted:v1")
        wait_for_page(live_registry, "/r/alice/counted", lambda html: "linux/amd64" in html)
        page.goto("/r/alice/counted")
        expect(downloads(page)).to_have_text("0")
        pull(clients, reference, PULLS)
    reload_until_downloads(page, PULLS)


def test_downloads_waiting_in_a_web_process_survive_its_restart(browser, tmp_path):
    """A server that writes its counts only every hour: they are written when gunicorn is
    stopped (SIGTERM), and the page of the same server started again shows them."""
    require_tool("umoci", "skopeo")
    accounts = [Account(name, secrets.token_urlsafe(16)) for name in ("alice", "bob")]
    hourly = {"BERTH_PULL_FLUSH_SECONDS": "3600"}
    data_dir, port = tmp_path / "data", free_port()
    data_dir.mkdir()
    with (
        berth_setup(data_dir, accounts, env_extra=hourly) as env,
        celery_worker(env, data_dir / "celery.log"),  # with REDIS_URL; it outlives gunicorn
    ):
        registry = live_registry_at(port, accounts, data_dir / "gunicorn.log", env)
        context = browser.new_context(base_url=registry.url, viewport=DESKTOP)
        page = context.new_page()
        try:
            with serve(env, port, registry.log), real_clients(registry, tmp_path) as clients:
                reference = clients.push(clients.build(), "alice/restarted:v1")
                wait_for_page(registry, "/r/alice/restarted", lambda html: "linux/amd64" in html)
                pull(clients, reference, 7)
                time.sleep(INTERVAL)
                page.goto("/r/alice/restarted")
                expect(downloads(page)).to_have_text("0")  # still in the web processes
            # serve() has stopped gunicorn with SIGTERM; the same server starts again.
            with serve(env, port, data_dir / "gunicorn-again.log"):
                page.reload()
                reload_until_downloads(page, 7)
        finally:
            context.close()
