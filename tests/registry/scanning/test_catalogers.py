"""Catalogers find what each package database and manifest says, with the layer that brought it."""

import json
import shutil
from pathlib import Path

import pytest

from registry.scanning import catalogers
from tests.conftest import require_tool

from .kit import (
    ALPINE_OS_RELEASE,
    DEBIAN_OS_RELEASE,
    Dir,
    File,
    apk_entry,
    apply,
    dpkg_entry,
    gz,
    npm_package,
    python_metadata,
    rpm_header_blob,
    rpmdb,
    tar,
)


def found(*layers):
    dist, packages = catalogers.catalog(apply(*layers))
    return dist, {(p.type, p.name): p for p in packages}


def test_dpkg_status_gives_binary_and_source_packages():
    status = (
        dpkg_entry("zlib1g", "1:1.2.13.dfsg-1", "zlib")
        + "\n"
        + dpkg_entry("bash", "5.2.15-2+b13", "bash (5.2.15-2)")
        + "\n"
        + dpkg_entry("coreutils", "9.1-1")
        + "\nPackage: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n"
    )
    dist, packages = found(
        tar(File("etc/os-release", DEBIAN_OS_RELEASE), File("var/lib/dpkg/status", status.encode()))
    )
    assert dist.id == "debian"
    assert ("deb", "removed") not in packages
    zlib = packages[("deb", "zlib1g")]
    assert (zlib.ecosystem, zlib.source_name, zlib.source_version) == (
        "Debian:12",
        "zlib",
        "1:1.2.13.dfsg-1",
    )
    bash = packages[("deb", "bash")]
    assert (bash.source_name, bash.source_version) == ("bash", "5.2.15-2")
    assert packages[("deb", "coreutils")].source_name == "coreutils"
    assert bash.purl == "pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12"


def test_a_package_is_attributed_to_the_layer_that_installed_it():
    base = dpkg_entry("libc6", "2.36-9+deb12u4", "glibc")
    later = base + "\n" + dpkg_entry("curl", "7.88.1-10+deb12u5")
    _, packages = found(
        tar(File("etc/os-release", DEBIAN_OS_RELEASE), File("var/lib/dpkg/status", base.encode())),
        tar(File("usr/bin/x", b"x")),
        tar(File("var/lib/dpkg/status", later.encode())),
    )
    assert packages[("deb", "libc6")].layer == 0
    assert packages[("deb", "curl")].layer == 2


def test_distroless_status_d_files_are_read():
    entry = dpkg_entry("libssl3", "3.0.11-1~deb12u2", "openssl").encode()
    _, packages = found(
        tar(
            File("etc/os-release", DEBIAN_OS_RELEASE),
            File("var/lib/dpkg/status.d/libssl3", entry),
            File("var/lib/dpkg/status.d/libssl3.md5sums", b"abc  usr/lib/x\n"),
        )
    )
    assert packages[("deb", "libssl3")].source_name == "openssl"
    assert packages[("deb", "libssl3")].path == "/var/lib/dpkg/status.d/libssl3"


def test_apk_installed_gives_packages_and_their_origin():
    installed = (
        apk_entry("libcrypto3", "3.1.4-r1", "openssl")
        + "\n"
        + apk_entry("musl", "1.2.4_git20230717-r4")
    )
    _, packages = found(
        tar(
            File("etc/os-release", ALPINE_OS_RELEASE),
            File("lib/apk/db/installed", installed.encode()),
        )
    )
    crypto = packages[("apk", "libcrypto3")]
    assert (crypto.ecosystem, crypto.source_name, crypto.version) == (
        "Alpine:v3.19",
        "openssl",
        "3.1.4-r1",
    )
    assert packages[("apk", "musl")].source_name == "musl"
    assert crypto.purl.startswith("pkg:apk/alpine/libcrypto3@3.1.4-r1")


def test_the_rpm_sqlite_database_is_read_in_memory():
    database = rpmdb(
        rpm_header_blob(
            name="openssl-libs",
            version="3.0.7",
            release="27.el9",
            epoch=1,
            arch="x86_64",
            sourcerpm="openssl-3.0.7-27.el9.src.rpm",
        ),
        rpm_header_blob(name="bash", version="5.1.8", release="9.el9", arch="x86_64"),
    )
    os_release = b'ID="rocky"\nVERSION_ID="9.3"\n'
    _, packages = found(
        tar(File("etc/os-release", os_release), File("var/lib/rpm/rpmdb.sqlite", database))
    )
    openssl = packages[("rpm", "openssl-libs")]
    assert (openssl.version, openssl.source_name, openssl.ecosystem) == (
        "1:3.0.7-27.el9",
        "openssl",
        "Rocky Linux:9",
    )
    assert packages[("rpm", "bash")].version == "5.1.8-9.el9"


def test_a_broken_rpm_database_gives_nothing_and_no_error():
    _, packages = found(tar(File("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0garbage")))
    assert packages == {}


def test_python_dist_info_and_egg_info_are_read():
    site = "usr/local/lib/python3.11/site-packages"
    _, packages = found(
        tar(
            File(f"{site}/requests.dist-info/METADATA", python_metadata("requests", "2.31.0")),
            File(f"{site}/Jinja2-3.1.2.dist-info/METADATA", python_metadata("Jinja2", "3.1.2")),
            File(f"{site}/old_thing.egg-info/PKG-INFO", python_metadata("Old_Thing", "0.3")),
            File(f"{site}/flat.egg-info", python_metadata("flat", "1.0")),
        )
    )  # fmt: skip
    assert packages[("python", "requests")].version == "2.31.0"
    assert packages[("python", "Jinja2")].source_name == "jinja2"
    assert packages[("python", "Old_Thing")].source_name == "old-thing"
    assert packages[("python", "flat")].ecosystem == "PyPI"


def test_npm_lockfiles_and_node_modules_are_read_once_each():
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/lodash": {"version": "4.17.20"},
            "node_modules/@babel/core": {"version": "7.22.0"},
            "node_modules/jest": {"version": "29.0.0", "dev": True},
        },
    }
    _, packages = found(
        tar(
            File("app/package-lock.json", json.dumps(lock).encode()),
            File("app/package.json", npm_package("app", "1.0.0")),
            File("app/node_modules/lodash/package.json", npm_package("lodash", "4.17.20")),
            File(
                "app/node_modules/a/node_modules/minimist/package.json",
                npm_package("minimist", "1.2.5"),
            ),
        )
    )  # fmt: skip
    assert ("npm", "app") not in packages  # the project itself is no dependency
    assert ("npm", "jest") not in packages
    assert packages[("npm", "lodash")].path == "/app/node_modules/lodash/package.json"
    assert packages[("npm", "@babel/core")].path == "/app/package-lock.json"
    assert packages[("npm", "minimist")].version == "1.2.5"
    assert packages[("npm", "@babel/core")].purl == "pkg:npm/%40babel/core@7.22.0"


def test_npm_lockfile_version_1_nests_dependencies():
    lock = {
        "lockfileVersion": 1,
        "dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}}},
    }
    _, packages = found(tar(File("srv/package-lock.json", json.dumps(lock).encode())))
    assert {name for _, name in packages} == {"a", "b"}


def go_buildinfo_blob(go_version: str, modinfo: str) -> bytes:
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    info = b"\x30" * 16 + modinfo.encode() + b"\n" + b"\xf9" * 16
    head = catalogers.GO_BUILDINFO_MAGIC + bytes([8, 2]) + bytes(16)
    version = go_version.encode()
    return head + varint(len(version)) + version + varint(len(info)) + info


def test_go_build_information_lists_modules_and_the_toolchain():
    modinfo = "\n".join(
        [
            "path\texample.com/cmd/app",
            "mod\texample.com\tv1.0.0\th1:x=",
            "dep\tgolang.org/x/net\tv0.7.0\th1:y=",
            "dep\tgithub.com/old/dep\tv1.0.0\th1:z=",
            "=>\tgithub.com/fork/dep\tv1.0.1\th1:w=",
        ]
    )
    binary = b"\x7fELF" + b"\0" * 70_000 + go_buildinfo_blob("go1.21.3", modinfo) + b"\0" * 5000
    _, packages = found(tar(File("usr/local/bin/app", binary, 0o755)))
    assert packages[("golang", "stdlib")].version == "1.21.3"
    assert packages[("golang", "golang.org/x/net")].version == "v0.7.0"
    assert packages[("golang", "github.com/old/dep")].version == "v1.0.1"


def test_a_real_go_binary_gives_its_toolchain_version():
    require_tool("umoci")
    binary = Path(shutil.which("umoci")).read_bytes()
    _, packages = found(gz(tar(File("usr/bin/umoci", binary, 0o755))))
    stdlib = packages[("golang", "stdlib")]
    assert stdlib.version.count(".") == 2
    assert stdlib.path == "/usr/bin/umoci"


def test_non_executables_are_not_searched_for_go_information():
    binary = b"\x7fELF" + go_buildinfo_blob("go1.21.3", "path\tx")
    _, packages = found(tar(File("usr/lib/libx.so", binary, 0o644)))
    assert packages == {}


@pytest.mark.parametrize(
    ("go_version", "expected"),
    [("go1.21.3", "1.21.3"), ("go1.22", "1.22.0"), ("go1.21rc2", "1.21.0-rc.2"), ("devel", "")],
)
def test_go_toolchain_versions_become_what_go_advisories_use(go_version, expected):
    assert catalogers._go_toolchain_version(go_version) == expected


def test_a_deleted_package_database_catalogs_nothing():
    _, packages = found(
        tar(Dir("var/lib/dpkg"), File("var/lib/dpkg/status", dpkg_entry("x", "1").encode())),
        tar(File("var/lib/dpkg/.wh.status")),
    )
    assert packages == {}
