"""Matching real advisories against the exact versions found in real images."""

import pytest

from registry.scanning import matching, versions
from registry.scanning.catalogers import Package
from registry.scanning.models import Advisory


def package(type_, name, version, ecosystem, source="", source_version=""):
    return Package(
        type_, name, version, ecosystem, source or name, source_version or version, 0, "/"
    )


# Versions as Debian bookworm (debootstrap), Alpine 3.19, PyPI, npm and Debian's Go hold them.
BOOKWORM = [
    package("deb", "coreutils", "9.1-1", "Debian:12"),
    package("deb", "apt", "2.6.1", "Debian:12"),
    package("deb", "libapt-pkg6.0", "2.6.1", "Debian:12", "apt"),
    package("deb", "tar", "1.34+dfsg-1.2+deb12u1", "Debian:12"),
    package("deb", "bash", "5.2.15-2+b13", "Debian:12", "bash", "5.2.15-2"),
]


def found(packages):
    hits = matching.match(packages)
    names = Advisory.objects.in_bulk({h.advisory_id for h in hits})
    return {(packages[h.package].name, names[h.advisory_id].osv_id): h.fixed_version for h in hits}


def test_debian_advisories_match_the_source_package_of_each_binary(osv_records):
    hits = found(BOOKWORM)
    assert ("coreutils", "DEBIAN-CVE-2016-2781") in hits
    assert ("apt", "DEBIAN-CVE-2011-3374") in hits
    assert ("libapt-pkg6.0", "DEBIAN-CVE-2011-3374") in hits  # source package apt


def test_a_version_at_the_fix_is_not_affected(osv_records):
    assert not any(name == "tar" for name, _ in found(BOOKWORM))
    older = [package("deb", "tar", "1.34+dfsg-1.2", "Debian:12")]
    assert found(older) == {("tar", "DEBIAN-CVE-2023-39804"): "1.34+dfsg-1.2+deb12u1"}


def test_an_advisory_for_another_release_does_not_apply(osv_records):
    assert found([package("deb", "coreutils", "9.1-1", "Debian:13")]) == {}


def test_pypi_advisories_match_normalized_names_below_the_fix(osv_records):
    packages = [
        package("python", "requests", "2.31.0", "PyPI"),
        package("python", "Jinja2", "3.1.2", "PyPI", "jinja2"),
        package("python", "Jinja2", "3.1.3", "PyPI", "jinja2"),
    ]
    assert found(packages) == {
        ("requests", "GHSA-9wx4-h78v-vm56"): "2.32.0",
        ("Jinja2", "GHSA-h5c8-rqwp-cp95"): "3.1.3",
    }


def test_npm_advisories_with_several_ranges(osv_records):
    packages = [
        package("npm", "lodash", "4.17.20", "npm"),
        package("npm", "minimist", "1.2.5", "npm"),
        package("npm", "minimist", "0.2.4", "npm"),
        package("npm", "minimist", "0.1.0", "npm"),
    ]
    hits = matching.match(packages)
    fixed = {(packages[h.package].version, h.fixed_version) for h in hits}
    assert fixed == {("4.17.20", "4.17.21"), ("1.2.5", "1.2.6"), ("0.1.0", "0.2.4")}


def test_alpine_advisories_match_the_origin_with_apk_order(osv_records):
    packages = [
        package("apk", "libcrypto3", "3.1.4-r1", "Alpine:v3.19", "openssl"),
        package("apk", "libssl3", "3.1.4-r5", "Alpine:v3.19", "openssl"),
    ]
    assert found(packages) == {("libcrypto3", "ALPINE-CVE-2024-0727"): "3.1.4-r5"}


def test_go_advisories_match_the_toolchain_with_semver(osv_records):
    packages = [
        package("golang", "stdlib", "1.19.8", "Go"),
        package("golang", "stdlib", "1.20.4", "Go"),
        package("golang", "stdlib", "1.20.3", "Go"),
    ]
    hits = matching.match(packages)
    assert {(packages[h.package].version, h.fixed_version) for h in hits} == {
        ("1.19.8", "1.19.9"),
        ("1.20.3", "1.20.4"),
    }


def test_a_withdrawn_advisory_matches_nothing(osv_records):
    from django.utils import timezone

    Advisory.objects.filter(osv_id="GHSA-35jh-r3h4-6jhm").update(withdrawn=timezone.now())
    assert found([package("npm", "lodash", "4.17.20", "npm")]) == {}


@pytest.mark.parametrize(
    ("version", "events", "expected"),
    [
        ("1.5", [{"introduced": "1.0"}, {"last_affected": "1.5"}], (True, "")),
        ("1.6", [{"introduced": "1.0"}, {"last_affected": "1.5"}], (False, "")),
        ("0.9", [{"introduced": "1.0"}, {"fixed": "2.0"}], (False, "")),
        ("2.5", [{"introduced": "0"}, {"limit": "2.0"}], (False, "")),
        ("1.10.0", [{"introduced": "0"}, {"fixed": "1.9.0"}], (False, "")),
        ("1.8.0", [{"fixed": "1.9.0"}, {"introduced": "0"}], (True, "1.9.0")),
    ],
)
def test_osv_range_events_in_any_order(version, events, expected):
    assert matching.evaluate(versions.SEMVER, version, events) == expected


def test_never_string_comparison():
    # "1.10.0" < "1.9.0" as strings; a fixed 1.9.0 does not cover 1.10.0.
    assert matching.evaluate(versions.SEMVER, "1.10.0", [{"introduced": "1.9.0"}]) == (True, "")
    assert (
        matching.evaluate(versions.DPKG, "1:1.0", [{"introduced": "0"}, {"fixed": "2.0"}])[0]
        is False
    )
