"""Replication's records: rules per publisher, the state per rule and repository, and what
each rule put at its destination. (Imported by registry.models, so that they belong to the
registry app.)"""

from __future__ import annotations

import fnmatch

from django.conf import settings
from django.db import models

from registry import names


class ReplicationRule(models.Model):
    """Copy the repositories of `namespace` that `filter` selects to another registry
    (`url`, with an account: another region) or to another publisher in this Berth
    (`target`, once its admins accepted: another account)."""

    class Kind(models.TextChoices):
        REGISTRY = "registry", "Another registry"
        PUBLISHER = "publisher", "Another publisher in this Berth"

    namespace = models.ForeignKey(
        "registry.Namespace", on_delete=models.CASCADE, related_name="replication_rules"
    )
    filter = models.CharField(
        max_length=255,
        blank=True,
        help_text="Repositories of the namespace: empty for all, a prefix (team/) or a glob "
        "(app-*).",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Kind.REGISTRY: the destination registry and where under it.
    url = models.CharField(max_length=2048, blank=True)
    destination_namespace = models.CharField(max_length=names.NAME_MAX_LENGTH, blank=True)
    username = models.CharField(max_length=255, blank=True)
    password_sealed = models.TextField(blank=True, editable=False)  # upstream.vault
    allow_private_networks = models.BooleanField(default=False)  # staff only
    # Does the destination set tags given with a manifest pushed by digest (`?tag=`)?
    tag_parameter = models.BooleanField(null=True, blank=True, editable=False)
    # Kind.PUBLISHER: the other publisher, and its answer.
    target = models.ForeignKey(
        "registry.Namespace",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="incoming_replication_rules",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    replicate_deletes = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["namespace__name", "pk"]

    def __str__(self) -> str:
        return f"{self.namespace.name}/{self.filter or '*'} → {self.destination}"

    @property
    def destination(self) -> str:
        if self.kind == self.Kind.PUBLISHER:
            return self.target.name if self.target_id else "?"
        host = self.url.split("://", 1)[-1]
        return f"{host}/{self.destination_namespace}" if self.destination_namespace else host

    @property
    def ready(self) -> bool:
        """Enabled, and (for another publisher) accepted and not declined."""
        if not self.enabled:
            return False
        return self.kind == self.Kind.REGISTRY or (
            self.accepted_at is not None and self.declined_at is None
        )

    def matches(self, name: str) -> bool:
        """Does the filter select repository `name` (of this rule's namespace)?"""
        prefix = self.namespace.name + "/"
        if not name.startswith(prefix):
            return False
        rest = name[len(prefix) :]
        pattern = self.filter.strip()
        if pattern in ("", "*"):
            return True
        if any(c in pattern for c in "*?["):
            return fnmatch.fnmatchcase(rest, pattern)
        return rest.startswith(pattern)

    def destination_name(self, name: str) -> str:
        """Where repository `name` goes: under the target publisher, under the destination
        namespace, or (neither) under its own name."""
        rest = name[len(self.namespace.name) + 1 :]
        if self.kind == self.Kind.PUBLISHER:
            return f"{self.target.name}/{rest}"
        if self.destination_namespace:
            return f"{self.destination_namespace}/{rest}"
        return name


class ReplicationState(models.Model):
    """How one repository stands with one rule: changes waiting since (`pending_since`, the
    lag), the last success and error, and the one run working on it (a lease)."""

    rule = models.ForeignKey(ReplicationRule, on_delete=models.CASCADE, related_name="states")
    repository_name = models.CharField(max_length=names.NAME_MAX_LENGTH)
    pending_since = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)  # failed runs in a row
    holder = models.CharField(max_length=32, blank=True, editable=False)
    held_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "repository_name"], name="replication_state_once"
            )
        ]
        ordering = ["repository_name"]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.repository_name}"


class ReplicatedTag(models.Model):
    """A tag a rule set at its destination, and the digest it points at there: what the
    rule may delete there when the tag goes (it never touches tags it did not set)."""

    rule = models.ForeignKey(ReplicationRule, on_delete=models.CASCADE, related_name="tags")
    repository_name = models.CharField(max_length=names.NAME_MAX_LENGTH)
    tag = models.CharField(max_length=128)
    digest = models.CharField(max_length=135)
    replicated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "repository_name", "tag"], name="replicated_tag_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.repository_name}:{self.tag}"
