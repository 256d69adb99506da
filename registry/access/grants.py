"""The database side of policy: one caller's roles, robot permissions and grants."""

from __future__ import annotations

from django.db.models import Q

from registry.models import Membership, Namespace, RepositoryGrant, Robot

from .policy import ROLE_ACTIONS, Rights


def gather(user, *, scopes: frozenset[str] | None) -> Rights:
    """Every right `user` holds, in four queries."""
    roles: dict[str, str] = {
        name: "owner"
        for name in Namespace.objects.filter(owner=user).values_list("name", flat=True)
    }
    for name, role in Membership.objects.filter(user=user).values_list("namespace__name", "role"):
        if len(ROLE_ACTIONS[role]) >= len(ROLE_ACTIONS.get(roles.get(name, "reader"), ())):
            roles[name] = role
    namespaces: dict[str, frozenset[str]] = {}
    repositories: dict[str, frozenset[str]] = {}
    robot = Robot.objects.filter(user=user).select_related("namespace").first()
    if robot is not None:
        for repository, actions in robot.permissions.values_list("repository", "actions"):
            if not repository:
                namespaces[robot.namespace.name] = frozenset(actions)
            elif repository.startswith(robot.namespace.name + "/"):
                repositories[repository] = repositories.get(repository, frozenset()) | set(actions)
    shared = RepositoryGrant.objects.filter(
        Q(user=user) | Q(organization__memberships__user=user)
    ).values_list("repository__name", "actions")
    for repository, actions in shared:
        repositories[repository] = repositories.get(repository, frozenset()) | set(actions)
    return Rights(
        superuser=user.is_superuser,
        roles=roles,
        repositories=repositories,
        namespaces=namespaces,
        scopes=scopes,
    )
