"""Package catalogers: what an image's filesystem says is installed in it.

Each cataloger reads files the layer reader kept (see `SELECTOR`) from the final
`Filesystem` and returns `Package`s with the ecosystem advisories use (OSV's names: "Debian:12",
"Alpine:v3.19", "PyPI", "npm", "Go"), the name advisories match on (`source_name`: Debian's
source package, Alpine's origin, RPM's source RPM) and the index of the layer that brought it.

- dpkg: `var/lib/dpkg/status` and distroless' `var/lib/dpkg/status.d/*`
- apk: `lib/apk/db/installed`
- RPM: the SQLite database `rpmdb.sqlite` (RPM 4.16+), read in memory
- Python: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` (or an `.egg-info` file)
- npm: `package-lock.json` (lockfile versions 1 to 3) and `node_modules/**/package.json`
- Go: the build information Go 1.18+ embeds in executables (modules and the toolchain)

Package databases are rewritten by every layer that installs something; the layer that brought
a package is the first one from which it stays in the database unchanged.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from email.parser import HeaderParser
from urllib.parse import quote

from ..text import is_storable, storable
from . import layers

DEB, APK, RPM, PYTHON, NPM, GO = "deb", "apk", "rpm", "python", "npm", "golang"

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
RPM_DATABASES = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
ALPINE_RELEASE = "etc/alpine-release"
DATABASES = frozenset({DPKG_STATUS, APK_INSTALLED, *RPM_DATABASES})
_KEPT = frozenset({*DATABASES, *OS_RELEASE, ALPINE_RELEASE})
_NODE_PACKAGE = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/]+/package\.json$")
MAX_RPM_PACKAGES = 100_000


_TEXT_FIELDS = ("name", "version", "ecosystem", "source_name", "source_version", "path", "arch")


@dataclass(frozen=True, slots=True)
class Package:
    type: str  # deb, apk, rpm, python, npm, golang (the purl types)
    name: str
    version: str
    ecosystem: str  # OSV ecosystem, with the distribution release where there is one
    source_name: str
    source_version: str
    layer: int
    path: str  # the file that says so, from the root
    arch: str = ""
    distro: str = ""  # purl qualifier for OS packages, e.g. "debian-12"

    @property
    def purl(self) -> str:
        namespace = {DEB: "debian", APK: "alpine", RPM: ""}.get(self.type, "")
        if self.type == DEB and self.ecosystem.startswith("Ubuntu"):
            namespace = "ubuntu"
        name = self.name
        if self.type == NPM and name.startswith("@"):
            scope, _, rest = name.partition("/")
            namespace, name = quote(scope, safe=""), rest
        elif self.type == GO and "/" in name:
            namespace, _, name = name.rpartition("/")
        prefix = f"pkg:{self.type}/" + (f"{namespace}/" if namespace else "")
        text = f"{prefix}{quote(name, safe='')}@{quote(self.version, safe='')}"
        qualifiers = []
        if self.arch:
            qualifiers.append(f"arch={quote(self.arch, safe='')}")
        if self.distro:
            qualifiers.append(f"distro={quote(self.distro, safe='')}")
        return text + ("?" + "&".join(qualifiers) if qualifiers else "")


# -- what the layer reader keeps ----------------------------------------------------------------


def _keep(path: str) -> bool:
    name = path.rpartition("/")[2]
    if name == "METADATA":
        return path.endswith(".dist-info/METADATA")
    if name == "PKG-INFO":
        return path.endswith(".egg-info/PKG-INFO")
    if name == "package.json":
        return "node_modules/" in path and _NODE_PACKAGE.search(path) is not None
    if name == "package-lock.json":
        return "node_modules/" not in path
    if name.endswith(".egg-info"):
        return True
    if path in _KEPT:
        return True
    return path.startswith(DPKG_STATUS_D) and not name.endswith(".md5sums")


def _inspect(path: str, entry: layers.Entry, limit: int) -> object:
    return go_buildinfo(entry, limit)


SELECTOR = layers.Selector(keep=_keep, history=DATABASES.__contains__, inspect=_inspect)


# -- the distribution ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Distribution:
    id: str = ""  # os-release ID: debian, ubuntu, alpine, rhel, ...
    version_id: str = ""
    name: str = ""

    def ecosystem(self, base: str) -> str:
        version = self.version_id
        if base == "Alpine":
            parts = version.split(".")
            return f"Alpine:v{parts[0]}.{parts[1]}" if len(parts) >= 2 else "Alpine"
        if base in ("Red Hat", "Rocky Linux", "AlmaLinux"):
            version = version.split(".")[0]
        return f"{base}:{version}" if version else base

    @property
    def purl_distro(self) -> str:
        return f"{self.id}-{self.version_id}" if self.id and self.version_id else self.id


_RPM_ECOSYSTEMS = {
    "rhel": "Red Hat",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "opensuse-leap": "openSUSE",
    "sles": "SUSE",
    "mageia": "Mageia",
    "openEuler": "openEuler",
}


def distribution(fs: layers.Filesystem) -> Distribution:
    for path in OS_RELEASE:
        data = fs.read(path)
        if data is None:
            continue
        fields = {}
        for line in data.decode("utf-8", "replace").splitlines():
            key, equals, value = line.partition("=")
            if equals:
                fields[key.strip()] = value.strip().strip("\"'")
        return Distribution(
            fields.get("ID", ""), fields.get("VERSION_ID", ""), fields.get("PRETTY_NAME", "")
        )
    alpine = fs.read(ALPINE_RELEASE)
    if alpine is not None:
        return Distribution("alpine", alpine.decode("ascii", "replace").strip(), "Alpine Linux")
    return Distribution()


# -- control files (dpkg and apk) ---------------------------------------------------------------


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    """RFC 822-style paragraphs; continuation lines are dropped (no field needed spans them)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif line[0] in " \t":
            continue
        else:
            key, colon, value = line.partition(":")
            if colon:
                fields[key.strip()] = value.strip()
    if fields:
        yield fields


def _first_layers(versions: list[tuple[int, bytes]], identities) -> dict[tuple[str, str], int]:
    """For each package in the last version of a database: the layer it dates from.

    `identities(data)` lists the (name, version) pairs one version of the database holds.
    """
    since: dict[tuple[str, str], int] = {}
    for layer, data in versions:
        present = set(identities(data))
        since = {key: since.get(key, layer) for key in present}
    return since


def _dpkg_records(data: bytes, *, require_status: bool = True) -> Iterator[dict[str, str]]:
    for fields in _paragraphs(data.decode("utf-8", "replace")):
        status = fields.get("Status", "")
        if require_status or status:
            words = status.split()
            if len(words) < 3 or words[2] != "installed":
                continue
        if fields.get("Package") and fields.get("Version"):
            yield fields


def _dpkg_identities(data: bytes) -> Iterator[tuple[str, str]]:
    for fields in _dpkg_records(data):
        yield fields["Package"], fields["Version"]


def _dpkg_package(fields: dict[str, str], dist: Distribution, layer: int, path: str) -> Package:
    source, source_version = fields["Package"], fields["Version"]
    if fields.get("Source"):
        match = re.fullmatch(r"(\S+)(?:\s+\((\S+)\))?", fields["Source"])
        if match:
            source = match[1]
            source_version = match[2] or source_version
    base = "Ubuntu" if dist.id == "ubuntu" else "Debian"
    return Package(
        DEB,
        fields["Package"],
        fields["Version"],
        dist.ecosystem(base),
        source,
        source_version,
        layer,
        "/" + path,
        fields.get("Architecture", ""),
        dist.purl_distro,
    )


def catalog_dpkg(fs: layers.Filesystem, dist: Distribution) -> list[Package]:
    packages = []
    status = fs.resolve(DPKG_STATUS)
    if status is not None and fs.nodes[status].data is not None:
        versions = fs.history.get(status) or [(fs.nodes[status].layer, fs.nodes[status].data)]
        since = _first_layers(versions, _dpkg_identities)
        for fields in _dpkg_records(versions[-1][1]):
            layer = since.get((fields["Package"], fields["Version"]), versions[-1][0])
            packages.append(_dpkg_package(fields, dist, layer, DPKG_STATUS))
    for path, node in fs.files():
        if path.startswith(DPKG_STATUS_D) and node.data is not None:
            for fields in _dpkg_records(node.data, require_status=False):
                packages.append(_dpkg_package(fields, dist, node.layer, path))
    return packages


def _apk_identities(data: bytes) -> Iterator[tuple[str, str]]:
    for fields in _paragraphs(data.decode("utf-8", "replace")):
        if fields.get("P") and fields.get("V"):
            yield fields["P"], fields["V"]


def catalog_apk(fs: layers.Filesystem, dist: Distribution) -> list[Package]:
    path = fs.resolve(APK_INSTALLED)
    if path is None or fs.nodes[path].data is None:
        return []
    node = fs.nodes[path]
    versions = fs.history.get(path) or [(node.layer, node.data)]
    since = _first_layers(versions, _apk_identities)
    packages = []
    for fields in _paragraphs(versions[-1][1].decode("utf-8", "replace")):
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            continue
        packages.append(
            Package(
                APK,
                name,
                version,
                dist.ecosystem("Alpine"),
                fields.get("o") or name,
                version,
                since.get((name, version), versions[-1][0]),
                "/" + APK_INSTALLED,
                fields.get("A", ""),
                dist.purl_distro,
            )
        )
    return packages


# -- RPM ----------------------------------------------------------------------------------------

_RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1022: "arch"}
_RPM_SOURCERPM = 1044
_RPM_STRING, _RPM_INT32, _RPM_I18NSTRING, _RPM_STRING_ARRAY = 6, 4, 9, 8


def rpm_header(blob: bytes) -> dict[str, str]:
    """The fields Berth needs from one RPM header (as rpmdb.sqlite stores it: no lead)."""
    if len(blob) < 8:
        raise ValueError("short RPM header")
    count, data_length = struct.unpack(">II", blob[:8])
    start = 8 + count * 16
    if count > 100_000 or start + data_length > len(blob):
        raise ValueError("malformed RPM header")
    store = blob[start : start + data_length]
    fields: dict[str, str] = {}
    for index in range(count):
        tag, kind, offset, _ = struct.unpack(">IIII", blob[8 + index * 16 : 24 + index * 16])
        if (tag not in _RPM_TAGS and tag != _RPM_SOURCERPM) or offset >= len(store):
            continue
        key = _RPM_TAGS.get(tag, "sourcerpm")
        if kind == _RPM_INT32:
            fields[key] = str(struct.unpack(">i", store[offset : offset + 4])[0])
        elif kind in (_RPM_STRING, _RPM_I18NSTRING, _RPM_STRING_ARRAY):
            end = store.find(b"\0", offset)
            fields[key] = store[offset : end if end >= 0 else None].decode("utf-8", "replace")
    return fields


def _rpm_rows(data: bytes) -> list[bytes]:
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        connection.execute("PRAGMA trusted_schema = OFF")
        connection.execute("PRAGMA query_only = ON")
        rows = connection.execute(
            "SELECT blob FROM Packages ORDER BY hnum LIMIT ?", (MAX_RPM_PACKAGES,)
        ).fetchall()
    except sqlite3.DatabaseError:
        return []
    finally:
        connection.close()
    return [bytes(row[0]) for row in rows if isinstance(row[0], bytes | memoryview)]


def catalog_rpm(fs: layers.Filesystem, dist: Distribution) -> list[Package]:
    packages = []
    for candidate in RPM_DATABASES:
        path = fs.resolve(candidate)
        if path is None or fs.nodes[path].data is None:
            continue
        node = fs.nodes[path]
        base = _RPM_ECOSYSTEMS.get(dist.id, "Red Hat")
        for blob in _rpm_rows(node.data):
            try:
                fields = rpm_header(blob)
            except (ValueError, struct.error):
                continue
            if not fields.get("name") or not fields.get("version"):
                continue
            version = (
                f"{fields['version']}-{fields['release']}"
                if fields.get("release")
                else (fields["version"])
            )
            if fields.get("epoch") and fields["epoch"] != "0":
                version = f"{fields['epoch']}:{version}"
            source = fields.get("sourcerpm", "")
            source_name = source.rsplit("-", 2)[0] if source.count("-") >= 2 else fields["name"]
            packages.append(
                Package(
                    RPM,
                    fields["name"],
                    version,
                    dist.ecosystem(base),
                    source_name,
                    version,
                    node.layer,
                    "/" + candidate,
                    fields.get("arch", ""),
                    dist.purl_distro,
                )
            )
        break
    return packages


# -- Python -------------------------------------------------------------------------------------


def normalize_python_name(name: str) -> str:
    """PEP 503's normalized name, as PyPI advisories spell it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def catalog_python(fs: layers.Filesystem) -> list[Package]:
    packages = []
    for path, node in fs.files():
        if node.data is None or not (
            path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info"))
        ):
            continue
        headers = HeaderParser().parsestr(node.data[:65536].decode("utf-8", "replace"))
        name, version = headers.get("Name"), headers.get("Version")
        if not name or not version:
            continue
        name, version = str(name).strip(), str(version).strip()
        normalized = normalize_python_name(name)
        packages.append(
            Package(PYTHON, name, version, "PyPI", normalized, version, node.layer, "/" + path)
        )
    return packages


# -- npm ----------------------------------------------------------------------------------------


def _lockfile_packages(document: dict) -> Iterator[tuple[str, str]]:
    entries = document.get("packages")
    if isinstance(entries, dict):  # lockfileVersion 2 and 3
        for key, entry in entries.items():
            if not key or not isinstance(entry, dict) or entry.get("dev") or entry.get("link"):
                continue
            name = entry.get("name") or key.rpartition("node_modules/")[2]
            if isinstance(name, str) and isinstance(entry.get("version"), str):
                yield name, entry["version"]
        return
    stack = [document.get("dependencies")]  # lockfileVersion 1: nested dependencies
    while stack:
        dependencies = stack.pop()
        if not isinstance(dependencies, dict):
            continue
        for name, entry in dependencies.items():
            if isinstance(entry, dict) and not entry.get("dev"):
                if isinstance(entry.get("version"), str):
                    yield name, entry["version"]
                stack.append(entry.get("dependencies"))


def catalog_npm(fs: layers.Filesystem) -> list[Package]:
    packages = []
    for path, node in fs.files():
        if node.data is None:
            continue
        name = path.rpartition("/")[2]
        if name not in ("package.json", "package-lock.json"):
            continue
        try:
            document = json.loads(node.data)
        except ValueError:
            continue
        if not isinstance(document, dict):
            continue
        if name == "package.json":
            found = [(document.get("name"), document.get("version"))]
        else:
            found = list(_lockfile_packages(document))
        for package_name, version in found:
            if isinstance(package_name, str) and isinstance(version, str) and package_name:
                packages.append(
                    Package(
                        NPM, package_name, version, "npm", package_name, version, node.layer,
                        "/" + path,
                    )
                )  # fmt: skip
    return packages


# -- Go -----------------------------------------------------------------------------------------

GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_GO_FLAGS_INLINE = 0x2
_GO_MAX_INFO = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GoBuildInfo:
    go_version: str  # "go1.22.3"
    main: str  # the main package's path
    modules: tuple[tuple[str, str], ...]  # (module path, version): main module and deps


def _uvarint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise ValueError("truncated varint")


def parse_go_buildinfo(data: bytes) -> GoBuildInfo | None:
    """Go 1.18+ inline build information, from its magic on; None if absent or older."""
    if not data.startswith(GO_BUILDINFO_MAGIC) or len(data) < 32:
        return None
    if not data[15] & _GO_FLAGS_INLINE:
        return None  # before Go 1.18 the strings sit behind pointers: not read
    try:
        length, position = _uvarint(data, 32)
        go_version = data[position : position + length].decode("utf-8", "replace")
        length, position = _uvarint(data, position + length)
        info = data[position : position + length]
    except ValueError:
        return None
    if len(info) >= 33 and info[-17:-16] == b"\n":
        info = info[16:-16]  # sentinels around the module information
    main, modules = "", []
    for line in info.decode("utf-8", "replace").splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            main = rest
        elif kind in ("mod", "dep") and len(fields) >= 2:
            modules.append((fields[0], fields[1]))
        elif kind == "=>" and modules and len(fields) >= 2:
            modules[-1] = (modules[-1][0], fields[1])  # a replacement's version applies
    return GoBuildInfo(go_version, main, tuple(modules))


def go_buildinfo(entry: layers.Entry, limit: int) -> GoBuildInfo | None:
    """Search an executable as it streams by for Go's build information."""
    head = entry.read(4)
    if head != b"\x7fELF":
        return None
    window, read = head, 4
    while read < limit:
        chunk = entry.read()
        if not chunk:
            return None
        read += len(chunk)
        window += chunk
        found = window.find(GO_BUILDINFO_MAGIC)
        if found < 0:
            window = window[-(len(GO_BUILDINFO_MAGIC) - 1) :]
            continue
        window = window[found:]
        while len(window) < _GO_MAX_INFO and (chunk := entry.read()):
            window += chunk  # the strings follow the header; they are rarely over 100 KiB
            if len(window) > 64 * 1024 and parse_go_buildinfo(window) is not None:
                break
        return parse_go_buildinfo(window)
    return None


def _go_toolchain_version(go_version: str) -> str:
    """ "go1.21.3" -> "1.21.3"; "go1.21rc2" -> "1.21.0-rc.2" (what Go advisories use)."""
    match = re.fullmatch(r"go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?(?:\s.*)?", go_version)
    if match is None:
        return ""
    version = f"{match[1]}.{match[2]}.{match[3] or 0}"
    return f"{version}-{match[4]}.{match[5]}" if match[4] else version


def catalog_go(fs: layers.Filesystem) -> list[Package]:
    packages = []
    for path, node in fs.files():
        info = node.facts
        if not isinstance(info, GoBuildInfo):
            continue
        where = "/" + path
        toolchain = _go_toolchain_version(info.go_version)
        if toolchain:
            packages.append(
                Package(GO, "stdlib", toolchain, "Go", "stdlib", toolchain, node.layer, where)
            )
        for module, version in info.modules:
            if version and version != "(devel)":
                packages.append(
                    Package(GO, module, version, "Go", module, version, node.layer, where)
                )
    return packages


# -- all of them --------------------------------------------------------------------------------


def catalog(fs: layers.Filesystem) -> tuple[Distribution, list[Package]]:
    """Every package found, once each (the same package at the same path counts once)."""
    dist = distribution(fs)
    found: Iterable[Package] = [
        *catalog_dpkg(fs, dist),
        *catalog_apk(fs, dist),
        *catalog_rpm(fs, dist),
        *catalog_python(fs),
        *catalog_npm(fs),
        *catalog_go(fs),
    ]
    unique: dict[tuple[str, str, str, str], Package] = {}
    for package in found:
        if not all(is_storable(getattr(package, key)) for key in _TEXT_FIELDS):
            package = replace(
                package, **{key: storable(getattr(package, key)) for key in _TEXT_FIELDS}
            )
        key = (package.type, package.name, package.version, package.path)
        unique.setdefault(key, package)
    # An npm package seen in node_modules and in a lockfile is reported once: installed.
    installed = {
        (p.name, p.version)
        for p in unique.values()
        if p.type == NPM and _NODE_PACKAGE.search(p.path)
    }
    return dist, [
        p
        for p in unique.values()
        if not (
            p.type == NPM
            and p.path.endswith("package-lock.json")
            and (p.name, p.version) in installed
        )
    ]
