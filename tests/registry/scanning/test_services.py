"""Scanning through the services: images pushed to the registry, scanned, read back."""

import json

import pytest

from registry.models import Manifest, Repository
from registry.scanning import advisories, services
from registry.scanning.models import ImagePackage, ImageScan, ScanStatus
from tests.oci import push_helm_chart

from .conftest import OSV
from .kit import (
    DEBIAN_OS_RELEASE,
    File,
    dpkg_entry,
    gz,
    npm_package,
    push_layers,
    python_metadata,
    scan_now,
    tar,
)

SITE = "usr/local/lib/python3.11/site-packages"
STATUS = (dpkg_entry("coreutils", "9.1-1") + "\n" + dpkg_entry("apt", "2.6.1")).encode()


def debian_base():
    return gz(tar(File("etc/os-release", DEBIAN_OS_RELEASE), File("var/lib/dpkg/status", STATUS)))


def app_layer(lodash="4.17.20", requests="2.31.0"):
    return gz(
        tar(
            File(f"{SITE}/requests.dist-info/METADATA", python_metadata("requests", requests)),
            File("srv/node_modules/lodash/package.json", npm_package("lodash", lodash)),
        )
    )


def push(client, tag, *blobs, name="alice/app", architecture="amd64"):
    digest = push_layers(client, name, tag, list(blobs), architecture)
    return Manifest.objects.get(repository__name=name, digest=digest)


@pytest.fixture
def repository(as_alice, osv_records):
    manifest = push(as_alice, "1.0", debian_base(), app_layer())
    scan_now(manifest)
    return Repository.objects.get(name="alice/app")


def test_a_scan_finds_packages_with_the_layer_that_brought_them(repository):
    manifest = Manifest.objects.get(repository=repository, tags__name="1.0")
    scan = ImageScan.objects.get(digest=manifest.digest)
    assert (scan.status, scan.platform, scan.distribution) == ("done", "linux/amd64", "debian 12")
    packages = {p.name: p for p in ImagePackage.objects.filter(scan=scan)}
    assert set(packages) == {"coreutils", "apt", "requests", "lodash"}
    assert packages["coreutils"].layer_digest == scan.layers[0]
    assert packages["lodash"].layer_digest == scan.layers[1]


def test_the_report_summarizes_findings_by_severity(repository):
    report = services.image_vulnerabilities(repository=repository, reference="1.0")
    [platform] = report.platforms
    assert platform.status == "done"
    assert platform.summary == {"critical": 0, "high": 1, "medium": 1, "low": 0, "unknown": 2}
    assert report.database_updated_at is not None


def test_findings_list_sorts_worst_first_and_filters(repository):
    rows = services.list_findings(repository=repository, reference="1.0")
    assert [r.advisory_id for r in rows][:2] == ["GHSA-35jh-r3h4-6jhm", "GHSA-9wx4-h78v-vm56"]
    lodash = rows[0]
    assert (lodash.package, lodash.installed_version, lodash.fixed_version) == (
        "lodash",
        "4.17.20",
        "4.17.21",
    )
    assert lodash.layer_digest.startswith("sha256:")
    high = services.list_findings(repository=repository, reference="1.0", severity="high")
    assert [r.package for r in high] == ["lodash"]
    by_package = services.list_findings(repository=repository, reference="1.0", sort="package")
    assert [r.package for r in by_package] == ["apt", "coreutils", "lodash", "requests"]


def test_fixed_in_names_the_newest_tag_without_the_finding(repository, as_alice):
    scan_now(push(as_alice, "1.1", debian_base(), app_layer(lodash="4.17.21")))
    rows = services.list_findings(repository=repository, reference="1.0")
    fixed_in = {r.package: r.fixed_in_tag for r in rows}
    assert fixed_in["lodash"] == "1.1"
    assert fixed_in["coreutils"] == ""  # every tag still has it


def test_comparing_two_tags_lists_added_and_removed_findings(repository, as_alice):
    scan_now(push(as_alice, "2.0", debian_base(), app_layer(lodash="4.17.21", requests="2.32.0")))
    comparison = services.compare_tags(repository=repository, base="1.0", head="2.0")
    assert comparison.added == []
    assert sorted(r.package for r in comparison.removed) == ["lodash", "requests"]


def test_an_index_is_scanned_per_platform(as_alice, osv_records):
    children = []
    for architecture in ("amd64", "arm64"):
        manifest = push(
            as_alice, f"multi-{architecture}", debian_base(), app_layer(), architecture=architecture
        )
        children.append(
            {
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": manifest.size,
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children,
    }
    response = as_alice.push_manifest(
        "alice/app", "multi", index, "application/vnd.oci.image.index.v1+json"
    )
    assert response.status_code == 201
    scans = scan_now(Manifest.objects.get(digest=response["Docker-Content-Digest"]))
    assert {s.platform for s in scans} == {"linux/amd64", "linux/arm64"}
    report = services.image_vulnerabilities(
        repository=Repository.objects.get(name="alice/app"), reference="multi"
    )
    assert [p.summary["high"] for p in report.platforms] == [1, 1]
    summaries = services.tag_summaries(repository=Repository.objects.get(name="alice/app"))
    assert len(summaries["multi"]) == 2
    page = services.tag_summaries(
        repository=Repository.objects.get(name="alice/app"), tags=["multi"]
    )
    assert list(page) == ["multi"]


def test_a_hostile_layer_fails_its_scan_with_a_reason(as_alice, osv_records):
    manifest = push(as_alice, "bad", gz(tar(File("../../etc/passwd", b"x"))))
    [scan] = scan_now(manifest)
    assert scan.status == ScanStatus.FAILED
    assert "leaves the root" in scan.reason
    assert ImagePackage.objects.filter(scan=scan).count() == 0


def test_a_cataloger_bug_fails_the_scan_and_not_the_worker(as_alice, osv_records, monkeypatch):
    from registry.scanning import catalogers

    def broken(fs):
        raise KeyError("bug")

    monkeypatch.setattr(catalogers, "catalog", broken)
    [scan] = scan_now(push(as_alice, "1.0", debian_base()))
    assert (scan.status, scan.reason) == ("failed", "the scan failed (KeyError)")


def test_text_no_database_can_store_is_replaced_and_the_scan_finishes(as_alice, osv_records):
    # NUL and lone surrogates: JSON escapes in a lockfile or the config, a non-UTF-8 path.
    lock = {"lockfileVersion": 3, "packages": {"node_modules/a\x00b": {"version": "1\ud800"}}}
    layer = gz(
        tar(
            File("srv/package-lock.json", json.dumps(lock).encode()),
            File("srv/\udcff/node_modules/c/package.json", npm_package("c", "2")),
        )
    )
    [scan] = scan_now(push(as_alice, "odd", layer, architecture="amd64\x00\ud800"))
    assert (scan.status, scan.architecture) == ("done", "amd64\ufffd\ufffd")
    packages = ImagePackage.objects.filter(scan=scan).order_by("name")
    assert [(p.name, p.version, p.path) for p in packages] == [
        ("a\ufffdb", "1\ufffd", "/srv/package-lock.json"),
        ("c", "2", "/srv/\ufffd/node_modules/c/package.json"),
    ]


def test_artifacts_that_are_not_images_are_not_scanned(as_alice, db):
    digest = push_helm_chart(as_alice, "alice/chart", "0.1.0")
    assert scan_now(Manifest.objects.get(digest=digest)) == []


def test_queueing_twice_runs_one_scan(as_alice, osv_records):
    manifest = push(as_alice, "1.0", debian_base())
    [first] = scan_now(manifest)
    [second] = scan_now(manifest)
    assert (first.pk, second.attempts) == (second.pk, 1)
    [forced] = scan_now(manifest, force=True)
    assert (forced.status, forced.attempts) == ("done", 2)
    assert ImagePackage.objects.filter(scan=forced).count() == 2


def test_a_redelivered_task_finishes_the_scan_once(as_alice, osv_records):
    from django.test import TestCase

    manifest = push(as_alice, "1.0", debian_base())
    tokens = []
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.queue_scan(manifest=manifest, enqueue=lambda m, t: tokens.append((m, t)))
    manifest_id, token = tokens[0]
    services.scan_image(manifest_id=manifest_id, token=token)
    assert services.scan_image(manifest_id=manifest_id, token=token) is None  # delivered again
    scan = ImageScan.objects.get(digest=manifest.digest)
    assert (scan.status, scan.attempts, scan.packages.count()) == ("done", 1, 2)


def test_new_advisories_rebuild_findings_without_reading_layers(repository, tmp_path):
    record = json.loads((OSV / "GHSA-35jh-r3h4-6jhm.json").read_text())
    record["modified"] = "2030-01-01T00:00:00Z"
    record["withdrawn"] = "2030-01-01T00:00:00Z"
    (tmp_path / "lodash.json").write_text(json.dumps(record))
    advisories.import_advisories(tmp_path)
    assert services.rescan_all() == 1
    report = services.image_vulnerabilities(repository=repository, reference="1.0")
    assert report.platforms[0].summary["high"] == 0


def test_the_sbom_is_cyclonedx_with_a_purl_per_package(repository):
    document = services.sbom(repository=repository, reference="1.0")
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    [image] = document["components"]
    purls = sorted(c["purl"] for c in image["components"])
    assert "pkg:npm/lodash@4.17.20" in purls
    assert "pkg:pypi/requests@2.31.0" not in purls  # Python packages are pkg:python (purl type)
    assert any(p.startswith("pkg:deb/debian/coreutils@9.1-1") for p in purls)


def test_the_sbom_can_be_attached_as_a_referrer(repository, as_alice):
    manifest = Manifest.objects.get(repository=repository, tags__name="1.0")
    stored = services.attach_sbom(repository=repository, reference="1.0")
    response = as_alice.get(f"/v2/alice/app/referrers/{manifest.digest}")
    [descriptor] = response.json()["manifests"]
    assert descriptor["digest"] == stored.digest
    assert descriptor["artifactType"] == services.SBOM_ARTIFACT_TYPE
    layer = json.loads(bytes(stored.body))["layers"][0]["digest"]
    blob = as_alice.get(f"/v2/alice/app/blobs/{layer}")
    assert json.loads(b"".join(blob.streaming_content))["bomFormat"] == "CycloneDX"


def test_unknown_references_raise_the_registry_error(repository):
    from registry.errors import ManifestUnknown

    with pytest.raises(ManifestUnknown):
        services.image_vulnerabilities(repository=repository, reference="nope")


@pytest.mark.django_db(transaction=True)
def test_the_management_command_scans_and_reports(as_alice, capsys):
    from django.core.management import call_command

    advisories.import_advisories(OSV)
    push(as_alice, "1.0", debian_base(), app_layer())
    call_command("scan_images", "alice/app:1.0")
    assert " done " in capsys.readouterr().out
    call_command("scan_images", "--report", "alice/app:1.0")
    document = json.loads(capsys.readouterr().out)
    assert document["platforms"][0]["summary"]["high"] == 1
    assert {f["package"] for f in document["findings"]} == {
        "apt",
        "coreutils",
        "lodash",
        "requests",
    }
