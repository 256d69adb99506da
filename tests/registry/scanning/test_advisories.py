"""Importing OSV records: from a directory or a zip, updated in place, scored from CVSS."""

import json
import shutil
import zipfile

import pytest
from django.core.management import call_command

from registry.scanning import advisories
from registry.scanning.models import Advisory, AffectedPackage, Severity

from .conftest import OSV


def test_a_directory_of_records_is_imported(osv_records):
    assert (osv_records.created, osv_records.skipped) == (9, 0)
    minimist = Advisory.objects.get(osv_id="GHSA-xvch-5gv4-984h")
    assert minimist.aliases == ["CVE-2021-44906"]
    assert minimist.url == "https://nvd.nist.gov/vuln/detail/CVE-2021-44906"
    assert AffectedPackage.objects.get(advisory=minimist).ranges[1]["events"][1] == {
        "fixed": "1.2.6"
    }


@pytest.mark.parametrize(
    ("osv_id", "severity", "score"),
    [
        ("GHSA-xvch-5gv4-984h", Severity.CRITICAL, 9.8),
        ("GHSA-35jh-r3h4-6jhm", Severity.HIGH, 7.2),
        ("GHSA-9wx4-h78v-vm56", Severity.MEDIUM, 5.6),
        ("GHSA-h5c8-rqwp-cp95", Severity.MEDIUM, 5.4),
        ("DEBIAN-CVE-2016-2781", Severity.UNKNOWN, None),
    ],
)
def test_severity_is_scored_from_the_cvss_vector(osv_records, osv_id, severity, score):
    advisory = Advisory.objects.get(osv_id=osv_id)
    assert (advisory.severity, advisory.cvss_score) == (severity, score)


def test_debian_records_are_stored_per_release_and_source_package(osv_records):
    rows = AffectedPackage.objects.filter(advisory__osv_id="DEBIAN-CVE-2016-2781")
    assert sorted(rows.values_list("ecosystem", "release", "name")) == [
        ("Debian", "11", "coreutils"),
        ("Debian", "12", "coreutils"),
    ]
    assert Advisory.objects.get(osv_id="DEBIAN-CVE-2016-2781").aliases == ["CVE-2016-2781"]


def test_a_zip_of_the_same_records_changes_nothing(osv_records, tmp_path):
    archive = tmp_path / "osv.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in OSV.glob("*.json"):
            out.write(path, f"all/{path.name}")
    run = advisories.import_advisories(archive)
    assert (run.created, run.updated, run.unchanged) == (0, 0, 9)


def test_a_newer_record_updates_the_advisory_in_place(osv_records, tmp_path):
    before = Advisory.objects.get(osv_id="GHSA-35jh-r3h4-6jhm")
    record = json.loads((OSV / "GHSA-35jh-r3h4-6jhm.json").read_text())
    record["modified"] = "2025-06-01T00:00:00Z"
    record["affected"][0]["ranges"][0]["events"][1] = {"fixed": "4.17.22"}
    (tmp_path / "lodash.json").write_text(json.dumps(record))
    run = advisories.import_advisories(tmp_path)
    after = Advisory.objects.get(osv_id="GHSA-35jh-r3h4-6jhm")
    assert (run.updated, after.pk) == (1, before.pk)
    assert AffectedPackage.objects.get(advisory=after).ranges[0]["events"][1] == {
        "fixed": "4.17.22"
    }


def test_an_older_record_never_replaces_a_newer_one(osv_records, tmp_path):
    record = json.loads((OSV / "GHSA-35jh-r3h4-6jhm.json").read_text())
    record["modified"], record["summary"] = "2020-01-01T00:00:00Z", "stale"
    (tmp_path / "lodash.json").write_text(json.dumps(record))
    assert advisories.import_advisories(tmp_path).unchanged == 1
    assert (
        Advisory.objects.get(osv_id="GHSA-35jh-r3h4-6jhm").summary == "Command Injection in lodash"
    )


def test_files_that_are_not_records_are_skipped(db, tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "no-modified.json").write_text('{"id": "X-1"}')
    shutil.copy(OSV / "GO-2023-1751.json", tmp_path)
    run = advisories.import_advisories(tmp_path)
    assert (run.created, run.skipped) == (1, 3)


def test_the_management_command_imports_and_reports(db, capsys):
    call_command("import_advisories", str(OSV))
    assert "9 created" in capsys.readouterr().out
    assert advisories.database_age() is not None


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "critical",
        ),
        ([{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}], "high"),
        (
            [
                {
                    "type": "CVSS_V4",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N",
                }
            ],
            "medium",
        ),
        ([{"type": "Ubuntu", "score": "negligible"}], "low"),
        ([{"type": "CVSS_V3", "score": "not a vector"}], "unknown"),
    ],
)
def test_severity_from_each_kind_of_score(entries, expected):
    assert advisories.severity_of(entries, None)[0] == expected
