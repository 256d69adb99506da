"""The audit log: every security-relevant event with its actor, address, time and target.

Written where the event happens (sign-ins, tokens and robots, members and roles, visibility
and policy, publisher profiles, repositories created or deleted, tags pushed or deleted).
Organization admins read their namespace's events on a page and through `GET /api/v1/audit`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from registry.models import AuditEvent

log = logging.getLogger("berth.audit")

ACTIONS = {
    "signin": "Signed in",
    "signin.failed": "Sign-in failed",
    "token.created": "Token created",
    "token.first_used": "Token used for the first time",
    "token.revoked": "Token revoked",
    "robot.created": "Robot created",
    "robot.changed": "Robot permissions changed",
    "robot.deleted": "Robot deleted",
    "member.added": "Member added",
    "member.removed": "Member removed",
    "member.role_changed": "Member's role changed",
    "organization.created": "Organization created",
    "organization.deleted": "Organization deleted",
    "namespace.profile": "Profile changed",
    "repository.created": "Repository created",
    "repository.deleted": "Repository deleted",
    "repository.visibility": "Visibility changed",
    "repository.policy": "Policy changed",
    "tag.pushed": "Tag pushed",
    "tag.deleted": "Tag deleted",
    "cache.rule_created": "Cache rule created",
    "cache.rule_deleted": "Cache rule deleted",
    "replication.rule_created": "Replication rule created",
    "replication.rule_deleted": "Replication rule deleted",
    "replication.accepted": "Replication accepted",
    "replication.declined": "Replication declined",
}


@dataclass(frozen=True)
class Actor:
    """Who acts, as the registry knows a caller (a user row need not be read for it)."""

    username: str = ""
    pk: int | None = None
    address: str = ""


def record(
    action: str,
    *,
    actor=None,
    address: str = "",
    namespace: str = "",
    target: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Write one event. `actor` is a user or an Actor (None: an anonymous caller)."""
    actor_name = getattr(actor, "username", "") if actor is not None else ""
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    address = address or getattr(actor, "address", "")
    event = AuditEvent.objects.create(
        actor=actor_name[:150],
        actor_id=actor_id,
        address=address[:64],
        action=action,
        namespace=namespace[:255],
        target=target[:300],
        detail=detail or {},
    )
    log.info("%s %s %s %s", action, actor_name or "-", address or "-", target)
    return event
