"""Hostile layers fail within their caps, quickly, with a reason; nothing leaves the root.

Every layer here is made on the fly: a few megabytes of gzip stand for gigabytes.
"""

import gzip
import tarfile

import pytest

from registry.scanning import layers

from .kit import Dir, File, Link, apply, header, repeated_gzip, sparse_gnu, tar

MIB = 1024 * 1024


def test_a_gzip_bomb_stops_at_the_decompressed_bytes_cap():
    # One file declaring 1 TiB, then 4 GiB of zeros in 256 gzip members of 16 MiB each.
    bomb = gzip.compress(header("bomb", 1 << 40)) + repeated_gzip(bytes(16 * MIB), 256)
    assert len(bomb) < 8 * MIB
    with pytest.raises(layers.LayerError, match="BERTH_SCAN_MAX_BYTES"):
        apply(bomb, max_bytes=256 * MIB)


def test_a_tar_of_a_million_entries_stops_at_the_entry_cap():
    entries = header("f", 0) * 2048  # 2,048 empty files per 1 MiB
    layer = repeated_gzip(entries, 512)  # 1,048,576 entries
    with pytest.raises(layers.LayerError, match="BERTH_SCAN_MAX_ENTRIES"):
        apply(layer, max_entries=100_000)


def test_the_entry_cap_counts_every_layer_of_the_image():
    layer = tar(*[File(f"f{i}") for i in range(60)])
    with pytest.raises(layers.LayerError, match="BERTH_SCAN_MAX_ENTRIES"):
        apply(layer, layer, max_entries=100)


@pytest.mark.parametrize("name", ["../etc/passwd", "a/../../etc/passwd", "./../../x"])
def test_a_path_climbing_out_of_the_root_is_refused(name):
    with pytest.raises(layers.LayerError, match="leaves the root"):
        apply(tar(File(name, b"root::0:0::/root:/bin/sh\n")))


def test_a_hardlink_out_of_the_root_is_refused():
    with pytest.raises(layers.LayerError, match="leaves the root"):
        apply(tar(Link("etc/shadow", "../../../etc/shadow", hard=True)))


def test_a_symlink_to_the_host_resolves_inside_the_image():
    fs = apply(
        tar(Dir("var/lib"), Link("var/lib/dpkg", "/../../../../../../etc")),
        tar(File("var/lib/dpkg/status", b"Package: x\n")),
    )
    # The file lands in the image's own /etc, and nothing is read from the host.
    assert "etc/status" in fs.nodes
    assert fs.read("var/lib/dpkg/status") == b"Package: x\n"
    assert fs.resolve("var/lib/dpkg/../../../../etc/passwd") is None


def test_a_symlink_loop_is_cut_off():
    fs = apply(tar(Link("a", "b"), Link("b", "a"), File("c", b"1")))
    assert fs.resolve("a") is None
    with pytest.raises(layers.LayerError, match="symbolic links"):
        apply(tar(Link("a", "b"), Link("b", "a"), File("a/x", b"1")))


def test_a_4_gib_sparse_metadata_file_fails_at_the_per_file_cap():
    layer = gzip.compress(sparse_gnu("var/lib/dpkg/status", 4 << 30))
    with pytest.raises(layers.LayerError, match="BERTH_SCAN_MAX_FILE_BYTES"):
        apply(layer)


def test_a_4_gib_sparse_file_elsewhere_is_skipped_without_reading_4_gib():
    layer = gzip.compress(
        sparse_gnu("var/cache/huge", 4 << 30) + tar(File("etc/os-release", b"ID=x"))
    )
    fs = apply(layer, max_bytes=16 * MIB)
    assert fs.get("var/cache/huge").size == 4 << 30
    assert fs.read("etc/os-release") == b"ID=x"


def test_a_4_gib_pax_sparse_file_is_sized_by_its_real_size():
    import io

    info = tarfile.TarInfo("GNUSparseFile.0/status")
    info.size = 1024
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "var/lib/dpkg/status",
        "GNU.sparse.realsize": str(4 << 30),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(info, io.BytesIO(b"1\n0\n512\n".ljust(512, b"\0") + b"x" * 512))
    with pytest.raises(layers.LayerError, match="BERTH_SCAN_MAX_FILE_BYTES"):
        apply(buffer.getvalue())


def test_a_huge_pax_header_is_refused_before_it_is_read():
    layer = header("././@PaxHeader", 1 << 33, b"x") + bytes(4096)
    with pytest.raises(layers.LayerError, match="too large"):
        apply(layer)


def test_too_many_kept_bytes_fail_the_scan():
    files = [File(f"usr/lib/node_modules/p{i}/package.json", b" " * 600_000) for i in range(4)]
    with pytest.raises(layers.LayerError, match="BERTH_SCAN_MAX_KEPT_BYTES"):
        apply(tar(*files), max_kept_bytes=2 * MIB)


def test_garbage_is_not_a_layer():
    with pytest.raises(layers.LayerError):
        apply(b"this is not a tar archive at all" * 40)


def test_invalid_gzip_fails_with_a_reason():
    with pytest.raises(layers.LayerError, match="gzip"):
        apply(b"\x1f\x8b\x08\x00" + b"\xff" * 100)


def test_directories_nested_thousands_deep_are_removed_without_recursion():
    deep = "/".join(["d"] * 2000)
    fs = apply(tar(File(f"{deep}/x", b"1")), tar(File(".wh.d")))
    assert fs.get("d") is None
    assert len(fs.nodes) == 1  # the root
