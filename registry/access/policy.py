"""Who may do what: the one place that decides access to repositories.

Rights come from four places, gathered once per request in `rights_of`:

- a namespace the user owns (their personal one) or belongs to (an organization), with a
  role: readers pull private repositories, maintainers also push and delete tags, admins
  also change visibility and policies and manage members, tokens and robots, owners also
  delete the organization (see the matrix in the README);
- a robot's permissions, on one repository of its organization or on all of them;
- grants on single repositories, to a user, a robot or an organization (sharing);
- superusers, who may do everything.

Public repositories may be pulled by anyone. A top-level repository (`nginx`) belongs to no
namespace: only superusers write it. Everyone else gets exactly what they would get if a
private repository did not exist. A token (a personal access token or a robot's) never
grants more than its scopes, nor more than its owner may do at the moment of use.

`visibility_filter` (which repositories one may see, as a database filter) and
`permitted_actions` (what one may do to one repository) are the same rule written twice,
once for the database and once for a single repository; the registry, the catalog, search,
mounts and the API all go through one of the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from registry import names

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
ACTIONS = frozenset({PULL, PUSH, DELETE})
# Beyond the registry's three actions: administering a repository (visibility, policy,
# deleting it) and a namespace (members, tokens, robots, audit log).
ADMIN = "admin"
# The part of ADMIN that a token may carry: deleting a repository and changing its
# visibility, which publishers' pipelines do through the REST API (the token needs
# `api-write`, and `delete` to delete). Policies, members, robots and organizations are
# changed with the account itself: a token administers nothing else.
MANAGE = "manage"

# What each role may do in its namespace's repositories.
ROLE_ACTIONS = {
    "reader": frozenset({PULL}),
    "maintainer": ACTIONS,
    "admin": ACTIONS | {ADMIN},
    "owner": ACTIONS | {ADMIN},
}


@dataclass(frozen=True)
class Rights:
    """Everything one caller may do, gathered from the database once per request."""

    superuser: bool = False
    roles: dict[str, str] = field(default_factory=dict)  # namespace -> role
    repositories: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> actions
    namespaces: dict[str, frozenset[str]] = field(default_factory=dict)  # robot: ns -> actions
    scopes: frozenset[str] | None = None  # a token's scopes; None: not limited by a token

    def limit(self, actions: frozenset[str]) -> frozenset[str]:
        return actions if self.scopes is None else actions & self.scopes


NOBODY = Rights()


def is_active_user(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_superuser(user) -> bool:
    return is_active_user(user) and user.is_superuser


def _token_scopes(user) -> frozenset[str] | None:
    token = getattr(user, "berth_token", None)
    return frozenset(token.scopes) if token is not None else None


def rights_of(user) -> Rights:
    """The caller's rights (memoized on the user object for the request)."""
    if not is_active_user(user):
        return NOBODY
    cached = getattr(user, "_berth_rights", None)
    if cached is not None:
        return cached
    from . import grants  # the database side of policy

    rights = grants.gather(user, scopes=_token_scopes(user))
    user._berth_rights = rights
    return rights


def forget(user) -> None:
    """Drop the memoized rights (after a change within the same request)."""
    if user is not None and hasattr(user, "_berth_rights"):
        del user._berth_rights


def writable_namespaces(user) -> frozenset[str]:
    """Namespaces in whose repositories `user` may push."""
    rights = rights_of(user)
    return frozenset(
        ns for ns, role in rights.roles.items() if PUSH in rights.limit(ROLE_ACTIONS[role])
    )


def administered_namespaces(user) -> frozenset[str]:
    """Namespaces whose members, tokens, robots and audit log `user` manages."""
    rights = rights_of(user)
    return frozenset(ns for ns, role in rights.roles.items() if ADMIN in ROLE_ACTIONS[role])


def readable_namespaces(user) -> frozenset[str]:
    """Namespaces whose private repositories `user` may see."""
    rights = rights_of(user)
    found = {ns for ns, role in rights.roles.items() if PULL in rights.limit(ROLE_ACTIONS[role])}
    found |= {ns for ns, actions in rights.namespaces.items() if PULL in rights.limit(actions)}
    return frozenset(found)


def readable_repositories(user) -> frozenset[str]:
    """Names of single repositories `user` may pull by a grant or a robot permission."""
    rights = rights_of(user)
    return frozenset(
        name for name, actions in rights.repositories.items() if PULL in rights.limit(actions)
    )


def visibility_filter(user, prefix: str = "") -> Q:
    """A filter selecting the repositories `user` may see.

    `prefix` reaches the repository's `is_private`, `namespace` and `name` fields through a
    relation (or names a model that mirrors them, such as the gallery's catalog entries). A
    top-level repository's namespace is "", which no user owns.
    """
    if is_superuser(user) and PULL in rights_of(user).limit(ACTIONS):
        return Q()
    visible = Q(**{f"{prefix}is_private": False})
    namespaces = readable_namespaces(user)
    if namespaces:
        visible |= Q(**{f"{prefix}namespace__in": sorted(namespaces)})
    repositories = readable_repositories(user)
    if repositories:
        visible |= Q(**{f"{prefix}name__in": sorted(repositories)})
    return visible


def permitted_actions(user, name: str, *, public: bool = False) -> frozenset[str]:
    """What `user` may do to the repository called `name`; `public` says whether anyone may
    pull it (`is_public` of its row, or `registry.queries.is_public(name)`). ADMIN among
    them means the caller may also change its visibility and policy, or delete it; MANAGE,
    its visibility, or delete it (with DELETE too), also with a token."""
    if not names.is_valid_name(name):
        return frozenset()
    rights = rights_of(user)
    found: set[str] = {PULL} if public else set()
    if rights.superuser:
        found |= ACTIONS | {ADMIN}
    namespace = names.namespace_of(name)
    if namespace and namespace in rights.roles:
        found |= ROLE_ACTIONS[rights.roles[namespace]]
    if namespace and namespace in rights.namespaces:
        found |= rights.namespaces[namespace]
    found |= rights.repositories.get(name, frozenset())
    scoped = rights.limit(frozenset(found - {ADMIN}))
    if ADMIN in found:
        scoped |= {MANAGE}
        # A token administers nothing else: policies and members take the account itself.
        if rights.scopes is None:
            scoped |= {ADMIN}
    if public and rights.scopes is not None and PULL not in rights.scopes:
        scoped |= {PULL}  # anyone may pull a public repository, with or without the scope
    if scoped - {PULL} and is_cached(name):
        scoped &= {PULL}  # a pull-through cache's repositories are read-only to everyone
    return frozenset(scoped)


def is_cached(name: str) -> bool:
    """Is `name` under a pull-through cache rule (registry.cache)? Such repositories hold
    an upstream's content: nobody pushes, deletes or administers them."""
    from registry.cache import rules

    return rules.rule_for(name) is not None


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
    granted = sorted(wanted & (permitted & ACTIONS))
    if ALL in requested and permitted >= ACTIONS:
        granted.append(ALL)
    return granted
