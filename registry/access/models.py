"""Access records: organization members, access tokens, robots, repository policies, the
audit log, and each account's revocation generation. (Imported by registry.models, so that
they belong to the registry app.)"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    """A member's role in an organization; each includes the rights of those below it."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MAINTAINER = "maintainer", "Maintainer"
    READER = "reader", "Reader"


ROLE_RANK = {Role.READER: 1, Role.MAINTAINER: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Membership(models.Model):
    """A user's role in an organization (a Namespace of kind organization)."""

    namespace = models.ForeignKey(
        "registry.Namespace", on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "user"], name="membership_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} is {self.role} of {self.namespace_id}"


class Scope(models.TextChoices):
    """What an access token may be used for (never more than its owner may do)."""

    PULL = "pull", "Pull images"
    PUSH = "push", "Push images"
    DELETE = "delete", "Delete tags and images"
    API_READ = "api-read", "Read through the API"
    API_WRITE = "api-write", "Write through the API"


class AccessToken(models.Model):
    """A personal access token or a robot's token: shown once, stored as a keyed hash.

    The secret reads `berth_<key_id>_<secret>`; the key id finds the row, an HMAC of the
    secret (a fast keyed hash is right for long random secrets) proves it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_address = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"


class Robot(models.Model):
    """A machine account of an organization, for CI: a user row of its own (username
    `<organization>+<name>`, no password) that signs in with its tokens only."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="robot"
    )
    namespace = models.ForeignKey(
        "registry.Namespace", on_delete=models.CASCADE, related_name="robots"
    )
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="robot_once")]

    def __str__(self) -> str:
        return self.user.username


class RobotPermission(models.Model):
    """What a robot may do: on one repository of its organization, or on all ("")."""

    robot = models.ForeignKey(Robot, on_delete=models.CASCADE, related_name="permissions")
    repository = models.CharField(max_length=255, blank=True)  # a full name, "" for all
    actions = models.JSONField(default=list)  # ["pull"], ["pull", "push"], …

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["robot", "repository"], name="robot_permission_once")
        ]

    def __str__(self) -> str:
        return f"{self.robot_id}: {self.repository or '*'} {self.actions}"


class RepositoryGrant(models.Model):
    """Sharing: pull, or pull and push, on one repository for another user, robot or
    organization (all of its members)."""

    repository = models.ForeignKey(
        "registry.Repository", on_delete=models.CASCADE, related_name="grants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="repository_grants",
    )
    organization = models.ForeignKey(
        "registry.Namespace",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="repository_grants",
    )
    actions = models.JSONField(default=list)  # ["pull"] or ["pull", "push"]
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.actions} on {self.repository_id}"


class NetworkRule(models.Model):
    """Pulls and pushes of a repository (or of every repository of a namespace) only from
    these client networks."""

    repository = models.ForeignKey(
        "registry.Repository",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="network_rules",
    )
    namespace = models.ForeignKey(
        "registry.Namespace",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="network_rules",
    )
    network = models.CharField(max_length=64)  # CIDR, IPv4 or IPv6

    def __str__(self) -> str:
        return self.network


class AccountState(models.Model):
    """An account's revocation generation: bumped whenever its rights shrink (a token
    revoked, the account disabled, a membership removed or lowered, a grant withdrawn).
    Registry tokens carry the generation they were issued under and stop at a new one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_state"
    )
    generation = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.generation}"


class AuditEvent(models.Model):
    """One security-relevant event: who, from where, when, what, to what."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, blank=True)  # a username, or "" for anonymous
    actor_id = models.BigIntegerField(null=True, blank=True)
    address = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    namespace = models.CharField(max_length=255, blank=True, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["namespace", "-at"], name="audit_by_namespace")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor or 'anonymous'} {self.action} {self.target}"
