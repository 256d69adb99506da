"""Archive imports: each kind becomes a pullable repository; hostile archives leave nothing."""

import gzip
import json

import pytest
from django.test import Client

from gallery.models import ArchiveImport, CatalogEntry
from gallery.publishing import imports
from registry import mediatypes
from registry.models import Blob, Manifest, RepositoryBlob, Tag
from tests.gallery.publishing import archives as make
from tests.oci import RegistryClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _imports_run_at_once(monkeypatch):
    """The import is queued after its transaction commits; tests run inside one."""
    monkeypatch.setattr(imports.transaction, "on_commit", lambda callback: callback())


@pytest.fixture
def repo(alice):
    from registry import services

    return services.create_repository(name="alice/app", user=alice)


def run_import(repo, alice, data: bytes, *, tag: str = "") -> ArchiveImport:
    archive = imports.start(repository=repo, user=alice, filename="x.tar", size=len(data), tag=tag)
    imports.append(archive=archive, start=0, chunks=[data])
    archive.refresh_from_db()
    return archive


def snapshot(settings) -> tuple:
    from pathlib import Path

    stored = (
        sorted(
            str(p)
            for p in Path(settings.STORAGES["blobs"]["OPTIONS"]["location"]).rglob("*")
            if p.is_file()
        )
        if Path(settings.STORAGES["blobs"]["OPTIONS"]["location"]).exists()
        else []
    )
    return (
        Manifest.objects.count(),
        Tag.objects.count(),
        RepositoryBlob.objects.count(),
        Blob.objects.count(),
        stored,
    )


def test_a_docker_save_archive_becomes_a_pullable_image_with_its_layers_unchanged(repo, alice):
    data, layers = make.docker_save("app:2.0")
    archive = run_import(repo, alice, data)
    assert archive.state == "done", archive.message
    assert archive.tags == ["2.0"]
    pulled = RegistryClient("alice").get("/v2/alice/app/manifests/2.0")
    manifest = json.loads(pulled.content)
    for descriptor, original in zip(manifest["layers"], layers, strict=True):
        blob = RegistryClient("alice").get(f"/v2/alice/app/blobs/{descriptor['digest']}")
        assert b"".join(blob.streaming_content) == original


def test_a_multi_platform_oci_layout_becomes_an_index(repo, alice):
    archive = run_import(repo, alice, make.oci_layout(("amd64", "arm64"), ref="3.0", gz=True))
    assert archive.state == "done", archive.message
    top = Tag.objects.get(repository=repo, name="3.0").manifest
    assert top.media_type == mediatypes.OCI_INDEX
    entry = CatalogEntry.objects.get(name="alice/app")
    assert entry.platform_list == ["linux/amd64", "linux/arm64"]


def test_platforms_listed_side_by_side_become_one_index(repo, alice):
    archive = run_import(repo, alice, make.oci_layout(("amd64", "arm64"), ref="4.0", nested=False))
    assert archive.state == "done", archive.message
    assert Tag.objects.get(repository=repo, name="4.0").manifest.media_type == mediatypes.OCI_INDEX


def test_a_helm_chart_is_stored_as_helm_push_stores_it(repo, alice):
    chart = make.helm_chart("mychart", "1.2.3+build.4")
    archive = run_import(repo, alice, chart)
    assert archive.state == "done", archive.message
    manifest = json.loads(
        bytes(Tag.objects.get(repository=repo, name="1.2.3_build.4").manifest.body)
    )
    assert manifest["config"]["mediaType"] == mediatypes.HELM_CONFIG
    assert manifest["layers"][0]["mediaType"] == mediatypes.HELM_CHART
    assert manifest["layers"][0]["digest"] == make.sha(chart)
    assert CatalogEntry.objects.get(name="alice/app").artifact_type == "helm"


def test_an_opa_bundle_is_a_policy_bundle(repo, alice):
    bundle = make.opa_bundle("r7")
    archive = run_import(repo, alice, bundle)
    assert archive.state == "done", archive.message
    manifest = json.loads(bytes(Tag.objects.get(repository=repo, name="r7").manifest.body))
    assert manifest["layers"][0]["mediaType"] == mediatypes.OCI_LAYER_GZIP
    assert manifest["artifactType"] == mediatypes.OPA_BUNDLE
    assert CatalogEntry.objects.get(name="alice/app").artifact_type == "policy"


def test_a_tag_given_with_the_upload_wins(repo, alice):
    archive = run_import(repo, alice, make.docker_save("app:9")[0], tag="stable")
    assert archive.tags == ["stable"]


def test_importing_the_same_archive_twice_is_harmless(repo, alice):
    data, _ = make.docker_save()
    run_import(repo, alice, data)
    assert run_import(repo, alice, data).state == "done"

    assert Tag.objects.filter(repository=repo).count() == 1


def evil_layout(kind: str) -> bytes:
    if kind == "traversal":
        return make.tar_bytes({"../../etc/evil": b"x", "index.json": b"{}", "oci-layout": b"{}"})
    if kind == "missing-blob":
        data = make.oci_layout()
        files = _untar(data)
        victim = next(
            k
            for k in files
            if k.startswith("blobs/") and len(files[k]) < 400 and b"rootfs" in files[k]
        )
        del files[victim]
        return make.tar_bytes(files)
    if kind == "wrong-digest":
        files = _untar(make.oci_layout())
        victim = next(k for k in files if k.startswith("blobs/") and b"rootfs" in files[k])
        files[victim] = files[victim].replace(b"amd64", b"arm64")
        return make.tar_bytes(files)
    if kind == "wrong-diff-id":
        files = _untar(make.docker_save()[0])
        files["layer0/layer.tar"] = make.layer("tampered")
        return make.tar_bytes(files)
    if kind == "not-an-archive":
        return b"just some bytes, not a tar"
    if kind == "symlink-out":
        import io
        import tarfile

        output = io.BytesIO()
        with tarfile.open(fileobj=output, mode="w") as archive:
            info = tarfile.TarInfo("manifest.json")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
        return output.getvalue()
    if kind == "bomb":  # 64 MiB of zeros in one file, a few dozen KiB compressed
        return gzip.compress(make.tar_bytes({"zeros": bytes(64 * 1024 * 1024)}), compresslevel=9)
    raise AssertionError(kind)


def _untar(data: bytes) -> dict[str, bytes]:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("traversal", "leaves the root"),
        ("missing-blob", "lacks"),
        ("wrong-digest", "does not match"),
        ("wrong-diff-id", "does not match its diff_id"),
        ("not-an-archive", "cannot be read"),
        ("symlink-out", "leaves the archive"),
        ("bomb", "more than"),
    ],
)
def test_hostile_archives_are_refused_with_a_reason_and_leave_nothing(
    repo, alice, settings, kind, reason
):
    settings.BERTH_IMPORT_MAX_BYTES = 16 * 1024 * 1024
    before = snapshot(settings)
    archive = run_import(repo, alice, evil_layout(kind))
    assert archive.state == "failed"
    assert reason in archive.message
    assert snapshot(settings) == before


def test_a_dropped_upload_resumes_where_it_stood(repo, alice):
    data, _ = make.docker_save()
    client = Client()
    client.force_login(alice)
    started = client.post(
        "/r/alice/app/-/imports",
        {"filename": "a.tar", "size": len(data)},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    url = started.json()["url"]
    half = len(data) // 2

    def chunk(start: int, end: int):
        return client.generic(
            "PATCH",
            url,
            data[start:end],
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes {start}-{end - 1}/{len(data)}",
        )

    assert chunk(0, half).json()["received"] == half
    wrong = chunk(0, 10)  # a client that lost track starts over: told where to go on
    assert wrong.status_code == 409
    assert wrong.json()["received"] == half
    assert chunk(half, len(data)).status_code == 200
    assert client.get(url).json()["state"] == "done"


def test_a_chunk_reaching_a_server_without_the_staged_upload_is_a_clear_409(repo, alice):
    """Scaled out without a shared BERTH_UPLOAD_DIR: an error the person can act on."""
    data, _ = make.docker_save()
    client = Client()
    client.force_login(alice)
    started = client.post(
        "/r/alice/app/-/imports",
        {"filename": "a.tar", "size": len(data)},
        content_type="application/json",
    ).json()
    archive = ArchiveImport.objects.get(pk=started["id"])
    imports.staging(archive).unlink()  # as seen from another server's disk
    response = client.generic(
        "PATCH",
        started["url"],
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
    )
    assert response.status_code == 409
    assert "start it again" in response.json()["error"]


def test_only_publishers_may_upload(repo, bob):
    client = Client()
    client.force_login(bob)
    assert (
        client.post(
            "/r/alice/app/-/imports", {"filename": "a", "size": 10}, content_type="application/json"
        ).status_code
        == 404
    )
    assert client.get("/r/alice/app/-/upload").status_code == 404


def test_scripts_import_through_the_api(repo, alice):
    import base64

    data, _ = make.docker_save("app:5.0")
    pair = base64.b64encode(b"alice:correct-horse-battery").decode()
    auth = f"Basic {pair}"
    response = Client().post(
        "/api/v1/repositories/alice/app/-/imports?tag=api",
        data,
        content_type="application/octet-stream",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 202, response.content
    status = Client().get(response.json()["url"], HTTP_AUTHORIZATION=auth).json()
    assert status["state"] == "done"
    assert status["tags"] == ["api"]


@pytest.mark.parametrize(
    "body",
    ['{"filename": "a", "size": 1e400}', '{"filename": "a", "size": -1e400}', "[]", '"x"', "{"],
)
def test_a_start_with_a_size_that_is_no_whole_number_is_a_400(repo, alice, body):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.post("/r/alice/app/-/imports", body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("filename", ["a\\u0000.tar", "a\\ud800.tar"])
def test_a_start_with_a_filename_no_text_column_holds_is_a_400(repo, alice, filename):
    """NUL (which PostgreSQL refuses) or half of a UTF-16 pair (which no UTF-8 holds): the
    import row could not be written, a 500."""
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    body = f'{{"filename": "{filename}", "size": 10}}'
    response = client.post("/r/alice/app/-/imports", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not ArchiveImport.objects.exists()
