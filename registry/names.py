"""Repository names and tags: the distribution spec's grammar. Pure: no Django."""

import re

# One path component: lowercase alphanumerics joined by ".", "_", "__" or runs of "-".
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# The path converter in registry/urls.py uses this; it is unambiguous, so matching a hostile
# path takes linear time.
NAME = rf"{COMPONENT}(?:/{COMPONENT})*"
NAME_MAX_LENGTH = 255
TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"

_NAME = re.compile(NAME)
_COMPONENT = re.compile(COMPONENT)
_TAG = re.compile(TAG)


def is_valid_name(name: str) -> bool:
    return 2 <= len(name) <= NAME_MAX_LENGTH and _NAME.fullmatch(name) is not None


def is_valid_component(value: str) -> bool:
    return _COMPONENT.fullmatch(value) is not None


def is_valid_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


def namespace_of(name: str) -> str:
    """The namespace that owns the repository: its first path component, or "" for a
    top-level name (`nginx`), which belongs to no namespace and is written by staff only."""
    namespace, slash, _ = name.partition("/")
    return namespace if slash else ""
