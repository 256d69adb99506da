"""Revocation that counts at the next request, also for registry tokens already issued.

Registry tokens are JWTs that live BERTH_TOKEN_TTL seconds. Each carries the revocation
generation of its user (`gen`) and when it was issued (`iat`). Two things end it early:

- its user's generation moved on (`bump`): a token revoked, the account disabled or its
  password changed, a membership removed or lowered, a robot's permissions cut;
- its repository's access shrank after it was issued (`repository_changed`): made
  private, a grant withdrawn, network rules changed.

Either way the request is decided again from the database, as for a new caller. The
generations live in the database (authoritative) and in the shared cache (fast: one
`get_many` per request); a cache that lost them falls back to the database.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from registry.models import AccountState, Repository

USER_KEY = "acc:gen:{}"
REPOSITORY_KEY = "acc:repo:{}"
KEEP = 300  # cache lifetime; the database has the truth (and tokens live as long)
GONE = -1  # the generation of a deleted or disabled account: no token has it


def generation(user_id: int) -> int:
    value = cache.get(USER_KEY.format(user_id))
    return _user_from_db(user_id) if value is None else value


def _user_from_db(user_id: int) -> int:
    row = (
        get_user_model()
        .objects.filter(pk=user_id, is_active=True)
        .values_list("access_state__generation", flat=True)[:1]
    )
    found = list(row)
    value = GONE if not found else (found[0] or 0)
    cache.set(USER_KEY.format(user_id), value, KEEP)
    return value


def bump(user_id: int) -> None:
    """Every registry token of this user stops at its next request."""
    state, created = AccountState.objects.get_or_create(user_id=user_id, defaults={"generation": 1})
    if not created:
        AccountState.objects.filter(pk=state.pk).update(generation=F("generation") + 1)
    key = USER_KEY.format(user_id)
    cache.delete(key)
    # A request between this and the commit reads the old generation and caches it again;
    # forget it once more when the new one is visible to everyone.
    transaction.on_commit(lambda: cache.delete(key))


def repository_changed(repository: Repository) -> None:
    """Registry tokens issued for this repository until now are checked again."""
    now = timezone.now()
    Repository.objects.filter(pk=repository.pk).update(access_changed_at=now)
    cache.set(REPOSITORY_KEY.format(repository.name), now.timestamp(), KEEP)


def _repository_from_db(name: str) -> float:
    moment = (
        Repository.objects.filter(name=name).values_list("access_changed_at", flat=True).first()
    )
    value = moment.timestamp() if moment else 0.0
    cache.set(REPOSITORY_KEY.format(name), value, KEEP)
    return value


def is_current(claims: dict, name: str) -> bool:
    """Does a registry token (its claims) still speak for repository `name`?"""
    user_id = claims.get("uid")
    keys = [REPOSITORY_KEY.format(name)]
    if user_id is not None:
        keys.append(USER_KEY.format(user_id))
    found = cache.get_many(keys)
    changed = found.get(keys[0])
    if changed is None:
        changed = _repository_from_db(name)
    if changed > float(claims.get("iat", 0)):
        return False
    if user_id is None:
        return True
    current = found.get(keys[1])
    if current is None:
        current = _user_from_db(user_id)
    return current == claims.get("gen", 0)


def on_user_changing(sender, instance, raw: bool = False, **kwargs) -> None:
    """pre_save of the user model: a new password, a disabled account or lost staff rights
    end the account's registry tokens (saving only last_login changes nothing here)."""
    if raw or instance.pk is None:
        return
    before = (
        sender._default_manager.filter(pk=instance.pk)
        .values("password", "is_active", "is_superuser", "is_staff")
        .first()
    )
    if before is None:
        return
    lost = (
        before["password"] != instance.password
        or (before["is_active"] and not instance.is_active)
        or (before["is_superuser"] and not instance.is_superuser)
        or (before["is_staff"] and not instance.is_staff)
    )
    if lost:
        bump(instance.pk)


def on_user_deleted(sender, instance, **kwargs) -> None:
    """post_delete of the user model: its registry tokens stop at once."""
    cache.set(USER_KEY.format(instance.pk), GONE, KEEP)
