"""Replication: copying a publisher's repositories to another registry or another publisher.

`replicate(rule_id=…, name=…)` brings one repository's copy in step. It is idempotent and
safe to kill: everything is compared by digest with what the destination has (a manifest or
blob there already is skipped; a blob another replicated repository holds there is mounted),
so a run after a crash does what the crashed one left undone, once. One run at a time works
on a rule and repository (a lease, renewed while it streams; a dead run's lease runs out).

Order: a manifest's blobs, then the manifest (an index after its children), then its
referrers (signatures, SBOMs); tags last, set with the manifest pushed by digest (`?tag=`)
where the destination says it supports that (`OCI-Tag`), else by a PUT by tag. With
`replicate_deletes`, tags that the rule set and that are gone at the source are deleted
there (a destination that cannot delete a tag loses the manifest when no other tag the
rule set points at it). Tags a rule did not set are never touched.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min, Q
from django.utils import timezone

from .. import manifests, names, upstream
from ..access import audit, policy
from ..errors import RegistryError
from ..models import Blob, Manifest, Namespace, Repository, RepositoryBlob, Tag
from ..upstream import addresses, vault
from .destinations import destination_for, pieces_of
from .models import ReplicatedTag, ReplicationRule, ReplicationState

log = logging.getLogger("registry.replication")


class ReplicationFailed(Exception):
    """A run failed; `message` says why, for a person; `transient` runs are retried."""

    def __init__(self, message: str, *, transient: bool = False, retry_after=None) -> None:
        super().__init__(message)
        self.message, self.transient, self.retry_after = message, transient, retry_after


# -- rules --------------------------------------------------------------------------------------


def check_rule(
    *,
    namespace: Namespace,
    filter: str = "",
    url: str = "",
    destination_namespace: str = "",
    username: str = "",
    password: str = "",
    allow_private_networks: bool = False,
    target: str = "",
    staff: bool = False,
) -> dict[str, list[str]]:
    """What is wrong with a rule, per field (empty: nothing)."""
    errors: dict[str, list[str]] = {}
    if bool(url) == bool(target):
        errors["destination"] = ["Give either a registry URL or a publisher."]
    if len(filter) > 200 or any(c in filter for c in " \t\n"):
        errors["filter"] = ["A prefix (team/) or a glob (app-*), without spaces."]
    if target:
        # A user's namespace, or an organization with members (one deleted has none); not a
        # name only reserved.
        record = (
            Namespace.objects.filter(name=target)
            .filter(Q(owner__isnull=False) | Q(memberships__isnull=False))
            .first()
        )
        if record is None or target == namespace.name:
            errors["target"] = ["No other publisher of that name."]
    if url and (problem := addresses.url_problem(url, allow_private=allow_private_networks)):
        errors["url"] = [problem]
    if allow_private_networks and not staff:
        errors["allow_private_networks"] = [
            "Only site staff may let a rule reach private networks."
        ]
    if destination_namespace and not names.is_valid_name(destination_namespace):
        errors["destination_namespace"] = ["A repository path at the destination, e.g. mirror."]
    if password and not username:
        errors["username"] = ["A password needs a username."]
    return errors


def create_rule(
    *,
    namespace: Namespace,
    actor,
    filter: str = "",
    url: str = "",
    destination_namespace: str = "",
    username: str = "",
    password: str = "",
    allow_private_networks: bool = False,
    target: str = "",
    replicate_deletes: bool = False,
) -> ReplicationRule:
    """A rule of `namespace` (its admins'); ValidationError per field when it is wrong. A
    rule to another publisher waits for that publisher's admins to accept it."""
    staff = bool(getattr(actor, "is_staff", False) or policy.is_superuser(actor))
    fields = {
        "filter": filter.strip(),
        "url": url.rstrip("/"),
        "destination_namespace": destination_namespace.strip("/"),
        "username": username,
        "password": password,
        "allow_private_networks": allow_private_networks,
        "target": target,
    }
    errors = check_rule(namespace=namespace, staff=staff, **fields)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule = ReplicationRule.objects.create(
            namespace=namespace,
            filter=fields["filter"],
            kind=ReplicationRule.Kind.PUBLISHER if target else ReplicationRule.Kind.REGISTRY,
            url=fields["url"],
            destination_namespace=fields["destination_namespace"],
            username=username,
            allow_private_networks=allow_private_networks,
            target=Namespace.objects.filter(name=target).first() if target else None,
            replicate_deletes=replicate_deletes,
            created_by_id=getattr(actor, "pk", None),
        )
        if password:
            rule.password_sealed = vault.seal(password, f"replication-rule:{rule.pk}")
            rule.save(update_fields=["password_sealed"])
        audit.record(
            "replication.rule_created",
            actor=actor,
            namespace=namespace.name,
            target=rule.destination,
            detail={"rule": rule.pk, "filter": rule.filter, "deletes": replicate_deletes},
        )
    return rule


def delete_rule(*, rule: ReplicationRule, actor=None) -> None:
    """Stop replicating; what was copied stays at the destination."""
    with transaction.atomic():
        audit.record(
            "replication.rule_deleted",
            actor=actor,
            namespace=rule.namespace.name,
            target=rule.destination,
            detail={"rule": rule.pk},
        )
        rule.delete()


def answer(*, rule: ReplicationRule, accept: bool, actor) -> ReplicationRule:
    """The target publisher accepts (or declines, or later stops) a rule toward it."""
    now = timezone.now()
    with transaction.atomic():
        if accept:
            rule.accepted_at, rule.accepted_by_id, rule.declined_at = now, actor.pk, None
        else:
            rule.declined_at = now
        rule.save(update_fields=["accepted_at", "accepted_by", "declined_at"])
        audit.record(
            "replication.accepted" if accept else "replication.declined",
            actor=actor,
            namespace=rule.target.name,
            target=rule.namespace.name,
            detail={"rule": rule.pk},
        )
    return rule


def on_user_deleting(sender, instance, **kwargs) -> None:
    """pre_delete of the user model: its namespaces stay reserved, without owner, and the
    rules copying into them stop (declined), as they would have if they had declined."""
    ReplicationRule.objects.filter(target__owner=instance, declined_at__isnull=True).update(
        declined_at=timezone.now()
    )


def rules_for(user):
    """Rules `user` may see: of namespaces they administer (outgoing) or toward them
    (incoming); all for superusers."""
    rules = ReplicationRule.objects.select_related("namespace", "target")
    if policy.is_superuser(user):
        return rules
    mine = sorted(policy.administered_namespaces(user))
    return rules.filter(Q(namespace__name__in=mine) | Q(target__name__in=mine))


def may_manage(user, rule: ReplicationRule) -> bool:
    return policy.is_superuser(user) or rule.namespace.name in policy.administered_namespaces(user)


def may_answer(user, rule: ReplicationRule) -> bool:
    if rule.target_id is None:
        return False
    return policy.is_superuser(user) or rule.target.name in policy.administered_namespaces(user)


def repositories_of(rule: ReplicationRule) -> list[str]:
    """The repositories the rule selects now (created by a push; not provisional)."""
    names_ = Repository.objects.filter(
        namespace=rule.namespace.name, is_provisional=False
    ).values_list("name", flat=True)
    return sorted(name for name in names_ if rule.matches(name))


def selects(rule: ReplicationRule, name: str) -> bool:
    """Is `name` one of repositories_of(rule)? (Without reading them all.)"""
    return rule.matches(name) and (
        Repository.objects.filter(
            name=name, namespace=rule.namespace.name, is_provisional=False
        ).exists()
    )


# -- state --------------------------------------------------------------------------------------


def _state(rule: ReplicationRule, name: str) -> ReplicationState:
    try:
        with transaction.atomic():
            state, _ = ReplicationState.objects.get_or_create(rule=rule, repository_name=name)
    except IntegrityError:
        state = ReplicationState.objects.get(rule=rule, repository_name=name)
    return state


def mark_changed(rule: ReplicationRule, name: str) -> None:
    """A change to replicate: the lag counts from the oldest one not yet replicated."""
    state, now = _state(rule, name), timezone.now()
    ReplicationState.objects.filter(pk=state.pk, pending_since__isnull=True).update(
        pending_since=now
    )
    ReplicationState.objects.filter(pk=state.pk).update(changed_at=now)


class Lease:
    """The one run working on a rule and repository, until `held_until` (renewed)."""

    def __init__(self, state: ReplicationState) -> None:
        self.state, self.token = state, secrets.token_hex(8)
        self.renew_at = 0.0

    def _until(self):
        return timezone.now() + timedelta(seconds=settings.BERTH_REPLICATION_LEASE_SECONDS)

    def take(self) -> bool:
        now = timezone.now()
        return bool(
            ReplicationState.objects.filter(pk=self.state.pk)
            .filter(Q(holder="") | Q(held_until__lt=now))
            .update(holder=self.token, held_until=self._until(), last_attempt_at=now)
        )

    def renew(self) -> None:
        if time.monotonic() < self.renew_at:
            return
        self.renew_at = time.monotonic() + settings.BERTH_REPLICATION_LEASE_SECONDS / 3
        mine = ReplicationState.objects.filter(pk=self.state.pk, holder=self.token)
        if not mine.update(held_until=self._until()):
            raise ReplicationFailed("another run took this repository over", transient=True)

    def release(self, **fields) -> None:
        ReplicationState.objects.filter(pk=self.state.pk, holder=self.token).update(
            holder="", held_until=None, **fields
        )


# -- a run --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # "done", "busy" (another run has it), "skipped" (rule not ready)
    pushed: int = 0  # manifests pushed
    tags: int = 0  # tags set
    deleted: int = 0  # tags deleted
    again: bool = False  # changes arrived during the run: run again


def replicate(*, rule_id: int, name: str) -> Outcome:
    """Bring the copy of repository `name` in step with it (see the module). Raises
    ReplicationFailed (after recording it) when it could not."""
    rule = ReplicationRule.objects.select_related("namespace", "target").filter(pk=rule_id).first()
    if rule is None or not rule.ready:
        return Outcome("skipped")
    state = _state(rule, name)
    lease = Lease(state)
    if not lease.take():
        return Outcome("busy")
    started = timezone.now()
    ReplicationRule.objects.filter(pk=rule.pk).update(last_run_at=started)
    try:
        outcome = _Run(rule, name, lease).run()
    except (upstream.UpstreamError, RegistryError, ReplicationFailed, vault.VaultError) as error:
        failed = _failure(rule, error)
        state.refresh_from_db(fields=["attempts"])
        lease.release(last_error=failed.message, attempts=state.attempts + 1)
        ReplicationRule.objects.filter(pk=rule.pk).update(last_error=failed.message)
        log.warning("replication of %s by rule %s failed: %s", name, rule.pk, failed.message)
        raise failed from error
    except BaseException:
        lease.release()
        raise
    done = timezone.now()
    again = ReplicationState.objects.filter(pk=state.pk, changed_at__gt=started).exists()
    lease.release(
        last_success_at=done,
        last_error="",
        attempts=0,
        **({"pending_since": started} if again else {"pending_since": None}),
    )
    ReplicationRule.objects.filter(pk=rule.pk).update(last_success_at=done, last_error="")
    outcome.again = again
    return outcome


def _failure(rule: ReplicationRule, error: Exception) -> ReplicationFailed:
    """The error in words the rule's admins can act on."""
    if isinstance(error, ReplicationFailed):
        return error
    where = rule.destination
    if isinstance(error, upstream.AuthFailed):
        who = f"user {rule.username!r}" if rule.username else "anonymous access"
        return ReplicationFailed(
            f"{where} refused {who}: check the rule's username and password (or token) and "
            f"that the account may push there. ({error.message})"
        )
    if isinstance(error, upstream.Refused):
        return ReplicationFailed(f"Berth will not connect to {where}: {error.message}")
    if isinstance(error, upstream.Throttled):
        return ReplicationFailed(
            f"{where} is rate-limiting; retrying later. ({error.message})",
            transient=True,
            retry_after=error.retry_after,
        )
    if isinstance(error, upstream.UpstreamError) and error.transient:
        return ReplicationFailed(
            f"{where} is unavailable; retrying. ({error.message})", transient=True
        )
    if isinstance(error, upstream.UpstreamError) and error.status == 413:
        return ReplicationFailed(f"{where} refused the size: over its quota? ({error.message})")
    if isinstance(error, upstream.UpstreamError):
        return ReplicationFailed(f"{where} refused: {error.message}")
    if isinstance(error, vault.VaultError):
        return ReplicationFailed(
            f"The rule's password cannot be read ({error}); enter it again in the rule."
        )
    if isinstance(error, RegistryError) and error.code == "DENIED":
        return ReplicationFailed(f"{where} refused it: {error.text}")
    return ReplicationFailed(f"{where}: {error}")


class _Run:
    def __init__(self, rule: ReplicationRule, name: str, lease: Lease) -> None:
        self.rule, self.name, self.lease = rule, name, lease
        self.source = Repository.objects.filter(name=name).first()
        self.destination = destination_for(rule, self.source)
        self.target = rule.destination_name(name)
        self.done: set[str] = set()  # manifests known to be at the destination
        self.outcome = Outcome("done")

    def run(self) -> Outcome:
        recorded = dict(
            ReplicatedTag.objects.filter(rule=self.rule, repository_name=self.name).values_list(
                "tag", "digest"
            )
        )
        if self.source is None or not self.rule.matches(self.name):
            wanted: dict[str, Manifest] = {}
        else:
            rows = Tag.objects.filter(repository=self.source).select_related("manifest")
            wanted = {tag.name: tag.manifest for tag in rows}
        by_digest: dict[str, list[str]] = {}
        manifests_by_digest = {}
        for tag, manifest in sorted(wanted.items()):
            self.lease.renew()
            if self.destination.tag_digest(self.target, tag) == manifest.digest:
                self._record(tag, manifest.digest)
                continue
            by_digest.setdefault(manifest.digest, []).append(tag)
            manifests_by_digest[manifest.digest] = manifest
        for digest, tags in by_digest.items():
            self._push(manifests_by_digest[digest], tags)
            for tag in tags:
                self._record(tag, digest)
        if self.rule.replicate_deletes:
            self._delete(recorded, wanted)
        return self.outcome

    def _record(self, tag: str, digest: str) -> None:
        ReplicatedTag.objects.update_or_create(
            rule=self.rule, repository_name=self.name, tag=tag, defaults={"digest": digest}
        )

    # -- pushing ---------------------------------------------------------------------------

    def _push(self, manifest: Manifest, tags: list[str] = ()) -> None:
        """The manifest with everything it needs, then (with `tags`) the tags on it."""
        self.lease.renew()
        parsed = manifests.parse(bytes(manifest.body), manifest.media_type)
        if manifest.digest not in self.done and not self.destination.has_manifest(
            self.target, manifest.digest
        ):
            for child in parsed.manifests:
                row = Manifest.objects.filter(
                    repository=self.source, digest=str(child.digest)
                ).first()
                if row is None:
                    raise ReplicationFailed(
                        f"{self.name}@{manifest.digest} is a sparse index: its child "
                        f"{child.digest} is not in Berth, so it cannot be replicated"
                    )
                self._push(row)
            for descriptor in parsed.required_blobs:
                self._blob(str(descriptor.digest))
            accepted = self.destination.put_manifest(
                self.target, manifest, list(tags) if self._tag_parameter() else []
            )
            self.outcome.pushed += 1
            tags = self._remaining_tags(tags, accepted)
        self.done.add(manifest.digest)
        if tags:
            self._tag(manifest, list(tags))
        referrers = Manifest.objects.filter(repository=self.source, subject_digest=manifest.digest)
        for referrer in referrers.order_by("created_at", "pk"):
            self._push(referrer)

    def _tag_parameter(self) -> bool:
        return self.rule.tag_parameter is not False

    def _remaining_tags(self, tags, accepted: set[str]) -> list[str]:
        if tags and self._tag_parameter():
            self._learn(all(tag in accepted for tag in tags))
        return [tag for tag in tags if tag not in accepted]

    def _learn(self, supported: bool) -> None:
        if self.rule.tag_parameter != supported:
            self.rule.tag_parameter = supported
            ReplicationRule.objects.filter(pk=self.rule.pk).update(tag_parameter=supported)

    def _tag(self, manifest: Manifest, tags: list[str]) -> None:
        if self._tag_parameter():
            accepted = self.destination.put_manifest(self.target, manifest, tags)
            tags = self._remaining_tags(tags, accepted)
        for tag in tags:
            self.destination.put_tag(self.target, tag, manifest)
        self.outcome.tags += len(tags)

    def _blob(self, digest: str) -> None:
        self.lease.renew()
        blob = Blob.objects.filter(digest=digest, repositoryblob__repository=self.source).first()
        if blob is None:
            raise ReplicationFailed(
                f"{self.name} does not hold {digest} (a sparse manifest): it cannot be replicated"
            )
        if self.destination.has_blob(self.target, digest):
            return
        for source in self._mount_sources(blob):
            if self.destination.mount_blob(self.target, digest, source):
                return
        self.destination.upload_blob(self.target, blob, pieces_of(blob, self.lease.renew))

    def _mount_sources(self, blob: Blob) -> list[str]:
        """Repositories at the destination that hold the blob: copies of other repositories
        of this rule that hold it and were replicated (a mount costs no bytes)."""
        if self.rule.kind == ReplicationRule.Kind.PUBLISHER:
            return [self.name]
        holders = (
            RepositoryBlob.objects.filter(blob=blob, repository__namespace=self.rule.namespace.name)
            .exclude(repository=self.source)
            .values_list("repository__name", flat=True)
        )
        replicated = ReplicationState.objects.filter(
            rule=self.rule, repository_name__in=list(holders[:50]), last_success_at__isnull=False
        ).values_list("repository_name", flat=True)[:3]
        return [self.rule.destination_name(name) for name in replicated]

    # -- deleting --------------------------------------------------------------------------

    def _delete(self, recorded: dict[str, str], wanted: dict[str, Manifest]) -> None:
        gone = {tag: digest for tag, digest in recorded.items() if tag not in wanted}
        for tag, digest in sorted(gone.items()):
            self.lease.renew()
            still_ours = self.destination.tag_digest(self.target, tag) == digest
            if still_ours and not self.destination.delete(self.target, tag):
                # No deleting tags there: the manifest goes, unless a tag this rule keeps
                # still points at it.
                kept = {d for t, d in recorded.items() if t not in gone}
                if digest not in kept:
                    self.destination.delete(self.target, digest)
            ReplicatedTag.objects.filter(
                rule=self.rule, repository_name=self.name, tag=tag
            ).delete()
            self.outcome.deleted += 1


# -- status -------------------------------------------------------------------------------------


def status_of(rule: ReplicationRule, viewer=None) -> dict:
    """A rule's state and each repository's: last success, lag, errors, what is running.

    A `viewer` who does not manage the rule (the receiving publisher's admins) sees every
    repository it copies once they accept it (the copies are theirs then); until then, and
    after they decline, only those they may read anyway: an offer does not name the
    source's private repositories."""
    now = timezone.now()
    states = list(rule.states.all())
    selected = set(repositories_of(rule))
    copying = rule.accepted_at is not None and rule.declined_at is None
    if viewer is not None and not copying and not may_manage(viewer, rule):
        readable = set(
            Repository.objects.filter(
                policy.visibility_filter(viewer),
                name__in=sorted(selected | {state.repository_name for state in states}),
            ).values_list("name", flat=True)
        )
        states = [state for state in states if state.repository_name in readable]
        selected &= readable
    known = {state.repository_name for state in states}
    repositories = []
    for state in states:
        repositories.append(_state_data(rule, state, now))
    for name in sorted(selected - known):  # never replicated yet
        repositories.append(
            {
                "repository": name,
                "destination": rule.destination_name(name),
                "state": "pending",
                "last_success_at": None,
                "pending_since": None,
                "lag_seconds": None,
                "last_error": "",
                "attempts": 0,
            }
        )
    pending = [state.pending_since for state in states if state.pending_since]
    if rule.kind == ReplicationRule.Kind.PUBLISHER and rule.declined_at:
        summary = "declined"
    elif rule.kind == ReplicationRule.Kind.PUBLISHER and not rule.accepted_at:
        summary = "awaiting acceptance"
    elif not rule.enabled:
        summary = "disabled"
    elif any(r["state"] == "failing" for r in repositories):
        summary = "failing"
    elif any(r["state"] in ("pending", "running") for r in repositories):
        summary = "pending"
    else:
        summary = "in sync"
    return {
        "state": summary,
        "last_run_at": rule.last_run_at,
        "last_success_at": rule.last_success_at,
        "last_error": rule.last_error,
        "lag_seconds": (now - min(pending)).total_seconds() if pending else 0.0,
        "repositories": sorted(repositories, key=lambda r: r["repository"]),
    }


def _state_data(rule, state: ReplicationState, now) -> dict:
    running = bool(state.holder) and state.held_until is not None and state.held_until > now
    if running:
        label = "running"
    elif state.last_error:
        label = "failing"
    elif state.pending_since is not None or state.last_success_at is None:
        label = "pending"
    else:
        label = "in sync"
    return {
        "repository": state.repository_name,
        "destination": rule.destination_name(state.repository_name),
        "state": label,
        "last_success_at": state.last_success_at,
        "pending_since": state.pending_since,
        "lag_seconds": (now - state.pending_since).total_seconds() if state.pending_since else 0.0,
        "last_error": state.last_error,
        "attempts": state.attempts,
    }


def lag_seconds() -> float | None:
    """How long the oldest change waiting for any ready rule has waited (for /metrics)."""
    oldest = ReplicationState.objects.filter(
        pending_since__isnull=False, rule__enabled=True
    ).aggregate(oldest=Min("pending_since"))["oldest"]
    if oldest is None:
        return 0.0
    return (timezone.now() - oldest).total_seconds()
