"""Text a database can store: pushed content brings what no text column holds.

NUL (PostgreSQL refuses it) and lone surrogates (JSON's "\\ud800" is one, and UTF-8 cannot
encode it) come in JSON escapes of configs, annotations and lockfiles, and in the
non-UTF-8 file names of layers. A value to refuse is checked with `is_storable`; a value
to keep, with `storable`, has them replaced by U+FFFD.
"""

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def storable(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def storable_json(value):
    """A decoded JSON value with every string in it (keys too) made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


# The JSON escapes that decode to what `storable` replaces: \u0000 and \ud800-\udfff.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def may_hold_unstorable(raw: bytes) -> bool:
    """Whether JSON text may decode to strings that are not storable (UTF-8 text can hold
    neither but as an escape): when not, its decoded value needs no storable_json."""
    return _UNSTORABLE_ESCAPE.search(raw) is not None
