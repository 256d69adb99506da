"""The authorization matrix: every endpoint that reads or changes a repository, for every
kind of caller, against public, private, shared and missing repositories.

One table (`RIGHTS`) says what each caller may do to each repository; the expected status of
every request follows from it and from the endpoint's own table (`V2`, `API`, `PAGES`).
`test_every_route_is_in_the_matrix` fails when a registry or API route is added without a
row here, `test_every_page_is_in_the_matrix_or_named_elsewhere` when a page is added
without a row in PAGES or a place in PAGES_ELSEWHERE.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone

from gallery import services as gallery_services
from registry import mediatypes
from registry.access import auth, credentials, organizations, ratelimit, sharing
from registry.models import Repository
from tests.factories import PASSWORD, UserFactory
from tests.oci import RegistryClient, sha256

pytestmark = pytest.mark.django_db

REPOSITORIES = ("public", "private", "shared", "fenced", "missing")
PULL, PUSH, DELETE, ADMIN = "pull", "push", "delete", "admin"
OWNER_ONLY = "owner only"  # deleting the organization
MEMBER = {PULL, PUSH, DELETE}
# What each caller may do to acme/<repository>. None: its credentials are refused outright.
OWNER = MEMBER | {ADMIN}


def every(actions) -> dict:
    return {
        repository: set(actions) if actions is not None else None for repository in REPOSITORIES
    }


RIGHTS: dict[str, dict] = {
    "anonymous": {**every(()), "public": {PULL}},
    "outsider": {**every(()), "public": {PULL}},
    "reader": every({PULL}),
    "maintainer": every(MEMBER),
    "admin": every(OWNER),
    "owner": every(OWNER),
    "robot": every({PULL, PUSH}),
    "scopeless-token": every({PULL}),  # the owner's token with the pull scope only
    "expired-token": every(None),
    "revoked-token": every(None),
    "granted": {**every(()), "public": {PULL}, "shared": {PULL}},
    "outside-network": {**every(OWNER), "fenced": "refused"},  # the owner, from elsewhere
    "malformed": every(None),
}
CALLERS = list(RIGHTS)
TOKENS = {"scopeless-token", "robot"}  # their tokens carry api-read, not api-write


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {repo}, {layer}, {manifest} are filled in
    needs: str  # the right it needs
    ok: int  # its status when allowed
    content: bool = True  # needs the repository to exist (a missing one then answers 404)
    body: bytes | None = None  # sent as is (else a JSON body for PATCH and PUT)
    content_type: str = "application/octet-stream"
    session: bool = False  # an upload session of the owner's: unknown to every other user
    refused: int = 404  # pages: a caller who sees the repository but lacks the right


V2 = [
    Endpoint("GET", "/v2/{repo}/manifests/v1", PULL, 200),
    Endpoint("HEAD", "/v2/{repo}/manifests/v1", PULL, 200),
    Endpoint("GET", "/v2/{repo}/tags/list", PULL, 200),
    Endpoint("GET", "/v2/{repo}/blobs/{layer}", PULL, 200),
    Endpoint("GET", "/v2/{repo}/referrers/{manifest}", PULL, 200, content=False),
    Endpoint("POST", "/v2/{repo}/blobs/uploads/", PUSH, 202, content=False),
    Endpoint(
        "POST",
        "/v2/{repo}/blobs/uploads/?mount={layer}&from=acme/public",
        PUSH,
        201,
        content=False,
    ),
    Endpoint("PATCH", "/v2/{repo}/blobs/uploads/{upload}", PUSH, 202, body=b"", session=True),
    Endpoint(
        "PUT",
        "/v2/{repo}/blobs/uploads/{upload}?digest={empty}",
        PUSH,
        201,
        body=b"",
        session=True,
    ),
    Endpoint("DELETE", "/v2/{repo}/blobs/uploads/{upload}", PUSH, 204, session=True),
    Endpoint(
        "PUT",
        "/v2/{repo}/manifests/v2",
        PUSH,
        201,
        content=False,
        body=b"{manifest}",
        content_type=mediatypes.OCI_MANIFEST,
    ),  # into a missing repository too: its blobs are found in the caller's namespace
    Endpoint("DELETE", "/v2/{repo}/manifests/v1", DELETE, 202),
    Endpoint("DELETE", "/v2/{repo}/blobs/{layer}", DELETE, 202),
]
API = [
    Endpoint("GET", "/api/v1/repositories/{repo}", PULL, 200),
    Endpoint("GET", "/api/v1/repositories/{repo}/-/tags", PULL, 200),
    Endpoint("GET", "/api/v1/repositories/{repo}/-/images/{manifest}", PULL, 200),
    Endpoint("GET", "/api/v1/repositories/{repo}/-/images/{manifest}/vulnerabilities", PULL, 200),
    # Nothing is scanned in this world: the SBOM is not there yet (409), for those who may see.
    Endpoint("GET", "/api/v1/repositories/{repo}/-/images/{manifest}/sbom", PULL, 409),
    Endpoint("PATCH", "/api/v1/repositories/{repo}", PUSH, 200),
    Endpoint("DELETE", "/api/v1/repositories/{repo}/-/tags/v1", DELETE, 204),
    Endpoint(
        "POST", "/api/v1/repositories/{repo}/-/images/{manifest}/vulnerabilities/scan", PUSH, 202
    ),
    # An import (of whatever the test client's empty form is: it fails later, as an import).
    Endpoint("POST", "/api/v1/repositories/{repo}/-/imports", PUSH, 202),
    Endpoint("GET", "/api/v1/repositories/{repo}/-/policy", ADMIN, 200),
    Endpoint("PUT", "/api/v1/repositories/{repo}/-/policy", ADMIN, 200),
    Endpoint("DELETE", "/api/v1/repositories/{repo}", ADMIN, 204),
]
# The registry and API routes this matrix answers for (checked against the URL patterns).
COVERED = {
    "registry:manifest", "registry:tags", "registry:blob", "registry:referrers",
    "registry:upload-start", "registry:upload", "registry:root", "registry:catalog",
    "registry:token", "api:repository", "api:tags", "api:tag", "api:image", "api:policy",
    "api:repositories", "api:publishers", "api:publisher", "api:organizations",
    "api:organization", "api:member", "api:robots", "api:robot", "api:robot-tokens",
    "api:robot-token", "api:tokens", "api:token", "api:audit", "api:schema", "api:docs",
    "api:imports", "api:import",
    "api:image-vulnerabilities", "api:image-rescan", "api:image-sbom",
    "api:cache-rules", "api:cache-rule", "api:replication-rules", "api:replication-rule",
    "api:replication-rule-status", "api:replication-rule-replicate",
    "api:replication-rule-accept", "api:replication-rule-decline",
}  # fmt: skip
# The pages that change something, with the form each sends. Pages take the session only:
# a caller with Basic credentials or a token is anonymous there (sent to sign in, 302).
# {repo} pages need the right on that repository; the others the caller's role in acme
# (its rights on acme/private). Network rules fence pulls and pushes, not pages.
# A caller who may not see the page gets 404 (as for a repository or organization that does
# not exist), one who sees it but lacks the right `refused`.
PAGES = [
    (Endpoint("POST", "/r/{repo}/-/settings", PUSH, 302), {"description": "x", "about": ""}),
    (
        Endpoint("POST", "/r/{repo}/-/settings", ADMIN, 302, refused=403),
        {"form": "policy", "grants": "carol pull", "networks": ""},
    ),
    (Endpoint("POST", "/r/{repo}/-/logo", PUSH, 302), {}),  # no file: "Choose an image file."
    (
        Endpoint(
            "POST", "/r/{repo}/-/images/{manifest}/vulnerabilities/scan", PUSH, 302, refused=403
        ),
        {},
    ),
    (Endpoint("POST", "/r/{repo}/-/delete", ADMIN, 302), {"confirm": "{repo}"}),
    (Endpoint("POST", "/r/{repo}/-/delete-reference", DELETE, 302), {"tag": "v1", "confirm": "v1"}),
    (
        Endpoint("POST", "/u/acme/-/members", ADMIN, 302, refused=200),
        {"action": "role", "username": "rita", "role": "maintainer"},
    ),  # a reader or maintainer sees the members page, with "only owners and admins…"
    (Endpoint("POST", "/u/acme/-/members/rita/remove", ADMIN, 302), {}),
    (Endpoint("POST", "/u/acme/-/robots", ADMIN, 200), {"action": "create", "name": "cd"}),
    (
        Endpoint("POST", "/u/acme/-/robots", ADMIN, 302),
        {"action": "delete", "robot": "ci", "confirm": "ci"},
    ),
    (
        Endpoint("POST", "/u/acme/-/settings", ADMIN, 302),
        {"default_visibility": "private", "networks": ""},
    ),
    (
        Endpoint("POST", "/u/acme/-/profile", ADMIN, 302),
        {"display_name": "Acme", "bio": "", "website": "https://acme.example/"},
    ),
    (
        Endpoint("POST", "/u/acme/-/settings", OWNER_ONLY, 302),
        {"action": "delete", "confirm": "acme"},
    ),
    # Every signed-in caller's own: a token of their own, an organization of their own.
    (
        Endpoint("POST", "/settings/tokens", "", 302),
        {"action": "create", "name": "t", "scopes": "pull"},
    ),
    (Endpoint("POST", "/organizations/new", "", 302), {"name": "newco"}),
]
# The site's other routes: read only, or changing only the caller's own account, or with
# rows of their own elsewhere. A new route must be put in PAGES or here.
PAGES_ELSEWHERE = {
    "home", "search", "repository", "repository-usage", "repository-tags", "repository-tag",
    "repository-image", "repository-image-vulnerabilities", "repository-compare",
    "repository-card", "publisher", "publisher-card", "namespace-audit", "media", "check-name",
    "markdown-preview", "sitemap", "sitemap-section", "health", "ready", "metrics",
    # the caller's own account
    "account", "signup", "login", "logout", "password_change", "password_change_done",
    "password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete",
    # one's own tokens only: tests/gallery/test_access_pages.py
    "token-revoke",
    # tests/gallery/publishing and tests/gallery/test_replication_pages.py
    "new-repository", "repository-upload", "archive-imports", "archive-import",
    "namespace-replication",
}  # fmt: skip
SIGNED_IN = {
    "outsider": "bob", "reader": "rita", "maintainer": "mia", "admin": "adam", "owner": "olga",
    "granted": "carol", "outside-network": "olga",
}  # fmt: skip


# Site-wide endpoints for staff only: (method, path, status for staff). Every other caller
# gets 401 (anonymous, refused credentials) or 403.
STAFF_ONLY = [
    Endpoint("GET", "/api/v1/cache-rules", ADMIN, 200),
    Endpoint("POST", "/api/v1/cache-rules", ADMIN, 201),
    Endpoint("GET", "/api/v1/cache-rules/{rule}", ADMIN, 200),
    Endpoint("DELETE", "/api/v1/cache-rules/{rule}", ADMIN, 204),
]


@dataclass
class World:
    layer: str
    manifest: str
    secrets: dict[str, str]
    manifest_body: bytes = b""
    uploads: dict[str, str] = field(default_factory=dict)  # repository -> the owner's session


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def world(db) -> World:
    owner = UserFactory(username="olga")
    acme = organizations.create_organization(name="acme", owner=owner)
    for username, role in (("adam", "admin"), ("mia", "maintainer"), ("rita", "reader")):
        organizations.set_member(
            organization=acme, user=UserFactory(username=username), role=role, actor=owner
        )
    UserFactory(username="bob")
    carol = UserFactory(username="carol")
    pusher = RegistryClient("olga")
    layer, manifest = "", ""
    uploads = {"missing": "0" * 32}
    for name in ("public", "private", "shared", "fenced"):
        manifest, manifest_body = pusher.push_image(f"acme/{name}", "v1", layer=b"the one layer")
        layer = sha256(b"the one layer")
        opened = pusher.request("POST", f"/v2/acme/{name}/blobs/uploads/")
        uploads[name] = opened["Location"].rsplit("/", 1)[1]
    Repository.objects.filter(name__in=["acme/private", "acme/shared", "acme/fenced"]).update(
        is_private=True
    )
    sharing.set_policy(
        repository=Repository.objects.get(name="acme/shared"),
        grants=[{"principal": "carol", "actions": ["pull"]}],
        networks=[],
        actor=owner,
    )
    sharing.set_policy(
        repository=Repository.objects.get(name="acme/fenced"),
        grants=[],
        networks=["10.0.0.0/8"],
        actor=owner,
    )
    for repository in Repository.objects.all():
        gallery_services.index_repository(repository_id=repository.pk)
    _, robot_secret = organizations.create_robot(
        organization=acme, name="ci", permissions=[{"repository": "", "actions": ["pull", "push"]}],
        actor=owner,
    )  # fmt: skip
    _, scopeless = credentials.create_token(
        user=owner, name="pull only", scopes=["pull", "api-read"]
    )
    _, expired = credentials.create_token(
        user=owner, name="old", scopes=["pull", "push"], expires_at=timezone.now() - timedelta(1)
    )
    revoked_token, revoked = credentials.create_token(user=owner, name="gone", scopes=["pull"])
    credentials.revoke(token=revoked_token)
    assert carol
    return World(
        layer=layer,
        manifest=manifest,
        manifest_body=manifest_body,
        uploads=uploads,
        secrets={
            "robot": robot_secret,
            "scopeless": scopeless,
            "expired": expired,
            "revoked": revoked,
        },
    )


def client_for(caller: str, world: World) -> Client:
    address = "192.0.2.7"
    header = {
        "anonymous": None,
        "outsider": basic("bob", PASSWORD),
        "reader": basic("rita", PASSWORD),
        "maintainer": basic("mia", PASSWORD),
        "admin": basic("adam", PASSWORD),
        "owner": basic("olga", PASSWORD),
        "robot": basic("acme+ci", world.secrets["robot"]),
        "scopeless-token": basic("olga", world.secrets["scopeless"]),
        "expired-token": basic("olga", world.secrets["expired"]),
        "revoked-token": basic("olga", world.secrets["revoked"]),
        "granted": basic("carol", PASSWORD),
        "outside-network": basic("olga", PASSWORD),
        "malformed": "Basic !!not-base64!!",
    }[caller]
    if caller not in ("outside-network",):
        address = "10.1.2.3"  # inside the fenced repository's network
    return Client(REMOTE_ADDR=address, headers={"Authorization": header} if header else {})


def expected(endpoint: Endpoint, caller: str, repository: str, *, api: bool) -> int:
    """The status the table implies: allowed, missing, unseen (as missing), or refused."""
    rights = RIGHTS[caller][repository]
    if rights is None:
        return 401  # refused credentials
    if rights == "refused":  # signed in, from a network the repository refuses
        return endpoint.ok if api else 403
    anonymous = caller == "anonymous"
    if api and repository == "missing":
        return 404  # the API looks a repository up before it asks about rights
    if endpoint.needs in rights:
        if repository == "missing" and (endpoint.content or api):
            return 404
        if endpoint.session and caller not in OWNERS_SESSIONS:
            return 404  # BLOB_UPLOAD_UNKNOWN: another user's session
        return endpoint.ok
    if PULL not in rights:  # may not see it: it does not exist for this caller
        return 401 if anonymous and not api else 404
    return 401 if anonymous else 403


OWNERS_SESSIONS = {"owner", "outside-network"}  # callers who are the session's user


def fill(path: str, repository: str, world: World) -> str:
    return path.format(
        repo=f"acme/{repository}",
        layer=world.layer,
        manifest=world.manifest,
        upload=world.uploads.get(repository, ""),
        empty=sha256(b""),
    )


def request(client: Client, endpoint: Endpoint, path: str, world: World | None = None):
    """One request inside a savepoint that is rolled back: every case meets the same world."""
    method = endpoint.method.lower()
    with transaction.atomic():
        if endpoint.body is not None:
            body = endpoint.body
            if body == b"{manifest}" and world is not None:
                body = world.manifest_body
            response = getattr(client, method)(path, body, content_type=endpoint.content_type)
        elif endpoint.method in ("PATCH", "PUT"):
            body = (
                {"description": "x"}
                if endpoint.method == "PATCH"
                else {"grants": [], "networks": []}
            )
            response = getattr(client, method)(
                path, json.dumps(body), content_type="application/json"
            )
        else:
            response = getattr(client, method)(path)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        # Closing sends request_finished, whose handler would close the database connection
        # in the middle of this transaction (the test client keeps it away the same way).
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
        transaction.set_rollback(True)
    return response.status_code, content


@pytest.fixture(autouse=True)
def _no_login_throttle(monkeypatch):
    """Refused tokens are tried hundreds of times here; the throttle has tests of its own."""
    monkeypatch.setattr(auth, "LOGINS", ratelimit.Limiter("logins", None))


def check(world, endpoints, *, api: bool) -> list[str]:
    wrong = []
    for endpoint in endpoints:
        for caller in CALLERS:
            for repository in REPOSITORIES:
                path = fill(endpoint.path, repository, world)
                status, content = request(client_for(caller, world), endpoint, path, world)
                want = expected(endpoint, caller, repository, api=api)
                if api and caller in TOKENS and endpoint.method != "GET":
                    want = 403  # the token lacks api-write, whatever the repository
                if status != want:
                    wrong.append(
                        f"{endpoint.method} {path} as {caller}: {status}, not {want}: "
                        f"{content[:120]!r}"
                    )
    return wrong


@pytest.mark.parametrize("endpoint", V2, ids=lambda e: f"{e.method} {e.path}")
def test_the_registry_answers_each_caller_as_the_table_says(world, endpoint):
    wrong = check(world, [endpoint], api=False)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("endpoint", API, ids=lambda e: f"{e.method} {e.path}")
def test_the_api_answers_each_caller_as_the_table_says(world, endpoint):
    wrong = check(world, [endpoint], api=True)
    assert not wrong, "\n".join(wrong)


def test_a_hidden_repository_is_indistinguishable_from_a_missing_one(world):
    different = []
    for caller in ("anonymous", "outsider", "granted", "reader"):
        for endpoint in V2 + API:
            missing = request(
                client_for(caller, world), endpoint, fill(endpoint.path, "missing", world)
            )
            for repository in ("private", "shared", "fenced"):
                if RIGHTS[caller][repository]:
                    continue
                seen = request(
                    client_for(caller, world), endpoint, fill(endpoint.path, repository, world)
                )
                if (seen[0], seen[1].replace(repository.encode(), b"X")) != (
                    missing[0],
                    missing[1].replace(b"missing", b"X"),
                ):
                    different.append(f"{endpoint.method} {endpoint.path} {repository} as {caller}")
    assert not different, "\n".join(different)


def test_the_catalog_lists_what_each_caller_may_see(world):
    def listed(caller):
        body = json.loads(client_for(caller, world).get("/v2/_catalog").content)["repositories"]
        return sorted(name.removeprefix("acme/") for name in body)

    assert listed("anonymous") == ["public"]
    assert listed("outsider") == ["public"]
    assert listed("granted") == ["public", "shared"]
    assert listed("reader") == ["fenced", "private", "public", "shared"]
    assert listed("robot") == ["fenced", "private", "public", "shared"]


def route_names() -> set[str]:
    """Every named URL, with its namespace (`api:repositories`)."""
    names = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, f"{pattern.namespace}:" if pattern.namespace else prefix)
            elif pattern.name:
                names.add(prefix + pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_route_is_in_the_matrix():
    ours = {n for n in route_names() if n.startswith(("registry:", "api:"))}
    assert ours <= COVERED, f"routes missing from the matrix: {sorted(ours - COVERED)}"


def test_every_page_is_in_the_matrix_or_named_elsewhere():
    from django.urls import resolve

    pages = {n for n in route_names() if not n.startswith(("registry:", "api:", "admin:"))}
    digest = "sha256:" + "0" * 64
    covered = {resolve(e.path.format(repo="acme/app", manifest=digest)).url_name for e, _ in PAGES}
    assert pages <= covered | PAGES_ELSEWHERE, sorted(pages - covered - PAGES_ELSEWHERE)


def test_staff_only_endpoints_answer_staff_and_nobody_else(world):
    from registry.cache import services as cache

    UserFactory(username="sam", is_staff=True)
    rule = cache.create_rule(
        prefix="hub", upstream_url="http://127.0.0.1:9", allow_private_networks=True
    )
    body = {"prefix": "mirror", "upstream": "http://127.0.0.1:9", "allow_private_networks": True}
    callers = {
        **{caller: client_for(caller, world) for caller in CALLERS},
        "staff": Client(headers={"Authorization": basic("sam", PASSWORD)}),
    }
    wrong = []
    for endpoint in STAFF_ONLY:
        path = endpoint.path.format(rule=rule.pk)
        for caller, client in callers.items():
            with transaction.atomic():
                if endpoint.method == "POST":
                    response = client.post(path, json.dumps(body), content_type="application/json")
                else:
                    response = getattr(client, endpoint.method.lower())(path)
                transaction.set_rollback(True)
            if caller == "staff":
                want = endpoint.ok
            elif caller == "anonymous" or RIGHTS[caller]["public"] is None:
                want = 401
            else:
                want = 403
            if response.status_code != want:
                wrong.append(
                    f"{endpoint.method} {path} as {caller}: {response.status_code}, not {want}"
                )
    assert not wrong, "\n".join(wrong)


# A namespace's replication rules: its owners and admins manage them, the target publisher's
# admins answer them, nobody else sees them. {endpoint: {caller: status}}, the rest 404.
ADMINS = {"admin": None, "owner": None, "outside-network": None}  # None: the endpoint's own
REFUSED = {"anonymous": 401, "expired-token": 401, "revoked-token": 401, "malformed": 401}
NO_API_WRITE = {"robot": 403, "scopeless-token": 403}
READERS = {**ADMINS, "scopeless-token": 200}  # the owner's read-only token sees it
WRITERS = {**ADMINS, **NO_API_WRITE}
ANSWERERS = {"outsider": None, "admin": 403, "owner": 403, "outside-network": 403, **NO_API_WRITE}
RULES = "/api/v1/replication-rules"
REPLICATION = [
    (Endpoint("GET", RULES, ADMIN, 200), {c: 200 for c in CALLERS}),
    (Endpoint("POST", RULES, ADMIN, 201), {**{c: 403 for c in CALLERS}, **ADMINS}),
    (Endpoint("GET", RULES + "/{rule}", ADMIN, 200), READERS),
    (Endpoint("GET", RULES + "/{rule}/status", ADMIN, 200), READERS),
    (Endpoint("POST", RULES + "/{rule}/replicate", ADMIN, 202), WRITERS),
    (Endpoint("DELETE", RULES + "/{rule}", ADMIN, 204), WRITERS),
    (Endpoint("POST", RULES + "/{incoming}/accept", ADMIN, 200), ANSWERERS),
    (Endpoint("POST", RULES + "/{incoming}/decline", ADMIN, 200), ANSWERERS),
]


def test_replication_rules_answer_their_namespace_admins_and_target_only(world, settings):
    from registry.models import Namespace
    from registry.replication import services

    settings.BERTH_UPSTREAM_RETRIES = 0  # "replicate now" meets a registry that is not there
    acme = Namespace.objects.get(name="acme")
    olga = acme.owner
    rule = services.create_rule(namespace=acme, actor=olga, url="https://registry.invalid")
    incoming = services.create_rule(namespace=acme, actor=olga, target="bob")
    body = {"namespace": "acme", "url": "https://registry.invalid"}
    wrong = []
    for endpoint, table in REPLICATION:
        path = endpoint.path.format(rule=rule.pk, incoming=incoming.pk)
        for caller in CALLERS:
            client = client_for(caller, world)
            with transaction.atomic():
                if endpoint.method == "POST":
                    response = client.post(path, json.dumps(body), content_type="application/json")
                else:
                    response = getattr(client, endpoint.method.lower())(path)
                transaction.set_rollback(True)
            want = REFUSED.get(caller) or table.get(caller, 404)
            want = endpoint.ok if want is None else want
            if response.status_code != want:
                wrong.append(
                    f"{endpoint.method} {path} as {caller}: {response.status_code}, not {want}"
                )
    assert not wrong, "\n".join(wrong)


def expected_on_page(endpoint: Endpoint, caller: str, repository: str) -> int:
    if caller not in SIGNED_IN:
        return 302  # to the sign-in page
    if not endpoint.needs:
        return endpoint.ok
    rights = RIGHTS[caller][repository if "{repo}" in endpoint.path else "private"]
    rights = OWNER if rights == "refused" else rights
    if endpoint.needs == OWNER_ONLY:
        # Only owners delete it; an admin is sent back to the settings page with a message.
        return endpoint.ok if ADMIN in rights else 404
    if "{repo}" in endpoint.path and (repository == "missing" or PULL not in rights):
        return 404
    if endpoint.needs in rights:
        return endpoint.ok
    # A repository's settings are for its writers; its other pages and a namespace's
    # members page for those who may pull.
    sees = PUSH if endpoint.path.endswith("/-/settings") and "{repo}" in endpoint.path else PULL
    return endpoint.refused if sees in rights else 404


def test_the_pages_answer_each_caller_as_the_table_says(world):
    from django.contrib.auth import get_user_model

    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=SIGNED_IN.values())
    }
    wrong = []
    for endpoint, form in PAGES:
        repositories = REPOSITORIES if "{repo}" in endpoint.path else ("private",)
        for caller in CALLERS:
            for repository in repositories:
                client = client_for(caller, world)
                if caller in SIGNED_IN:
                    client.force_login(users[SIGNED_IN[caller]])
                path = fill(endpoint.path, repository, world)
                data = {k: v.replace("{repo}", f"acme/{repository}") for k, v in form.items()}
                with transaction.atomic():
                    response = client.post(path, data)
                    transaction.set_rollback(True)
                want = expected_on_page(endpoint, caller, repository)
                if response.status_code != want:
                    wrong.append(
                        f"POST {path} {form} as {caller}: {response.status_code}, not {want}"
                    )
    assert not wrong, "\n".join(wrong)
