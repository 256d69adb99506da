"""Reading image layers as a container runtime sees them, without extracting anything.

Layers are read as streams, in order: gzip (several members too), zstd (when the
`zstandard` package is installed) or plain tar, told apart by their first bytes rather than by
the media type a client declared. Each layer is applied to an in-memory `Filesystem` of
paths: whiteouts (`.wh.NAME`) and opaque directories (`.wh..wh..opq`) hide what lower layers
put there (OCI image-spec, "Representing Changes"), a directory replaced by a file loses its
contents, and parent directories resolve through symlinks as the kernel would resolve them
on disk. Only the contents of the few files catalogers ask for are kept in memory; the rest
is read through and dropped.

Hostile layers fail with `LayerError` and a reason, never more slowly than their caps allow:
decompressed bytes, tar entries, the size of a file read into memory, and all bytes kept
(`Limits`). Entry names that climb out of the root with `..` are refused; symlinks are
resolved inside the root only (an absolute target or one too many `..` stays at `/`), with a
bound on hops, so no link is ever followed out.

The tar reader is Berth's own: Python's `tarfile` reads a pax header or a GNU long name
whole into memory whatever its declared size. Like container runtimes, it accepts a stream
that ends without the two zero blocks of end-of-archive (umoci writes such streams).
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings

BLOCK = 512
CHUNK = 1024 * 1024
MAX_HEADER_DATA = 1024 * 1024  # a pax header or GNU long name larger than this is hostile
MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS
MAX_PATH = 4096

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

FILE, DIRECTORY, SYMLINK, OTHER = "file", "directory", "symlink", "other"
WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"


class LayerError(Exception):
    """A layer that cannot be read, or that breaks a cap: the scan fails with this reason."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int  # decompressed bytes, all layers of one image together
    max_entries: int  # tar entries, all layers together
    max_file_bytes: int  # one file read into memory, or searched (executables)
    max_kept_bytes: int  # all file contents kept in memory at once

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_bytes=settings.BERTH_SCAN_MAX_BYTES,
            max_entries=settings.BERTH_SCAN_MAX_ENTRIES,
            max_file_bytes=settings.BERTH_SCAN_MAX_FILE_BYTES,
            max_kept_bytes=settings.BERTH_SCAN_MAX_KEPT_BYTES,
        )


@dataclass(slots=True)
class Budget:
    """What an image's layers have used of their limits so far."""

    limits: Limits
    bytes: int = 0
    entries: int = 0
    kept: int = 0

    def add_bytes(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_bytes:
            raise LayerError(
                f"the layers decompress to more than {self.limits.max_bytes} bytes "
                "(BERTH_SCAN_MAX_BYTES)"
            )

    def add_entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise LayerError(
                f"the layers hold more than {self.limits.max_entries} entries "
                "(BERTH_SCAN_MAX_ENTRIES)"
            )

    def keep(self, count: int) -> None:
        self.kept += count
        if self.kept > self.limits.max_kept_bytes:
            raise LayerError(
                f"the files to catalog exceed {self.limits.max_kept_bytes} bytes "
                "(BERTH_SCAN_MAX_KEPT_BYTES)"
            )


# -- decompression ------------------------------------------------------------------------------


class _Decompressed:
    """A readable stream of a layer's tar bytes, counted against the budget as they come."""

    def __init__(self, source: BinaryIO, budget: Budget):
        self.source = source
        self.budget = budget
        self.buffer = b""
        self.offset = 0
        self.eof = False
        head = source.read(CHUNK)
        if head.startswith(GZIP_MAGIC):
            self._decoder = self._gzip(head)
        elif head.startswith(ZSTD_MAGIC):
            self._decoder = self._zstd(head)
        else:
            self._decoder = self._plain(head)

    def _plain(self, head: bytes) -> Iterator[bytes]:
        chunk = head
        while chunk:
            yield chunk
            chunk = self.source.read(CHUNK)

    def _gzip(self, head: bytes) -> Iterator[bytes]:
        pending = head
        decoder = zlib.decompressobj(wbits=31)
        while True:
            if not pending:
                pending = self.source.read(CHUNK)
                if not pending:
                    if not decoder.eof:
                        raise LayerError("the gzip stream ends early")
                    return
            # max_length keeps a bomb from producing more than one chunk per call.
            out = decoder.decompress(pending, CHUNK)
            pending = decoder.unconsumed_tail
            if out:
                yield out
            if decoder.eof:
                # At the end of a member, what follows is in unused_data (and, when the
                # output was capped, also in unconsumed_tail: take it once).
                rest = pending = decoder.unused_data
                if not rest.strip(b"\0"):
                    rest = self.source.read(CHUNK)
                    if not rest:
                        return
                    pending = rest
                decoder = zlib.decompressobj(wbits=31)  # another gzip member follows

    def _zstd(self, head: bytes) -> Iterator[bytes]:
        try:
            import zstandard
        except ImportError:
            raise LayerError("zstd layers need the zstandard package") from None

        class Rest:
            def __init__(self, first, source):
                self.first, self.source = first, source

            def read(self, size=-1):
                if self.first:
                    data, self.first = self.first, b""
                    return data
                return self.source.read(CHUNK if size is None or size < 0 else size)

        reader = zstandard.ZstdDecompressor().stream_reader(
            Rest(head, self.source), read_across_frames=True
        )
        try:
            while chunk := reader.read(CHUNK):
                yield chunk
        except zstandard.ZstdError as error:
            raise LayerError(f"the zstd stream is invalid: {error}") from None

    def _fill(self) -> bool:
        """Append the next decompressed chunk to the buffer; False at the end of the stream."""
        if self.eof:
            return False
        try:
            chunk = next(self._decoder)
        except StopIteration:
            self.eof = True
            return False
        except zlib.error as error:
            raise LayerError(f"the gzip stream is invalid: {error}") from None
        self.budget.add_bytes(len(chunk))
        self.buffer = self.buffer[self.offset :] + chunk
        self.offset = 0
        return True

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; fewer only at the end of the stream."""
        while len(self.buffer) - self.offset < size and self._fill():
            pass
        data = self.buffer[self.offset : self.offset + size]
        self.offset += len(data)
        return data

    def skip_padding(self, size: int) -> bool:
        """Drop up to `size` bytes of padding; False if the stream ends instead."""
        while len(self.buffer) - self.offset < size and self._fill():
            pass
        available = len(self.buffer) - self.offset
        self.offset += min(size, available)
        return available >= size

    def skip(self, size: int) -> None:
        """Drop `size` bytes without copying them."""
        while size > 0:
            available = len(self.buffer) - self.offset
            if available >= size:
                self.offset += size
                return
            size -= available
            self.buffer, self.offset = b"", 0
            if not self._fill():
                raise LayerError("the layer ends inside a file")


# -- tar ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    path: str  # normalized: relative to the root, no "." or ".." components, "" for the root
    kind: str
    size: int  # the file's size as a runtime sees it (a sparse file's real size)
    mode: int
    link: str = ""  # symlink target (as written), or hardlink target (normalized path)
    hardlink: bool = False
    sparse: bool = False
    _stream: _Decompressed | None = field(default=None, repr=False)
    _remaining: int = 0  # bytes of this entry's data not read yet

    def read(self, size: int = CHUNK) -> bytes:
        """The entry's data, in order; b"" at its end. Sparse files read as their map."""
        size = min(size, self._remaining)
        if size <= 0 or self._stream is None:
            return b""
        data = self._stream.read(size)
        if len(data) < size:
            raise LayerError("the layer ends inside a file")
        self._remaining -= len(data)
        return data


def _octal(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256, GNU's encoding of large numbers
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError("a tar header has an invalid number") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(header: bytes) -> bool:
    stored = _octal(header[148:156])
    blank = header[:148] + b" " * 8 + header[156:]
    unsigned = sum(blank)
    signed = sum(b - 256 if b > 127 else b for b in blank)
    return stored in (unsigned, signed)


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        if space < 0:
            raise LayerError("a pax header is malformed")
        try:
            length = int(data[position:space])
        except ValueError:
            raise LayerError("a pax header is malformed") from None
        record = data[space + 1 : position + length]
        if length <= 0 or position + length > len(data) or not record.endswith(b"\n"):
            raise LayerError("a pax header is malformed")
        key, equals, value = record[:-1].partition(b"=")
        if not equals:
            raise LayerError("a pax header is malformed")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


def normalize(name: str) -> str:
    """An archive path relative to the root; LayerError if it climbs out with `..`."""
    if "\0" in name or len(name) > MAX_PATH:
        raise LayerError("an entry has an invalid name")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise LayerError(f"an entry's path leaves the root: {name[:200]!r}")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def read_tar(stream: _Decompressed, budget: Budget) -> Iterator[Entry]:
    """The entries of one tar stream. Unread data is skipped when the next entry is asked for."""
    pax: dict[str, str] = {}
    long_name = long_link = None
    while True:
        header = stream.read(BLOCK)
        if not header:  # the stream ends without end-of-archive blocks: what it held counts
            return
        if len(header) < BLOCK:
            raise LayerError("the layer ends inside a tar header")
        if header == bytes(BLOCK):
            return  # end-of-archive (whatever follows is padding)
        if not _checksum_ok(header):
            raise LayerError("a tar header has a bad checksum")
        budget.add_entry()
        typeflag = header[156:157]
        size = _octal(header[124:136])
        if size < 0:
            raise LayerError("a tar entry has a negative size")
        padded = -size % BLOCK

        if typeflag in (b"x", b"g", b"L", b"K"):
            if size > MAX_HEADER_DATA:
                raise LayerError(f"a tar extension header of {size} bytes is too large")
            data = stream.read(size)
            if len(data) < size:
                raise LayerError("the layer ends inside a tar header")
            stream.skip(padded)
            if typeflag == b"x":
                pax.update(_pax_records(data))
            elif typeflag == b"L":
                long_name = _text(data)
            elif typeflag == b"K":
                long_link = _text(data)
            continue  # global pax headers ("g") carry nothing a runtime applies per file

        name = _text(header[0:100])
        if header[257:263] == b"ustar\0":  # POSIX ustar: a prefix field holds long paths
            prefix = _text(header[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        name = pax.get("path", long_name if long_name is not None else name)
        link = pax.get("linkpath", long_link if long_link is not None else _text(header[157:257]))
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise LayerError("a pax size is not a number") from None
            padded = -size % BLOCK
        real_size, sparse = size, False
        if typeflag == b"S":  # old GNU sparse: maps in extension blocks, real size here
            sparse, real_size = True, _octal(header[483:495])
            extended = header[482]
            while extended:
                block = stream.read(BLOCK)
                if len(block) < BLOCK:
                    raise LayerError("the layer ends inside a tar header")
                budget.add_entry()
                extended = block[504]
        if "GNU.sparse.realsize" in pax or "GNU.sparse.size" in pax:
            sparse = True
            real_size = int(pax.get("GNU.sparse.realsize", pax.get("GNU.sparse.size", "0")))
            name = pax.get("GNU.sparse.name", name)
        pax, long_name, long_link = {}, None, None

        mode = _octal(header[100:108]) & 0o7777
        path = normalize(name)
        hardlink = typeflag == b"1"
        if typeflag in (b"0", b"\0", b"7", b"S"):
            kind = FILE
        elif typeflag == b"5":
            kind = DIRECTORY
        elif typeflag == b"2":
            kind = SYMLINK
        elif hardlink:
            kind, link = FILE, normalize(link)
        else:
            kind = OTHER
        entry = Entry(path, kind, real_size, mode, link, hardlink, sparse, stream, size)
        yield entry
        stream.skip(entry._remaining)
        entry._remaining = 0
        # umoci ends its streams right after the last file's data, without even the padding
        # to a whole block: a stream ending there has ended, as Go's tar reader sees it.
        if not stream.skip_padding(padded):
            return


def read_archive(source: BinaryIO, limits: Limits) -> Iterator[Entry]:
    """The entries of a tar stream (plain, gzip or zstd) within `limits`: the same careful
    reader, for archives other than layers (the gallery's archive import uses it)."""
    budget = Budget(limits)
    yield from read_tar(_Decompressed(source, budget), budget)


# -- the filesystem -----------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    kind: str
    layer: int  # index of the layer that wrote it
    size: int = 0
    mode: int = 0
    target: str = ""  # a symlink's target as written
    data: bytes | None = None  # kept contents (only the files catalogers asked for)
    facts: object = None  # what an inspector found while the file streamed by


class Filesystem:
    """The union of the layers applied so far, as paths ("usr/bin/env"; "" is the root)."""

    def __init__(self):
        self.nodes: dict[str, Node] = {"": Node(DIRECTORY, -1)}
        self.children: dict[str, set[str]] = {"": set()}
        # Every version of a file asked to be kept with its history: [(layer, data)].
        self.history: dict[str, list[tuple[int, bytes]]] = {}

    # reading

    def _canonical(self, path: str, *, follow_last: bool = True) -> tuple[str, bool]:
        """`path` with every existing symlink resolved inside the root, and whether it exists.

        Components past the first missing one are taken as written (".." lexically), which is
        where a runtime would create them. A symlink's target is read relative to the root
        however it is written: an absolute target or one too many ".." stays at "/".
        """
        hops = 0
        pending = [p for p in path.split("/") if p and p != "."]
        pending.reverse()  # a stack: the next component is last
        done: list[str] = []
        exists = True
        while pending:
            part = pending.pop()
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            current = "/".join([*done, part])
            node = self.nodes.get(current) if exists else None
            if node is None:
                exists = False
            elif node.kind == SYMLINK and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise LayerError(f"too many levels of symbolic links at /{current[:200]}")
                if node.target.startswith("/"):
                    done = []
                pending.extend(reversed([p for p in node.target.split("/") if p]))
                continue
            done.append(part)
        return "/".join(done), exists

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """`path` with every symlink resolved inside the root; None if it does not exist."""
        try:
            resolved, exists = self._canonical(path, follow_last=follow_last)
        except LayerError:
            return None
        return resolved if exists else None

    def get(self, path: str) -> Node | None:
        resolved = self.resolve(path)
        return None if resolved is None else self.nodes.get(resolved)

    def read(self, path: str) -> bytes | None:
        node = self.get(path)
        return node.data if node is not None and node.kind == FILE else None

    def files(self) -> Iterator[tuple[str, Node]]:
        for path, node in self.nodes.items():
            if node.kind == FILE:
                yield path, node

    # writing

    def _remove(self, path: str, *, below_layer: int | None = None) -> None:
        """Remove `path` and what lies under it (only what lower layers wrote, if asked).

        Children go first (iteratively: a hostile layer may nest thousands deep); with
        `below_layer`, a directory that still holds something stays.
        """
        stack = [(path, False)]
        while stack:
            current, children_done = stack.pop()
            if not children_done:
                stack.append((current, True))
                stack.extend((child, False) for child in self.children.get(current, ()))
                continue
            node = self.nodes.get(current)
            if node is None or current == "":
                continue
            if below_layer is not None and (
                node.layer >= below_layer or self.children.get(current)
            ):
                continue
            del self.nodes[current]
            self.children.pop(current, None)
            self.history.pop(current, None)
            self.children[posixpath.dirname(current)].discard(current)

    def _directory(self, path: str, layer: int) -> str:
        """The real directory `path` names (through symlinks), created if missing."""
        node = self.nodes.get(path)
        if node is not None and node.kind == DIRECTORY:
            return path
        canonical, _ = self._canonical(path)
        current = ""
        for part in canonical.split("/") if canonical else ():
            current = f"{current}/{part}" if current else part
            node = self.nodes.get(current)
            if node is not None and node.kind == DIRECTORY:
                continue
            if node is not None:  # a file (or a link out of reach) where a directory must be
                self._remove(current)
            self._link(current, Node(DIRECTORY, layer))
        return canonical

    def _link(self, path: str, node: Node) -> None:
        self.nodes[path] = node
        self.children[posixpath.dirname(path)].add(path)
        if node.kind == DIRECTORY:
            self.children.setdefault(path, set())

    def place(self, path: str, node: Node) -> str:
        """Put `node` at `path` (parents resolved through symlinks); returns where it went."""
        if path == "":
            return ""
        parent = self._directory(posixpath.dirname(path), node.layer)
        name = posixpath.basename(path)
        path = f"{parent}/{name}" if parent else name
        existing = self.nodes.get(path)
        if existing is not None:
            if existing.kind == DIRECTORY and node.kind == DIRECTORY:
                existing.layer, existing.mode = node.layer, node.mode
                return path
            history = self.history.get(path)  # a file rewritten keeps its earlier versions
            self._remove(path)
            if history is not None and node.kind == FILE:
                self.history[path] = history
        self._link(path, node)
        return path

    def whiteout(self, directory: str, name: str, layer: int) -> None:
        parent = self.resolve(directory)
        if parent is None:
            return
        target = posixpath.join(parent, name) if parent else name
        node = self.nodes.get(target)
        if node is not None and node.layer < layer:
            self._remove(target)

    def make_opaque(self, directory: str, layer: int) -> None:
        parent = self.resolve(directory)
        if parent is None or self.nodes[parent].kind != DIRECTORY:
            return
        for child in list(self.children.get(parent, ())):
            self._remove(child, below_layer=layer)


# -- applying layers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """What the catalogers want from the stream.

    `keep(path)` names files whose contents are kept (`history(path)`: with every version,
    per layer); `inspect(path, entry)` looks at executables as they stream by and returns a
    fact to remember (a Go binary's build information) or None.
    """

    keep: Callable[[str], bool]
    history: Callable[[str], bool] = lambda path: False
    inspect: Callable[[str, Entry, int], object] | None = None


def apply_layer(
    fs: Filesystem, source: BinaryIO, layer: int, selector: Selector, budget: Budget
) -> None:
    """Apply one layer (a readable stream of its blob) on top of `fs`."""
    stream = _Decompressed(source, budget)
    limits = budget.limits
    for entry in read_tar(stream, budget):
        directory, name = posixpath.split(entry.path)
        if name == OPAQUE:
            fs.make_opaque(directory, layer)
            continue
        if name.startswith(WHITEOUT_PREFIX):
            fs.whiteout(directory, name[len(WHITEOUT_PREFIX) :], layer)
            continue
        node = Node(entry.kind, layer, entry.size, entry.mode, entry.link)
        if entry.hardlink:
            source_node = fs.get(entry.link)
            if source_node is not None and source_node.kind == FILE:
                node = Node(FILE, layer, source_node.size, source_node.mode)
                node.data, node.facts = source_node.data, source_node.facts
            node.target = ""
        elif entry.kind == FILE and selector.keep(entry.path):
            if entry.size > limits.max_file_bytes:
                raise LayerError(
                    f"/{entry.path[:200]} is {entry.size} bytes, over the per-file limit of "
                    f"{limits.max_file_bytes} (BERTH_SCAN_MAX_FILE_BYTES)"
                )
            if not entry.sparse:
                budget.keep(entry.size)
                node.data = _read_all(entry)
        elif entry.kind == FILE and selector.inspect is not None and entry.mode & 0o111:
            node.facts = selector.inspect(entry.path, entry, limits.max_file_bytes)
        placed = fs.place(entry.path, node)
        if node.data is not None and selector.history(placed):
            fs.history.setdefault(placed, []).append((layer, node.data))


def _read_all(entry: Entry) -> bytes:
    parts = []
    while chunk := entry.read():
        parts.append(chunk)
    return b"".join(parts)
