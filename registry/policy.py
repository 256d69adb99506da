"""Who may do what: the one place that decides access to repositories.

Every user owns the namespace named after them (when their username is a valid name
component) and may push, pull and delete anything under `<username>/…`. Public repositories
may be pulled by anyone; private ones only by their owners. Superusers may do everything.
Everyone else gets exactly what they would get if a private repository did not exist.
"""

from __future__ import annotations

from django.db.models import Q

from . import names

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
ACTIONS = frozenset({PULL, PUSH, DELETE})


def is_active_user(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def user_namespace(user) -> str | None:
    """The namespace a user owns, or None (anonymous, inactive, or not a valid component)."""
    if not is_active_user(user):
        return None
    return user.username if names.is_valid_component(user.username) else None


def visibility_filter(user, prefix: str = "") -> Q:
    """A filter selecting the repositories `user` may see.

    `prefix` reaches the repository's `is_private` and `namespace` fields through a relation
    (or names a model that mirrors them, such as the gallery's catalog entries).
    """
    if is_active_user(user) and user.is_superuser:
        return Q()
    visible = Q(**{f"{prefix}is_private": False})
    namespace = user_namespace(user)
    if namespace:
        visible |= Q(**{f"{prefix}namespace": namespace})
    return visible


def permitted_actions(user, name: str, repository) -> frozenset[str]:
    """What `user` may do to the repository called `name` (`repository` is its row or None)."""
    if not names.is_valid_name(name):
        return frozenset()
    if is_active_user(user) and user.is_superuser:
        return ACTIONS
    namespace = user_namespace(user)
    if namespace and "/" in name and names.namespace_of(name) == namespace:
        return ACTIONS
    if repository is not None and not repository.is_private:
        return frozenset({PULL})
    return frozenset()


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
