"""A repository's policy: who else may pull or push it, and from which networks.

    {"grants": [{"principal": "bob", "actions": ["pull"]},
                {"principal": "acme", "actions": ["pull", "push"]},
                {"principal": "acme+ci", "actions": ["pull"]}],
     "networks": ["10.0.0.0/8", "2001:db8::/32"]}

A principal is a username, a robot (`organization+name`) or an organization (all of its
members). Network rules apply to a repository, or to every repository of a namespace;
pulls and pushes from elsewhere are refused (DENIED for a signed-in caller; an anonymous
one is answered as if the repository did not exist). Every change ends the registry tokens
issued for the repository so far (revocation.repository_changed).
"""

from __future__ import annotations

import ipaddress

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from registry import names
from registry.models import Namespace, NetworkRule, Repository, RepositoryGrant

from . import audit, revocation
from .organizations import AccessError
from .policy import PULL, PUSH

GRANTABLE = ({PULL}, {PULL, PUSH})
NETWORKS_MAX = 100


def policy_of(repository: Repository) -> dict:
    grants = []
    for grant in repository.grants.select_related("user", "organization"):
        principal = grant.organization.name if grant.organization else grant.user.username
        grants.append({"principal": principal, "actions": sorted(grant.actions)})
    networks = list(repository.network_rules.values_list("network", flat=True))
    return {"grants": sorted(grants, key=lambda g: g["principal"]), "networks": networks}


def _principal(text: str):
    """(user, organization) for a principal name; AccessError if it names nobody."""
    organization = Namespace.objects.filter(name=text, kind=Namespace.Kind.ORGANIZATION).first()
    if organization is not None:
        return None, organization
    user = get_user_model().objects.filter(username=text, is_active=True).first()
    if user is None:
        raise AccessError(f"No user, robot or organization is called {text!r}.")
    return user, None


def parse_networks(values) -> list[str]:
    if not isinstance(values, list) or len(values) > NETWORKS_MAX:
        raise AccessError(f"Networks are a list of at most {NETWORKS_MAX} CIDR ranges.")
    cleaned = []
    for value in values:
        try:
            cleaned.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise AccessError(f"{str(value)[:60]!r} is not a network (e.g. 10.0.0.0/8).") from None
    return sorted(set(cleaned))


def set_policy(*, repository: Repository, grants, networks, actor, address: str = "") -> dict:
    """Replace the repository's grants and network rules."""
    if not isinstance(grants, list):
        raise AccessError("Grants are a list of {principal, actions}.")
    resolved = []
    for item in grants:
        if not isinstance(item, dict):
            raise AccessError("Each grant is an object with principal and actions.")
        actions = set(item.get("actions") or [])
        if actions not in GRANTABLE:
            raise AccessError("A grant is pull, or pull and push.")
        user, organization = _principal(str(item.get("principal", "")))
        if organization is not None and organization.name == repository.namespace:
            raise AccessError("An organization's members already reach its repositories.")
        resolved.append((user, organization, sorted(actions)))
    cleaned_networks = parse_networks(networks)
    with transaction.atomic():
        repository.grants.all().delete()
        RepositoryGrant.objects.bulk_create(
            [
                RepositoryGrant(repository=repository, user=u, organization=o, actions=a)
                for u, o, a in resolved
            ]
        )
        repository.network_rules.all().delete()
        NetworkRule.objects.bulk_create(
            [NetworkRule(repository=repository, network=n) for n in cleaned_networks]
        )
        mark_restricted(Repository.objects.filter(pk=repository.pk))
        revocation.repository_changed(repository)
        result = policy_of(repository)
        audit.record(
            "repository.policy",
            actor=actor,
            address=address,
            namespace=repository.namespace,
            target=repository.name,
            detail=result,
        )
    return result


def set_namespace_networks(*, namespace: Namespace, networks, actor, address: str = "") -> None:
    cleaned = parse_networks(networks)
    with transaction.atomic():
        namespace.network_rules.all().delete()
        NetworkRule.objects.bulk_create(
            [NetworkRule(namespace=namespace, network=n) for n in cleaned]
        )
        mark_restricted(Repository.objects.filter(namespace=namespace.name))
        for repository in Repository.objects.filter(namespace=namespace.name):
            revocation.repository_changed(repository)
        audit.record(
            "repository.policy",
            actor=actor,
            address=address,
            namespace=namespace.name,
            target=namespace.name,
            detail={"networks": cleaned},
        )


def mark_restricted(repositories) -> None:
    """Keep `Repository.network_restricted` true exactly where a rule applies (it spares
    every unrestricted request the query for its rules)."""
    for repository in repositories:
        restricted = NetworkRule.objects.filter(repository=repository).exists() or (
            bool(repository.namespace)
            and NetworkRule.objects.filter(namespace__name=repository.namespace).exists()
        )
        if repository.network_restricted != restricted:
            Repository.objects.filter(pk=repository.pk).update(network_restricted=restricted)


def networks_for(name: str) -> list[str]:
    """The networks repository `name` may be reached from ([]: anywhere). One query."""
    namespace = names.namespace_of(name)
    table = connection.ops.quote_name(NetworkRule._meta.db_table)
    repositories = connection.ops.quote_name(Repository._meta.db_table)
    namespaces = connection.ops.quote_name(Namespace._meta.db_table)
    sql = (
        f"SELECT n.network FROM {table} n "  # noqa: S608 - table names from the models
        f"LEFT JOIN {repositories} r ON r.id = n.repository_id "
        f"LEFT JOIN {namespaces} s ON s.id = n.namespace_id "
        "WHERE r.name = %s OR s.name = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name, namespace])  # a top-level name's "" names no namespace
        return [row[0] for row in cursor.fetchall()]


def address_allowed(address: str, networks: list[str]) -> bool:
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)
