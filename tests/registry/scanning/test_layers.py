"""The layer reader applies layers as a runtime does: order, whiteouts, opaque dirs, links."""

import io
import tarfile

import pytest
import zstandard

from registry.scanning import layers

from .kit import Dir, File, Link, apply, gz, header, tar


def test_a_later_layer_replaces_a_file_of_an_earlier_one():
    fs = apply(
        tar(File("etc/os-release", b"ID=debian\n")),
        tar(File("etc/os-release", b"ID=alpine\n")),
    )
    assert fs.read("etc/os-release") == b"ID=alpine\n"
    assert fs.get("etc/os-release").layer == 1


def test_a_whiteout_hides_a_file_of_a_lower_layer():
    fs = apply(
        tar(File("etc/os-release", b"ID=debian\n"), File("etc/hostname", b"x")),
        tar(File("etc/.wh.os-release")),
    )
    assert fs.get("etc/os-release") is None
    assert fs.get("etc/hostname") is not None


def test_a_whiteout_hides_a_whole_directory():
    fs = apply(
        tar(Dir("usr/lib/python3"), File("usr/lib/python3/x.dist-info/METADATA", b"Name: x")),
        tar(File("usr/lib/.wh.python3")),
    )
    assert fs.get("usr/lib/python3") is None
    assert fs.get("usr/lib/python3/x.dist-info/METADATA") is None
    assert "usr/lib/python3/x.dist-info" not in fs.nodes


def test_a_whiteout_does_not_hide_what_its_own_layer_wrote():
    fs = apply(tar(File("etc/os-release", b"ID=alpine\n"), File("etc/.wh.os-release")))
    assert fs.read("etc/os-release") == b"ID=alpine\n"


def test_an_opaque_directory_hides_lower_contents_and_keeps_its_own():
    fs = apply(
        tar(Dir("app"), File("app/node_modules/a/package.json", b"{}"), File("app/old", b"1")),
        tar(Dir("app"), File("app/new", b"2"), File("app/.wh..wh..opq")),
    )
    assert fs.get("app/new") is not None
    assert fs.get("app/old") is None
    assert fs.get("app/node_modules/a/package.json") is None
    assert fs.get("app").kind == layers.DIRECTORY


def test_a_file_replacing_a_directory_takes_its_contents_away():
    fs = apply(tar(Dir("opt"), File("opt/a", b"a")), tar(File("opt", b"now a file")))
    assert fs.get("opt").kind == layers.FILE
    assert fs.get("opt/a") is None


def test_a_tar_stream_without_end_of_archive_blocks_is_read_whole():
    blob = tar(File("a", b"1"), File("etc/os-release", b"ID=debian\n"), end_blocks=False)
    assert blob.endswith(b"ID=debian\n")  # no padding, no end-of-archive blocks
    fs = apply(gz(blob))
    assert fs.read("etc/os-release") == b"ID=debian\n"


def test_gzip_zstd_and_plain_layers_are_told_by_their_first_bytes():
    blob = tar(File("etc/os-release", b"ID=debian\n"))
    for encoded in (blob, gz(blob), zstandard.ZstdCompressor().compress(blob)):
        assert apply(encoded).read("etc/os-release") == b"ID=debian\n"


def test_a_gzip_stream_of_several_members_is_read_to_its_end():
    blob = tar(File("a", b"1" * 5000), File("etc/os-release", b"ID=debian\n"))
    fs = apply(gz(blob[:4096]) + gz(blob[4096:]))
    assert fs.read("etc/os-release") == b"ID=debian\n"


def test_parents_resolve_through_symlinks_as_on_disk():
    fs = apply(
        tar(Dir("usr/lib"), Link("lib", "usr/lib")),
        tar(File("lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\n")),
    )
    assert "usr/lib/apk/db/installed" in fs.nodes
    assert fs.read("lib/apk/db/installed") == b"P:musl\nV:1.2.4-r2\n"


def test_a_hardlink_shares_the_contents_of_its_target():
    fs = apply(
        tar(
            File("etc/os-release", b"ID=debian\n"),
            Link("usr/lib/os-release", "etc/os-release", hard=True),
        )
    )
    assert fs.read("usr/lib/os-release") == b"ID=debian\n"


def test_long_names_in_pax_and_gnu_headers_are_read():
    deep = "usr/lib/" + "d" * 150 + "/x.dist-info/METADATA"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        fs = apply(tar(File(deep, b"Name: x\nVersion: 1\n"), format=fmt))
        assert fs.read(deep) == b"Name: x\nVersion: 1\n"


def test_a_layer_cut_inside_a_file_fails_with_a_reason():
    blob = tar(File("etc/os-release", b"x" * 4000))[:1024]
    with pytest.raises(layers.LayerError, match="ends inside a file"):
        apply(blob)


def test_a_header_with_a_bad_checksum_fails_with_a_reason():
    block = bytearray(header("a", 0))
    block[0] = ord("b")
    with pytest.raises(layers.LayerError, match="checksum"):
        apply(bytes(block))


def test_unread_files_are_read_through_without_being_kept():
    fs = apply(tar(File("usr/bin/big", b"\0" * 300_000, 0o644), File("etc/os-release", b"ID=x\n")))
    assert fs.get("usr/bin/big").data is None
    assert fs.read("etc/os-release") == b"ID=x\n"


def test_a_resolution_never_leaves_the_root():
    fs = apply(tar(Dir("etc"), Link("etc/escape", "../../../../../etc"), File("etc/a", b"1")))
    assert fs.resolve("etc/escape/a") == "etc/a"
    assert fs.resolve("etc/escape/../../..") == ""


def test_layers_read_from_a_real_file_object():
    blob = gz(tar(File("etc/os-release", b"ID=debian\n")))
    fs = layers.Filesystem()
    budget = layers.Budget(layers.Limits(1 << 30, 1000, 1 << 20, 1 << 20))
    layers.apply_layer(fs, io.BytesIO(blob), 0, layers.Selector(keep=lambda p: True), budget)
    assert fs.read("etc/os-release") == b"ID=debian\n"
