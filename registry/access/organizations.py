"""Organizations, their members and their robots.

An organization is a Namespace of kind organization, in the one name space users share
(the same grammar, reserved names and "never reused" rule as a username). Its members
have roles (policy.ROLE_ACTIONS); it always keeps at least one owner. Robots are machine
accounts of an organization for CI: a user row each (`<organization>+<name>`, no password)
that signs in only with its tokens and may do only what its permissions say.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry import names
from registry.models import (
    Membership,
    Namespace,
    ReplicationRule,
    Robot,
    RobotPermission,
    Role,
)

from . import audit, credentials, namespaces, revocation
from .policy import ACTIONS, PULL

ROBOT_NAME_MAX = 32


class AccessError(Exception):
    """A refused change, with a message a person can act on."""


def create_organization(*, name: str, owner, address: str = "") -> Namespace:
    problem = namespaces.naming_problem(name)
    if problem:
        raise AccessError(problem)
    try:
        with transaction.atomic():
            organization = Namespace.objects.create(name=name, kind=Namespace.Kind.ORGANIZATION)
            Membership.objects.create(namespace=organization, user=owner, role=Role.OWNER)
            audit.record(
                "organization.created", actor=owner, address=address, namespace=name, target=name
            )
    except IntegrityError:
        raise AccessError("This name is taken.") from None
    return organization


def organization(name: str) -> Namespace | None:
    return Namespace.objects.filter(name=name, kind=Namespace.Kind.ORGANIZATION).first()


# A robot's tokens: everything its permissions may grant (they, not the token, limit it, and
# can change without new tokens).
ROBOT_TOKEN_SCOPES = ["pull", "push", "delete", "api-read"]


def owner_count(organization: Namespace) -> int:
    return organization.memberships.filter(role=Role.OWNER).count()


def set_member(*, organization: Namespace, user, role: str, actor, address: str = "") -> Membership:
    """Add `user` with `role`, or change their role. The last owner stays an owner."""
    if role not in Role.values:
        raise AccessError(f"A role is one of {', '.join(Role.values)}.")
    if Robot.objects.filter(user=user).exists():
        raise AccessError("Robots cannot be members; give them permissions instead.")
    with transaction.atomic():
        Namespace.objects.select_for_update().filter(pk=organization.pk).get()
        membership = organization.memberships.filter(user=user).first()
        if membership is None:
            membership = Membership.objects.create(namespace=organization, user=user, role=role)
            audit.record(
                "member.added",
                actor=actor,
                address=address,
                namespace=organization.name,
                target=user.username,
                detail={"role": role},
            )
            return membership
        if membership.role == role:
            return membership
        if membership.role == Role.OWNER and owner_count(organization) == 1:
            raise AccessError("The last owner cannot be demoted; make someone else owner first.")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        revocation.bump(user.pk)  # a lower role ends its tokens' wider rights at once
        audit.record(
            "member.role_changed",
            actor=actor,
            address=address,
            namespace=organization.name,
            target=user.username,
            detail={"from": before, "to": role},
        )
    return membership


def remove_member(*, organization: Namespace, user, actor, address: str = "") -> None:
    with transaction.atomic():
        Namespace.objects.select_for_update().filter(pk=organization.pk).get()
        membership = organization.memberships.filter(user=user).first()
        if membership is None:
            raise AccessError(f"{user.username} is not a member.")
        if membership.role == Role.OWNER and owner_count(organization) == 1:
            raise AccessError("The last owner cannot leave; make someone else owner first.")
        membership.delete()
        revocation.bump(user.pk)
        audit.record(
            "member.removed",
            actor=actor,
            address=address,
            namespace=organization.name,
            target=user.username,
        )


def delete_organization(*, organization: Namespace, actor, address: str = "") -> list[str]:
    """Delete an organization's repositories, members and robots. The name stays reserved
    (a namespace without members or owner), like a deleted user's."""
    from registry import services

    with transaction.atomic():
        deleted = []
        for repository in services.Repository.objects.filter(namespace=organization.name):
            services.delete_repository(repository=repository)
            deleted.append(repository.name)
        for user_id in organization.memberships.values_list("user_id", flat=True):
            revocation.bump(user_id)
        organization.memberships.all().delete()
        for robot in organization.robots.select_related("user"):
            robot.user.delete()
        # Its name stays reserved: other publishers' rules copying into it stop, declined.
        ReplicationRule.objects.filter(target=organization, declined_at__isnull=True).update(
            declined_at=timezone.now()
        )
        audit.record(
            "organization.deleted",
            actor=actor,
            address=address,
            namespace=organization.name,
            target=organization.name,
            detail={"repositories": deleted},
        )
    return deleted


# -- robots -------------------------------------------------------------------------------------


def _clean_permissions(organization: Namespace, permissions) -> list[tuple[str, list[str]]]:
    """[(repository or "", actions)], checked: repositories of this organization only."""
    cleaned = []
    for item in permissions or []:
        repository = str(item.get("repository", "") or "")
        actions = sorted(set(item.get("actions") or []))
        if not actions or not set(actions) <= ACTIONS or PULL not in actions:
            raise AccessError("Robot actions are pull, pull and push, or pull, push and delete.")
        if repository and (
            not names.is_valid_name(repository)
            or names.namespace_of(repository) != organization.name
        ):
            raise AccessError(f"{repository!r} is not a repository of {organization.name}.")
        if any(repository == seen for seen, _ in cleaned):
            raise AccessError(f"Name each repository once ({repository or 'all'} is there twice).")
        cleaned.append((repository, actions))
    return cleaned


def create_robot(
    *, organization: Namespace, name: str, description: str = "", permissions=(), actor,
    address: str = "",
) -> tuple[Robot, str]:  # fmt: skip
    """A robot and its first token (pull, push and delete as far as its permissions go)."""
    if not (1 <= len(name) <= ROBOT_NAME_MAX) or not names.is_valid_component(name):
        raise AccessError("Use lowercase letters, digits and . _ - for a robot's name.")
    cleaned = _clean_permissions(organization, permissions)
    username = f"{organization.name}+{name}"
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username)  # no password
            robot = Robot.objects.create(
                user=user, namespace=organization, name=name, description=description[:255]
            )
            RobotPermission.objects.bulk_create(
                [RobotPermission(robot=robot, repository=r, actions=a) for r, a in cleaned]
            )
            audit.record(
                "robot.created",
                actor=actor,
                address=address,
                namespace=organization.name,
                target=username,
                detail={"permissions": [{"repository": r, "actions": a} for r, a in cleaned]},
            )
            _, secret = credentials.create_token(
                user=user,
                name="robot",
                scopes=ROBOT_TOKEN_SCOPES,
                actor=actor,
                address=address,
            )
    except IntegrityError:
        raise AccessError("A robot of that name exists.") from None
    return robot, secret


def set_robot_permissions(*, robot: Robot, permissions, actor, address: str = "") -> None:
    cleaned = _clean_permissions(robot.namespace, permissions)
    with transaction.atomic():
        robot.permissions.all().delete()
        RobotPermission.objects.bulk_create(
            [RobotPermission(robot=robot, repository=r, actions=a) for r, a in cleaned]
        )
        revocation.bump(robot.user_id)
        audit.record(
            "robot.changed",
            actor=actor,
            address=address,
            namespace=robot.namespace.name,
            target=robot.user.username,
            detail={"permissions": [{"repository": r, "actions": a} for r, a in cleaned]},
        )


def delete_robot(*, robot: Robot, actor, address: str = "") -> None:
    with transaction.atomic():
        audit.record(
            "robot.deleted",
            actor=actor,
            address=address,
            namespace=robot.namespace.name,
            target=robot.user.username,
        )
        robot.user.delete()  # its tokens go with it; post_delete ends its registry tokens
