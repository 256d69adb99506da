"""Namespaces: who owns which first path component, and which names nobody may claim.

A user owns the namespace of their username when the name is free at the moment the
account is created, however it is created (sign-up, `createsuperuser`, the admin,
`create_user` in a script): `claim_personal_namespace` runs from the user model's
post_save (connected in registry.apps). A name is free when it is a valid name
component, is not reserved (`RESERVED_WORDS`, `RESERVED_PREFIXES`), and has no Namespace
record and no repository yet. A record, once made, is never given to a newcomer: when its
user is deleted the record stays without an owner, reserved; staff may reassign it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from registry import names
from registry.models import Namespace, Repository

# Names that read as the site itself, its staff or a well-known vendor, or that collide
# with the site's own URLs. Staff reserve more by creating a namespace without an owner.
RESERVED_WORDS = frozenset(
    {
        "about", "abuse", "accounts", "api", "app", "apps", "assets", "auth", "billing",
        "blog", "cdn", "contact", "dashboard", "dev", "docs", "explore", "favicon", "help",
        "home", "info", "legal", "library", "login", "logout", "mail", "media", "new",
        "news", "null", "oauth", "org", "orgs", "owner", "password", "postmaster", "privacy",
        "public", "r", "registry", "robots", "search", "settings", "signin", "signup", "site",
        "sitemap", "static", "status", "team", "terms", "token", "tokens", "u", "undefined",
        "user", "users", "v1", "v2", "webmaster", "www",
    }
)  # fmt: skip
RESERVED_PREFIXES = (
    "admin",
    "berth",
    "docker",
    "official",
    "oci",
    "root",
    "security",
    "staff",
    "support",
    "system",
    "verified",
)
USERNAME_MIN, USERNAME_MAX = 2, 39


def is_reserved(name: str) -> bool:
    """Reserved by the site: a listed word or a name starting with a listed prefix."""
    return name in RESERVED_WORDS or name.startswith(RESERVED_PREFIXES)


def naming_problem(name: str) -> str:
    """Why `name` cannot be a new namespace ("" when it can), as a person should read it."""
    if not (USERNAME_MIN <= len(name) <= USERNAME_MAX) or not names.is_valid_component(name):
        return (
            f"Use {USERNAME_MIN} to {USERNAME_MAX} lowercase letters, digits, and single "
            ". _ or - between them."
        )
    if is_reserved(name):
        return "This name is reserved."
    if (
        Namespace.objects.filter(name=name).exists()
        or Repository.objects.filter(namespace=name).exists()
    ):
        return "This name is taken."
    return ""


def is_claimable(name: str) -> bool:
    return not naming_problem(name)


def claim_personal_namespace(user) -> Namespace | None:
    """Give `user` the namespace of their username if it is free; None if it is not."""
    if not is_claimable(user.username):
        return None
    try:
        with transaction.atomic():
            return Namespace.objects.create(
                name=user.username, kind=Namespace.Kind.USER, owner=user
            )
    except IntegrityError:  # claimed by a concurrent sign-up
        return None


def on_user_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of the user model: a new account claims its namespace."""
    if created and not raw:
        claim_personal_namespace(instance)


def ensure_namespace(name: str) -> Namespace | None:
    """The record of the namespace of repository `name`, created without an owner (staff's)
    if missing; None for a top-level name."""
    namespace = names.namespace_of(name)
    if not namespace:
        return None
    record, _ = Namespace.objects.get_or_create(name=namespace)
    return record


def quota_of(namespace: Namespace) -> int:
    """Bytes the namespace may hold (0: no limit)."""
    if namespace.quota_bytes is not None:
        return namespace.quota_bytes
    return settings.BERTH_NAMESPACE_QUOTA_BYTES


def delete_user(user, *, delete_repositories: bool = False) -> list[str]:
    """Delete an account. Its namespaces stay, reserved (no owner), so that nobody who signs
    up later under the same name gets its repositories or its badge; with
    `delete_repositories`, their repositories go too (the names stay reserved). Returns the
    names of the deleted repositories."""
    from registry import services

    deleted = []
    with transaction.atomic():
        owned = list(Namespace.objects.filter(owner=user).values_list("name", flat=True))
        if delete_repositories:
            for repository in Repository.objects.filter(namespace__in=owned):
                event = services.RegistryEvent("delete", repository.pk, repository.name)
                repository.delete()
                services.notify(event)
                deleted.append(repository.name)
        user.delete()
    return deleted


def new_repository_private(name: str) -> bool:
    """Whether a repository created under `name` starts private: its namespace's default,
    else BERTH_NEW_REPOSITORIES_PRIVATE."""
    namespace = names.namespace_of(name)
    if namespace:
        chosen = (
            Namespace.objects.filter(name=namespace)
            .values_list("default_private", flat=True)
            .first()
        )
        if chosen is not None:
            return chosen
    return settings.BERTH_NEW_REPOSITORIES_PRIVATE


def restricted_by_namespace(name: str) -> bool:
    """Do the namespace's network rules apply to a new repository called `name`?"""
    from registry.models import NetworkRule

    namespace = names.namespace_of(name)
    return bool(namespace) and NetworkRule.objects.filter(namespace__name=namespace).exists()
