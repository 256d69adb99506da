"""Semver-aware ordering of tags, as a string the database can sort.

Versions are parsed by `packaging` (PEP 440, which also reads `v1.2.3` and `1.2.3-rc.1`);
a tag such as `1.2.3-alpine` is read as version 1.2.3 with the variant `alpine`. The key
sorts ascending from oldest to newest, so the Tags tab orders by it descending: `latest`
first, then versions newest first (`1.10.0` above `1.9.0`, pre-releases below their
release, plain tags above their variants), then every other tag.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

RELEASE_PARTS = 8
_PRE = {"a": 1, "b": 2, "rc": 3}


def _parse(tag: str) -> tuple[Version, str] | None:
    try:
        return Version(tag), ""
    except InvalidVersion:
        pass
    head, sep, variant = tag.partition("-")
    if sep and variant:
        try:
            return Version(head), variant
        except InvalidVersion:
            return None
    return None


def _number(value: int) -> str:
    return f"{min(value, 9_999_999_999):010d}"


def sort_key(tag: str) -> str:
    """A string whose ascending order is the tags' version order (see module docstring)."""
    if tag == "latest":
        return "3"
    parsed = _parse(tag)
    if parsed is None:
        return "0"
    version, variant = parsed
    release = (list(version.release) + [0] * RELEASE_PARTS)[:RELEASE_PARTS]
    if version.pre:
        pre_kind, pre_number = _PRE.get(version.pre[0], 0), version.pre[1]
    elif version.dev is not None and version.post is None:
        pre_kind, pre_number = 0, 0  # 1.0.dev1 comes before 1.0a1
    else:
        pre_kind, pre_number = 9, 0
    post = version.post + 1 if version.post is not None else 0
    dev = version.dev if version.dev is not None else 9_999_999_999
    return "".join(
        [
            "1",
            _number(version.epoch)[-4:],
            *(_number(part) for part in release),
            str(pre_kind),
            _number(pre_number),
            _number(post),
            _number(dev),
            "1" if not variant else "0",
        ]
    )
