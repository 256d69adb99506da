"""Publishing without a command line: a new user signs up, creates an organization and a
repository, writes its README with the live preview, uploads a logo and archives, and what
was uploaded is pulled by real clients, byte for byte."""

from __future__ import annotations

import io
import json
import re
import secrets
import tarfile
from pathlib import Path

import oras.client
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.clients.cli import layout_blob, run
from tests.conftest import require_tool
from tests.gallery.publishing import archives as make
from tests.live import make_client_env

pytestmark = pytest.mark.browser
IMPORT_TIMEOUT = 60_000  # ms: the import runs on a worker or a thread of the server


def upload(page, path, *, tag: str = "") -> None:
    page.get_by_label("Archive", exact=True).set_input_files(str(path))
    if tag:
        page.get_by_label(re.compile(r"^Tag")).fill(tag)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#import-status")).to_be_hidden()  # the last upload's word is gone
    expect(page.locator("#upload-bar")).to_have_attribute("value", "100", timeout=IMPORT_TIMEOUT)
    expect(page.locator("#upload-figures")).to_contain_text("of")
    expect(page.locator("#import-status")).to_contain_text("Imported.", timeout=IMPORT_TIMEOUT)


def test_a_new_user_publishes_an_image_a_multi_platform_layout_and_a_chart(
    page, live_registry, tmp_path
):
    require_tool("podman", "skopeo")
    username, organization = f"dana{secrets.token_hex(3)}", f"studio{secrets.token_hex(3)}"
    sign_up(page, username)

    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name").fill(organization)
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()

    page.get_by_role("banner").get_by_role("link", name="New").click()
    page.get_by_label("Namespace").select_option(organization)
    page.get_by_label("Name", exact=True).press_sequentially("web")
    expect(page.locator("#name-status")).to_have_text(f"{organization}/web is free.")
    page.get_by_role("button", name="Create repository").click()
    expect(page).to_have_url(re.compile(rf"/r/{organization}/web/-/upload$"))

    # The README, with the live preview, and a logo.
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Settings").click()
    page.get_by_label("About", exact=True).fill("# Web\n\nServes **pages**.")
    preview = page.locator("#id_about_preview")
    expect(preview.get_by_role("heading", name="Web")).to_be_visible()
    expect(preview.locator("strong")).to_have_text("pages")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Settings").click()
    logo = tmp_path / "logo.png"
    Image.new("RGB", (400, 300), (20, 140, 120)).save(logo)
    page.get_by_label("Image").set_input_files(str(logo))
    page.get_by_role("button", name="Upload logo").click()
    expect(page.locator(".repo-header img.logo")).to_be_visible()

    # A docker save archive of a two-layer image, pulled back by podman and skopeo.
    archive, layers = make.docker_save("web:1.0", ("first layer", "second layer"))
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Upload").click()
    upload(page, make.write(tmp_path / "web.tar", archive))
    expect(page.locator("#import-status").get_by_role("link", name="1.0")).to_be_visible()
    reference = f"{live_registry.host}/{organization}/web:1.0"
    env = make_client_env(tmp_path / "clients")
    pulled = tmp_path / "pulled"
    run(["skopeo", "copy", "--src-tls-verify=false", "--src-no-creds",
         "--dest-oci-accept-uncompressed-layers", "--preserve-digests",
         f"docker://{reference}", f"oci:{pulled}:1.0"], env=env)  # fmt: skip
    index = json.loads((pulled / "index.json").read_text())
    manifest = json.loads(layout_blob(pulled, index["manifests"][0]["digest"]))
    assert [layout_blob(pulled, d["digest"]) for d in manifest["layers"]] == layers
    runroot = f"/tmp/berth-pub-{secrets.token_hex(3)}"  # podman wants it short
    storage = ["--root", f"{tmp_path}/podman", "--runroot", runroot, "--storage-driver", "vfs"]
    run(["podman", *storage, "pull", "--tls-verify=false", reference], env=env)

    # A multi-platform OCI layout becomes an index with both platforms on the Tags tab.
    upload(
        page,
        make.write(
            tmp_path / "multi.tar.gz", make.oci_layout(("amd64", "arm64"), ref="2.0", gz=True)
        ),
    )
    page.get_by_role("navigation", name="Repository").get_by_role(
        "link", name=re.compile("^Tags")
    ).click()
    row = page.locator(".tag-table tbody tr").filter(
        has=page.get_by_role("link", name="2.0", exact=True)
    )
    row.get_by_text("2 platforms").click()
    expect(row.locator(".child-list li")).to_have_count(2)
    expect(row).to_contain_text("linux/arm64")

    # A Helm chart, pulled with the oras library as `helm pull` would get it.
    page.goto("/new")
    page.get_by_label("Namespace").select_option(organization)
    page.get_by_label("Name", exact=True).fill("chart")
    page.get_by_role("button", name="Create repository").click()
    chart = make.helm_chart("webchart", "0.3.0")
    upload(page, make.write(tmp_path / "webchart-0.3.0.tgz", chart))
    client = oras.client.OrasClient(hostname=live_registry.host, insecure=True)
    out = tmp_path / "chart-pull"
    files = client.pull(target=f"{live_registry.host}/{organization}/chart:0.3.0", outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [chart]
    with tarfile.open(fileobj=io.BytesIO(chart)) as unpacked:
        assert "webchart/Chart.yaml" in unpacked.getnames()


def test_an_archive_that_is_not_one_fails_with_its_reason(new_page, live_registry, tmp_path):
    page = new_page(live_registry.alice)
    page.goto("/new")
    page.get_by_label("Name", exact=True).fill(f"junk{secrets.token_hex(3)}")
    page.get_by_role("button", name="Create repository").click()
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    page.get_by_label("Archive", exact=True).set_input_files(str(junk))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#import-status")).to_have_text(
        re.compile(r"^Import failed: the archive cannot be read"), timeout=IMPORT_TIMEOUT
    )
