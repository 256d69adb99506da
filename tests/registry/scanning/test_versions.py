"""Version order per ecosystem, from each tool's own test vectors. No database."""

import shutil
import subprocess

import pytest

from registry.scanning import versions
from registry.scanning.versions import APK, DPKG, PEP440, RPM, SEMVER

# dpkg's own table (scripts/t/Dpkg_Version.t): a, b, sign of compare(a, b).
DPKG_VECTORS = [
    ("1.0-1", "2.0-2", -1),
    ("2.2~rc-4", "2.2-1", -1),
    ("2.2-1", "2.2~rc-4", 1),
    ("1.0000-1", "1.0-1", 0),
    ("1", "0:1", 0),
    ("0", "0:0-0", 0),
    ("2:2.5", "1:7.5", 1),
    ("1:0foo", "0foo", 1),
    ("0:0foo", "0foo", 0),
    ("0foo", "0foo", 0),
    ("0foo-", "0foo", 0),
    ("0foo-", "0foo-0", 0),
    ("0foo", "0fo", 1),
    ("0foo-", "0foo+", -1),
    ("0foo~1", "0foo", -1),
    ("0foo~foo+Bar", "0foo~foo+bar", -1),
    ("0foo~~", "0foo~", -1),
    ("1~", "1", -1),
    ("12345+that-really-is-some-ver-0", "12345+that-really-is-some-ver-10", -1),
    ("0foo-0", "0foo-01", -1),
    ("0foo.bar", "0foobar", 1),
    ("0foo.bar", "0foo1bar", 1),
    ("0foo.bar", "0foo0bar", 1),
    ("0foo1bar-1", "0foobar-1", -1),
    ("0foo2.0", "0foo2", 1),
    ("0foo2.0.0", "0foo2.10.0", -1),
    ("0foo2.0", "0foo2.0.0", -1),
    ("0foo2.0", "0foo2.10", -1),
    ("0foo2.1", "0foo2.10", -1),
    ("1.09", "1.9", 0),
    ("1.0.8+nmu1", "1.0.8", 1),
    ("3.11", "3.10+nmu1", 1),
    ("0.9j-20080306-4", "0.9i-20070324-2", 1),
    ("1.2.0~b7-1", "1.2.0~b6-1", 1),
    ("1.011-1", "1.06-2", 1),
    ("0.0.9+dfsg1-1", "0.0.8+dfsg1-3", 1),
    ("4.6.99+svn6582-1", "4.6.99+svn6496-1", 1),
    ("53", "52", 1),
    ("0.9.9~pre122-1", "0.9.9~pre111-1", 1),
    ("2:2.3.2-2+lenny2", "2:2.3.2-2", 1),
    ("1:3.8.1-1", "3.8.GA-1", 1),
    ("1.0.1+gpl-1", "1.0.1-2", 1),
    ("1a", "1000a", -1),
    ("-0.6.5", "0.9.1", -1),
    # dpkg's C tests (lib/dpkg/t/t-version.c)
    ("0:0-00", "0:00-0", 0),
    ("1:2-3", "1:2-3", 0),
    ("0:a-0", "0:b-0", -1),
    ("0:0-a", "0:0-b", -1),
    # versions found in Debian bookworm, where a string comparison gets it wrong
    ("252.39-1~deb12u2", "252.39-1", -1),
    ("1:1.2.13.dfsg-1", "1.2.13.dfsg-2", 1),
    ("2.36-9+deb12u10", "2.36-9+deb12u9", 1),
]

# apk-tools' own table (test/version.data): a, op, b.
APK_VECTORS = [
    ("2.34", ">", "0.1.0_alpha"),
    ("23_foo", ">", "4_beta"),
    ("1.0", "<", "1.0bc"),
    ("0.1.0_alpha", "=", "0.1.0_alpha"),
    ("0.1.0_alpha2", ">", "0.1.0_alpha"),
    ("0.1.0_alpha", "<", "2.2.39-r1"),
    ("1.0.4-r3", "<", "1.0.4-r4"),
    ("1.1", ">", "1.1_alpha1"),
    ("1.2.1", ">", "1.2"),
    ("1.3_alpha2", "<", "1.3_alpha3"),
    ("2.3.0b-r1", "<", "2.3.0b-r2"),
    ("0.12.3", ">", "0.12"),
    ("3.1_p16", "<", "3.1_p17"),
    ("1.06-r6", "<", "006"),
    ("006", ">", "1.0.0"),
    ("1.2.2-r1", ">", "1.2.2"),
    ("20050718-r1", "<", "20050718-r2"),
    ("0.99.3.20040818", ">", "0.7"),
    ("2.5.1-r8", "<", "2.5.1a-r1"),
    ("3.0.20060720", "<", "20060720"),
    ("2.6.15.20060110", "<", "2.6.16.20060323"),
    ("3.9_pre20060124", ">", "0.01"),
    ("0.10.0", "<", "0.10.1_rc1"),
    ("4.5_p1-r1", ">", "4.5_p1"),
    ("2.9.11_pre20051101-r3", ">", "2.9.11_pre20051101"),
    ("0.1.0_alpha_pre2", "<", "0.1.0_alpha"),
    ("1.0.0_pre20191002222144-r0", "<", "1.0.0_pre20210530193627-r0"),
    ("6.0_pre1", "<", "6.0"),
    ("6.0_p1", ">", "6.0"),
    ("8.2.0", "<", "8.2.001"),
    ("8.2.0015", "<", "8.2.002"),
    ("1.0~1234", "<", "1.0~2345"),
    ("1.0~1234-r1", ">", "1.0~1234-r0"),
    ("3.1.4-r1", "<", "3.1.4-r5"),
    ("1.36.1-r15", "<", "1.36.1-r16"),
]

# rpm's own table (tests/rpmvercmp.at): a, b, sign.
RPM_VECTORS = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0.1a", -1),
    ("5.5p1", "5.5p10", -1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10.1", -1),
    ("xyz.4", "8", -1),
    ("1b.fc17", "1.fc17", -1),
    ("10.0001", "10.1", 0),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1:1.0-1", "2.0-1", 1),
    ("3.0.7-27.el9", "3.0.7-28.el9", -1),
]

PEP440_VECTORS = [
    ("1.0", "1.0.0", 0),
    ("1.0rc1", "1.0", -1),
    ("1.0.post1", "1.0", 1),
    ("1.0.dev1", "1.0a1", -1),
    ("2.31.0", "2.32.0", -1),
    ("1!0.1", "2.0", 1),
    ("3.1.10", "3.1.9", 1),
]

SEMVER_VECTORS = [
    ("1.0.0-alpha", "1.0.0-alpha.1", -1),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
    ("1.0.0-beta.2", "1.0.0-beta.11", -1),
    ("1.0.0-rc.1", "1.0.0", -1),
    ("1.0.0+build.5", "1.0.0", 0),
    ("v0.0.0-20210101000000-abcdef123456", "v0.1.0", -1),
    ("4.17.20", "4.17.21", -1),
    ("1.10.0", "1.9.0", 1),
]


def sign(value: int) -> int:
    return (value > 0) - (value < 0)


@pytest.mark.parametrize(("a", "b", "expected"), DPKG_VECTORS)
def test_dpkg_orders_versions_as_dpkg_does(a, b, expected):
    assert sign(versions.compare(DPKG, a, b)) == expected
    assert sign(versions.compare(DPKG, b, a)) == -expected


def test_dpkg_order_agrees_with_the_installed_dpkg():
    if shutil.which("dpkg") is None:
        pytest.skip("needs dpkg")
    for a, b, expected in DPKG_VECTORS:
        op = {-1: "lt", 0: "eq", 1: "gt"}[expected]
        argv = ["dpkg", "--compare-versions", "--", a, op, b]
        result = subprocess.run(argv, capture_output=True, check=False)
        assert result.returncode in (0, 2), (a, op, b)  # 2: this dpkg refuses the syntax


@pytest.mark.parametrize(("a", "op", "b"), APK_VECTORS)
def test_apk_orders_versions_as_apk_does(a, op, b):
    expected = {"<": -1, "=": 0, ">": 1}[op]
    assert sign(versions.compare(APK, a, b)) == expected
    assert sign(versions.compare(APK, b, a)) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), RPM_VECTORS)
def test_rpm_orders_versions_as_rpmvercmp_does(a, b, expected):
    assert sign(versions.compare(RPM, a, b)) == expected
    assert sign(versions.compare(RPM, b, a)) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), PEP440_VECTORS)
def test_pypi_versions_follow_pep_440(a, b, expected):
    assert sign(versions.compare(PEP440, a, b)) == expected


@pytest.mark.parametrize(("a", "b", "expected"), SEMVER_VECTORS)
def test_npm_and_go_versions_follow_semver_precedence(a, b, expected):
    assert sign(versions.compare(SEMVER, a, b)) == expected
    assert sign(versions.compare(SEMVER, b, a)) == -expected


@pytest.mark.parametrize(
    ("scheme", "value"),
    [(DPKG, "a:1.0"), (DPKG, ""), (PEP440, "not a version"), (SEMVER, "1.0.0.0.0")],
)
def test_a_version_a_scheme_cannot_order_is_refused(scheme, value):
    with pytest.raises(versions.InvalidVersion):
        versions.compare(scheme, value, "1.0")


def test_ecosystems_map_to_their_schemes():
    assert versions.scheme_for("Debian:12") == DPKG
    assert versions.scheme_for("Alpine:v3.19") == APK
    assert versions.scheme_for("PyPI") == PEP440
    assert versions.scheme_for("Go") == SEMVER
    assert versions.scheme_for("Hackage") is None
