"""Layers and images for scanning tests, made in memory: tar entries, compression, fixtures."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from django.test import override_settings

from registry.scanning import catalogers, layers

BLOCK = 512


@dataclass
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass
class Dir:
    path: str
    mode: int = 0o755


@dataclass
class Link:
    path: str
    target: str
    hard: bool = False


def tar(*entries, end_blocks: bool = True, format=tarfile.PAX_FORMAT) -> bytes:
    """A tar stream of `entries`; without `end_blocks`, as umoci writes them (no trailer).

    Without end blocks the last entry must be a file with contents.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            if isinstance(entry, File):
                info.size, info.mode = len(entry.data), entry.mode
                archive.addfile(info, io.BytesIO(entry.data))
                continue
            if isinstance(entry, Dir):
                info.type, info.mode = tarfile.DIRTYPE, entry.mode
            else:
                info.type = tarfile.LNKTYPE if entry.hard else tarfile.SYMTYPE
                info.linkname = entry.target
            archive.addfile(info)
    data = buffer.getvalue()
    if not end_blocks:  # as umoci writes: the stream stops right after the last file's data
        last = entries[-1]
        data = data[: data.rfind(last.data) + len(last.data)]
    return data


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def header(name: str, size: int, typeflag: bytes = b"0", *, gnu: bool = False, extra=None) -> bytes:
    """One raw tar header block (for what tarfile cannot write: GNU sparse, huge sizes)."""
    block = bytearray(BLOCK)
    block[0:100] = name.encode().ljust(100, b"\0")[:100]
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = f"{size:011o}\0".encode() if size < 8**11 else _base256(size)
    block[136:148] = b"00000000000\0"
    block[156:157] = typeflag
    block[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    for offset, value in (extra or {}).items():
        block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}\0 ".encode()
    return bytes(block)


def _base256(value: int) -> bytes:
    return b"\x80" + value.to_bytes(11, "big")


def sparse_gnu(name: str, real_size: int) -> bytes:
    """An old-GNU sparse entry: one 512-byte data block standing for `real_size` bytes."""
    extra = {
        386: f"{0:011o}\0".encode() + f"{512:011o}\0".encode(),  # one map entry: offset, size
        483: f"{real_size:011o}\0".encode(),
    }
    return header(name, 512, b"S", gnu=True, extra=extra) + b"x" * 512


def repeated_gzip(chunk: bytes, times: int) -> bytes:
    """`chunk` `times` over, as that many gzip members: small to store, huge to read."""
    member = gzip.compress(chunk, compresslevel=9)
    return member * times


def deflate_stream(chunks) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(compressor.compress(c) for c in chunks) + compressor.flush()


def limits(**overrides) -> layers.Limits:
    values = {
        "max_bytes": 1 << 34,
        "max_entries": 1_000_000,
        "max_file_bytes": 256 << 20,
        "max_kept_bytes": 512 << 20,
    }
    return layers.Limits(**{**values, **overrides})


def apply(*layer_blobs: bytes, **limit_overrides) -> layers.Filesystem:
    """Apply layers (bytes, compressed or not) in order with the catalogers' selector."""
    fs = layers.Filesystem()
    budget = layers.Budget(limits(**limit_overrides))
    for index, blob in enumerate(layer_blobs):
        layers.apply_layer(fs, io.BytesIO(blob), index, catalogers.SELECTOR, budget)
    return fs


# -- package database fixtures ------------------------------------------------------------------

DEBIAN_OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
ALPINE_OS_RELEASE = b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'


def dpkg_entry(name: str, version: str, source: str = "", arch: str = "amd64") -> str:
    lines = [f"Package: {name}", "Status: install ok installed", f"Architecture: {arch}"]
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", "Description: fixture", " continued description", ""]
    return "\n".join(lines) + "\n"


def apk_entry(name: str, version: str, origin: str = "", arch: str = "x86_64") -> str:
    lines = ["C:Q1fixture=", f"P:{name}", f"V:{version}", f"A:{arch}", "S:1", "I:1"]
    lines += ["T:fixture", "U:https://example.org", "L:MIT", f"o:{origin or name}", ""]
    return "\n".join(lines) + "\n"


def python_metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nbody".encode()


def npm_package(name: str, version: str) -> bytes:
    return json.dumps({"name": name, "version": version, "license": "MIT"}).encode()


def rpm_header_blob(**tags) -> bytes:
    """An RPM header (as rpmdb.sqlite stores it) with string tags, and EPOCH as an int."""
    numbers = {"name": 1000, "version": 1001, "release": 1002, "arch": 1022, "sourcerpm": 1044}
    index, store = [], b""
    for key, value in tags.items():
        if key == "epoch":
            store += b"\0" * (-len(store) % 4)
            index.append(struct.pack(">IIII", 1003, 4, len(store), 1))
            store += struct.pack(">i", value)
        else:
            index.append(struct.pack(">IIII", numbers[key], 6, len(store), 1))
            store += value.encode() + b"\0"
    return struct.pack(">II", len(index), len(store)) + b"".join(index) + store


def rpmdb(*headers: bytes) -> bytes:
    import sqlite3
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".sqlite") as handle:
        connection = sqlite3.connect(handle.name)
        connection.execute(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
        )
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
        connection.commit()
        connection.close()
        return Path(handle.name).read_bytes()


def scan_caps(**overrides):
    """Override the scanning caps for one test (settings names without the prefix)."""
    return override_settings(**{f"BERTH_SCAN_{k.upper()}": v for k, v in overrides.items()})


# -- pushing images through the registry's own API ----------------------------------------------


def push_layers(client, name: str, tag: str, blobs: list[bytes], architecture="amd64") -> str:
    """Push an image of gzip layers with a test client; returns its manifest digest."""
    from registry import mediatypes
    from tests.oci import image_manifest

    config = json.dumps({"architecture": architecture, "os": "linux", "rootfs": {}}).encode()
    manifest = image_manifest(
        config=(client.push_blob(name, config), len(config)),
        layers=[(client.push_blob(name, blob), len(blob)) for blob in blobs],
    )
    response = client.push_manifest(name, tag, manifest, mediatypes.OCI_MANIFEST)
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]


def scan_now(manifest, *, force: bool = False):
    """Queue and run the scans of a manifest in this test (no thread, no worker)."""
    from django.test import TestCase

    from registry.scanning import services

    def run(manifest_id, token):
        services.scan_image(manifest_id=manifest_id, token=token)

    with TestCase.captureOnCommitCallbacks(execute=True):
        scans = services.queue_scan(manifest=manifest, force=force, enqueue=run)
    for scan in scans:
        scan.refresh_from_db()
    return scans
