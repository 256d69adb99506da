"""Version order per ecosystem: never string comparison.

- dpkg (Debian, Ubuntu): a port of dpkg's `verrevcmp` and epoch/upstream/revision split
  (lib/dpkg/version.c), checked against dpkg's own test vectors.
- apk (Alpine, Wolfi, Chainguard): a port of apk-tools' token comparison (src/version.c).
- rpm (Red Hat and its rebuilds, SUSE): a port of `rpmvercmp` with epoch:version-release.
- PEP 440 (PyPI): `packaging.version`.
- SemVer 2.0.0 precedence (npm, Go, crates.io, and OSV's SEMVER ranges).

`compare(scheme, a, b)` returns <0, 0 or >0 and raises InvalidVersion when a version cannot
be ordered under that scheme; callers then match nothing rather than guess.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from packaging import version as pep440


class InvalidVersion(ValueError):
    pass


DPKG, APK, RPM, PEP440, SEMVER = "dpkg", "apk", "rpm", "pep440", "semver"

# OSV ecosystem (the part before ":") -> the version scheme it orders by.
ECOSYSTEM_SCHEMES = {
    "Debian": DPKG,
    "Ubuntu": DPKG,
    "Alpine": APK,
    "Wolfi": APK,
    "Chainguard": APK,
    "Red Hat": RPM,
    "AlmaLinux": RPM,
    "Rocky Linux": RPM,
    "openSUSE": RPM,
    "SUSE": RPM,
    "Mageia": RPM,
    "openEuler": RPM,
    "PyPI": PEP440,
    "npm": SEMVER,
    "Go": SEMVER,
    "crates.io": SEMVER,
}


def scheme_for(ecosystem: str) -> str | None:
    """The version scheme of an OSV ecosystem such as "Debian:12" or "PyPI"; None if unknown."""
    return ECOSYSTEM_SCHEMES.get(ecosystem.split(":", 1)[0])


def compare(scheme: str, a: str, b: str) -> int:
    return _COMPARERS[scheme](a, b)


def sort_key(scheme: str) -> Callable[[str], object]:
    return functools.cmp_to_key(_COMPARERS[scheme])


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


# -- dpkg ---------------------------------------------------------------------------------------


def _dpkg_order(char: str) -> int:
    if not char or char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i] if i < len(a) else "")
            bc = _dpkg_order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and j < len(b) and a[i].isdigit() and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


@functools.lru_cache(maxsize=65536)
def _dpkg_parse(value: str) -> tuple[int, str, str]:
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        raise InvalidVersion(f"not a dpkg version: {value!r}")
    epoch, colon, rest = text.partition(":")
    if colon:
        if not epoch.isascii() or not epoch.isdigit() or len(epoch) > 9 or not rest:
            raise InvalidVersion(f"not a dpkg version: {value!r}")
    else:
        epoch, rest = "0", text
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    return int(epoch), upstream, revision


def compare_dpkg(a: str, b: str) -> int:
    ea, ua, ra = _dpkg_parse(a)
    eb, ub, rb = _dpkg_parse(b)
    if ea != eb:
        return _sign(ea - eb)
    return _sign(_verrevcmp(ua, ub)) or _sign(_verrevcmp(ra, rb))


# -- apk ----------------------------------------------------------------------------------------

# Token types, in apk-tools' order: a later type may only follow an earlier one.
_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END, _INVALID = range(9)
# Suffix values: pre-release suffixes sort below "no suffix", post-release ones above.
_SUFFIXES = {
    "alpha": 1,
    "beta": 2,
    "pre": 3,
    "rc": 4,
    "cvs": 6,
    "svn": 7,
    "git": 8,
    "hg": 9,
    "p": 10,
}
_SUFFIX_NONE = 5
_HEX = frozenset("0123456789abcdef")


@functools.lru_cache(maxsize=65536)
def _apk_tokens(value: str) -> tuple[tuple[int, int, str], ...]:
    """(token type, number or suffix value, text) up to and including END or INVALID."""
    tokens: list[tuple[int, int, str]] = []
    i, n = 0, len(value)

    def digits(start: int) -> tuple[int, str, int]:
        end = start
        while end < n and value[end].isascii() and value[end].isdigit():
            end += 1
        return (int(value[start:end]) if end > start else 0), value[start:end], end

    number, text, i = digits(0)
    token = _INITIAL if text else _INVALID
    tokens.append((token, number, text))
    while token < _END:
        if i >= n:
            token = _END
            tokens.append((token, 0, ""))
            break
        char = value[i]
        if "a" <= char <= "z":
            if token > _DIGIT:
                token = _INVALID
            else:
                token, number, text, i = _LETTER, 0, char, i + 1
        elif char == "." or (char.isascii() and char.isdigit()):
            if char == ".":
                if token > _DIGIT:
                    token = _INVALID
                    tokens.append((token, 0, ""))
                    break
                i += 1
            if token in (_INITIAL, _DIGIT):
                token = _DIGIT
            elif token == _SUFFIX:
                token = _SUFFIX_NO
            else:
                token = _INVALID
            if token != _INVALID:
                number, text, i = digits(i)
                if not text:
                    token = _INVALID
        elif char == "_":
            if token > _SUFFIX_NO:
                token = _INVALID
            else:
                end = i + 1
                while end < n and "a" <= value[end] <= "z":
                    end += 1
                text, i = value[i + 1 : end], end
                number = _SUFFIXES.get(text, 0)
                token = _SUFFIX if number else _INVALID
        elif char == "~":
            end = i + 1
            while end < n and value[end] in _HEX:
                end += 1
            if token >= _HASH or end == i + 1:
                token = _INVALID
            else:
                token, number, text, i = _HASH, 0, value[i + 1 : end], end
        elif char == "-":
            if token >= _REVISION or not value.startswith("-r", i):
                token = _INVALID
            else:
                number, text, i = digits(i + 2)
                token = _REVISION if text else _INVALID
        else:
            token = _INVALID
        tokens.append((token, number, text))
    return tuple(tokens)


def _apk_token_cmp(token: int, a: tuple[int, int, str], b: tuple[int, int, str]) -> int:
    if token == _DIGIT and (a[2][:1] == "0" or b[2][:1] == "0"):
        token = _HASH  # a leading zero: compared as strings, as Gentoo does
    if token in (_INITIAL, _DIGIT, _SUFFIX_NO, _REVISION, _SUFFIX):
        return _sign(a[1] - b[1])
    if token == _LETTER:
        return _sign(ord(a[2]) - ord(b[2]))
    return (a[2] > b[2]) - (a[2] < b[2])


def compare_apk(a: str, b: str) -> int:
    ta, tb = _apk_tokens(a), _apk_tokens(b)
    index = 0
    while True:
        x, y = ta[index], tb[index]
        if x[0] != y[0] or x[0] >= _END:
            break
        result = _apk_token_cmp(x[0], x, y)
        if result:
            return result
        index += 1
    if x[0] == y[0]:
        return 0
    # Equal so far: the longer version is greater, unless it goes on with a pre-release suffix.
    if x[0] == _SUFFIX and x[1] < _SUFFIX_NONE:
        return -1
    if y[0] == _SUFFIX and y[1] < _SUFFIX_NONE:
        return 1
    return -1 if x[0] > y[0] else 1


# -- rpm ----------------------------------------------------------------------------------------

_RPM_SEGMENT = re.compile(r"(\d+|[A-Za-z]+|~|\^)")


def _rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    one, two = a, b
    while one or two:
        one = re.sub(r"^[^A-Za-z0-9~^]+", "", one)
        two = re.sub(r"^[^A-Za-z0-9~^]+", "", two)
        if one.startswith("~") or two.startswith("~"):
            if not one.startswith("~"):
                return 1
            if not two.startswith("~"):
                return -1
            one, two = one[1:], two[1:]
            continue
        if one.startswith("^") or two.startswith("^"):
            if not one:
                return -1
            if not two:
                return 1
            if not one.startswith("^"):
                return 1
            if not two.startswith("^"):
                return -1
            one, two = one[1:], two[1:]
            continue
        if not (one and two):
            break
        numeric = one[0].isdigit()
        pattern = r"^\d+" if numeric else r"^[A-Za-z]+"
        seg1 = re.match(pattern, one)
        seg2 = re.match(pattern, two)
        if seg2 is None:  # different kinds of segment: a number is newer than letters
            return 1 if numeric else -1
        s1, s2 = seg1.group(), seg2.group()
        if numeric:
            s1, s2 = s1.lstrip("0"), s2.lstrip("0")
            if len(s1) != len(s2):
                return 1 if len(s1) > len(s2) else -1
        if s1 != s2:
            return 1 if s1 > s2 else -1
        one, two = one[seg1.end() :], two[seg2.end() :]
    if not one and not two:
        return 0
    return -1 if not one else 1


@functools.lru_cache(maxsize=65536)
def _rpm_parse(value: str) -> tuple[int, str, str]:
    text = value.strip()
    if not text:
        raise InvalidVersion("empty rpm version")
    epoch, colon, rest = text.partition(":")
    if colon:
        if not epoch.isdigit():
            raise InvalidVersion(f"not an rpm version: {value!r}")
    else:
        epoch, rest = "0", text
    version, hyphen, release = rest.rpartition("-")
    if not hyphen:
        version, release = rest, ""
    return int(epoch), version, release


def compare_rpm(a: str, b: str) -> int:
    ea, va, ra = _rpm_parse(a)
    eb, vb, rb = _rpm_parse(b)
    if ea != eb:
        return _sign(ea - eb)
    result = _rpmvercmp(va, vb)
    if result or not (ra and rb):  # a missing release matches any release
        return result
    return _rpmvercmp(ra, rb)


# -- PEP 440 ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _pep440(value: str) -> pep440.Version:
    try:
        return pep440.Version(value)
    except pep440.InvalidVersion:
        raise InvalidVersion(f"not a PEP 440 version: {value!r}") from None


def compare_pep440(a: str, b: str) -> int:
    va, vb = _pep440(a), _pep440(b)
    return (va > vb) - (va < vb)


# -- SemVer -------------------------------------------------------------------------------------

_SEMVER = re.compile(
    r"v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?"
)


@functools.lru_cache(maxsize=65536)
def _semver(value: str) -> tuple[tuple[int, int, int], tuple]:
    match = _SEMVER.fullmatch(value.strip())
    if match is None:
        raise InvalidVersion(f"not a semantic version: {value!r}")
    core = (int(match["major"]), int(match["minor"] or 0), int(match["patch"] or 0))
    pre = match["pre"]
    if pre is None:
        return core, ()
    # Numeric identifiers sort below alphanumeric ones (SemVer 2.0.0, item 11).
    return core, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))


def compare_semver(a: str, b: str) -> int:
    (ca, pa), (cb, pb) = _semver(a), _semver(b)
    if ca != cb:
        return (ca > cb) - (ca < cb)
    if not pa or not pb:  # a release is above its pre-releases
        return (not pa) - (not pb)
    return (pa > pb) - (pa < pb)


_COMPARERS: dict[str, Callable[[str, str], int]] = {
    DPKG: compare_dpkg,
    APK: compare_apk,
    RPM: compare_rpm,
    PEP440: compare_pep440,
    SEMVER: compare_semver,
}
