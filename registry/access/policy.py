"""Who may do what: the one place that decides access to repositories.

A namespace's owner (registry.access.namespaces) may push, pull and delete anything under
`<namespace>/…`. Public repositories may be pulled by anyone; private ones only by those
who may write their namespace. Top-level repositories (`nginx`) belong to no namespace:
only superusers write them, and a private one is seen by superusers only. Superusers may
do everything. Everyone else gets exactly what they would get if a private repository did
not exist.

`visibility_filter` (which repositories one may see, as a database filter) and
`permitted_actions` (what one may do to one repository) are the same rule written twice,
once for the database and once for a single row; the registry, the catalog, search and
mounts all go through one of the two.
"""

from __future__ import annotations

from django.db.models import Q

from registry import names

from . import namespaces

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
ACTIONS = frozenset({PULL, PUSH, DELETE})


def is_active_user(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_superuser(user) -> bool:
    return is_active_user(user) and user.is_superuser


def writable_namespaces(user) -> frozenset[str]:
    """Namespaces whose repositories `user` may push to, pull and delete in."""
    if not is_active_user(user):
        return frozenset()
    return namespaces.owned_by(user)


def readable_namespaces(user) -> frozenset[str]:
    """Namespaces whose private repositories `user` may see."""
    return writable_namespaces(user)


def visibility_filter(user, prefix: str = "") -> Q:
    """A filter selecting the repositories `user` may see.

    `prefix` reaches the repository's `is_private` and `namespace` fields through a relation
    (or names a model that mirrors them, such as the gallery's catalog entries). A
    top-level repository's namespace is "", which no user owns.
    """
    if is_superuser(user):
        return Q()
    visible = Q(**{f"{prefix}is_private": False})
    readable = readable_namespaces(user)
    if readable:
        visible |= Q(**{f"{prefix}namespace__in": sorted(readable)})
    return visible


def permitted_actions(user, name: str, *, public: bool = False) -> frozenset[str]:
    """What `user` may do to the repository called `name`; `public` says whether anyone may
    pull it (`is_public` of its row, or `registry.queries.is_public(name)`)."""
    if not names.is_valid_name(name):
        return frozenset()
    if is_superuser(user):
        return ACTIONS
    namespace = names.namespace_of(name)
    if namespace and namespace in writable_namespaces(user):
        return ACTIONS
    if public:
        return frozenset({PULL})
    return frozenset()


def is_public(repository) -> bool:
    """Anyone may pull it: it exists, is not private, and is not provisional (an upload
    began, no manifest yet: to everyone but its writers it does not exist yet)."""
    return repository is not None and not repository.is_private and not repository.is_provisional


def expand(actions) -> frozenset[str]:
    """`*` stands for every action."""
    actions = frozenset(actions)
    return ACTIONS | (actions - {ALL}) if ALL in actions else actions


def grant(requested, permitted) -> list[str]:
    """The intersection of what was asked and what is permitted, in a stable order."""
    wanted = expand(requested)
    granted = sorted(wanted & permitted)
    if ALL in requested and permitted >= ACTIONS:
        granted.append(ALL)
    return granted
