"""Generated catalog data for the gallery benchmark (run inside a configured Django).

`seed(repositories, tags)` writes `repositories` catalog entries from 1,000 publishers (plus
a few well-known names, `library/nginx` and the like, for pasted names and exact matches),
and one repository, `pub0/many-tags`, with `tags` tags each on its own image, through the
registry's own rows, then indexes it as a push would. It prints how long each step took.
On PostgreSQL the catalog is loaded with the search triggers off and its search data
computed once afterwards (gallery.searchschema.fill, what migrating an existing catalog
does): with them on, 1,000,000 rows take most of an hour.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from datetime import timedelta

_VOCABULARY = """
    proxy web server database cache queue stream metrics logging tracing auth gateway api
    python node java golang rust alpine debian ubuntu nginx redis postgres mysql kafka
    operator controller exporter agent cli toolkit runtime builder scanner backup monitor
    ingress mesh vault secrets storage object search index machine learning model gpu
"""
WORDS = _VOCABULARY.split()
ARCHES = ["amd64", "arm64", "arm", "s390x", "ppc64le", "riscv64", "386"]
TYPES = ["image"] * 8 + ["helm", "policy", "artifact"]
BATCH = 5000
WELL_KNOWN = [
    "library/nginx",
    "library/postgres",
    "library/redis",
    "library/alpine",
    "library/python",
    "library/node",
    "bitnami/nginx",
    "bitnami/postgresql",
    "bitnami/redis",
    "bitnami/kafka",
    "prom/node-exporter",
    "prom/prometheus",
    "grafana/grafana",
    "oliver006/redis_exporter",
    "nginx/nginx-ingress",
    "hashicorp/vault",
]


def word() -> str:
    """Names and descriptions: a known word 30% of the time, else one of 3,000 rarer ones, so
    that a common word ("proxy") is in about 3% of repositories, as in real catalogs."""
    return random.choice(WORDS) if random.random() < 0.3 else f"t{random.randrange(3000)}"


def about_text() -> str:
    """READMEs use a large vocabulary with Zipf-like word frequencies."""
    rare = " ".join(f"w{int(random.paretovariate(0.8)) % 20000}" for _ in range(120))
    return f"{rare} {random.choice(WORDS)}"


@contextlib.contextmanager
def bulk_load():
    """PostgreSQL: search triggers off while loading, search data computed once after."""
    from django.db import connection

    from gallery import searchschema

    tables = ("gallery_catalogentry", "gallery_catalogtext")
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
        started = time.monotonic()
        with connection.schema_editor() as editor:
            searchschema.fill(editor)
        print(f"search data: {time.monotonic() - started:.1f} s")
    finally:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def seed(repositories: int, tags: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from gallery.models import CatalogEntry, CatalogText, Publisher

    random.seed(7)
    started = time.monotonic()
    user_model = get_user_model()
    known = sorted({name.split("/")[0] for name in WELL_KNOWN})
    users = user_model.objects.bulk_create(
        [user_model(username=f"pub{i}") for i in range(1000)]
        + [user_model(username=name) for name in known]
    )
    from registry.models import Namespace

    spaces = Namespace.objects.bulk_create(
        [Namespace(name=user.username, kind=Namespace.Kind.USER, owner=user) for user in users]
    )
    publishers = Publisher.objects.bulk_create(
        [Publisher(namespace_record=ns, is_verified=i % 10 == 0) for i, ns in enumerate(spaces)]
    )
    now = timezone.now()
    from registry.models import Repository

    well_known = dict(enumerate(WELL_KNOWN))
    with bulk_load():
        for start in range(0, repositories, BATCH):
            numbers = range(start, min(start + BATCH, repositories))
            repos = []
            for i in numbers:
                owner = i % 1000
                name = f"pub{owner}/{word()}-{word()}-{i}"
                if i in well_known:
                    name = well_known[i]
                    owner = 1000 + known.index(name.split("/")[0])
                repos.append(
                    Repository(
                        name=name,
                        namespace=name.split("/")[0],
                        owner_id=users[owner].pk,
                        is_private=i % 50 == 0 and i not in well_known,
                        pushed_at=now - timedelta(minutes=random.randint(0, 500_000)),
                    )
                )
            Repository.objects.bulk_create(repos)
            entries, texts = [], []
            for i, repo in zip(numbers, repos, strict=True):
                platforms = sorted(
                    f"linux/{a}" for a in random.sample(ARCHES, random.randint(1, 3))
                )
                owner = i % 1000 if i not in well_known else 1000 + known.index(repo.namespace)
                entries.append(
                    CatalogEntry(
                        repository=repo,
                        name=repo.name,
                        namespace=repo.namespace,
                        is_private=repo.is_private,
                        publisher_id=publishers[owner].pk,
                        is_verified=owner % 10 == 0 or i in well_known,
                        description=" ".join(word() for _ in range(8)),
                        platforms=f" {' '.join(platforms)} ",
                        artifact_type=random.choice(TYPES) if i not in well_known else "image",
                        tag_count=random.randint(1, 40),
                        total_size=random.randint(1, 10**9),
                        pushed_at=repo.pushed_at,
                        downloads=int(random.paretovariate(1.2) * 10)
                        * (1000 if i in well_known else 1),
                    )
                )
                texts.append(CatalogText(entry_id=repo.pk, about=about_text()))
            CatalogEntry.objects.bulk_create(entries)
            CatalogText.objects.bulk_create(texts)
    print(f"catalog of {repositories:,} repositories: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    with connection.cursor() as cursor:
        # As a catalog kept for a while is: its rows compact (the search data was written in a
        # second pass), vacuumed and analyzed.
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM (FULL, ANALYZE) gallery_catalogentry")
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    print(f"vacuum and statistics: {time.monotonic() - started:.1f} s")
    many_tags(users[0], tags)


def churn(share: float, seed: int = 5) -> None:
    """A catalog as it is while in use, not just after a vacuum: `share` of the repositories'
    download counts raised, as the counts' flush does all day (an UPDATE of each row, and
    no update of an indexed column is HOT: every index gets the row's new version)."""
    from django.db.models import F

    from gallery.models import CatalogEntry

    started = time.monotonic()
    ids = sorted(CatalogEntry.objects.values_list("pk", flat=True))
    chosen = random.Random(seed).sample(ids, int(len(ids) * share))
    for start in range(0, len(chosen), 1000):
        batch = chosen[start : start + 1000]
        CatalogEntry.objects.filter(pk__in=batch).update(downloads=F("downloads") + 1)
    seconds = time.monotonic() - started
    print(f"download counts of {len(chosen):,} repositories raised: {seconds:.1f} s")


def many_tags(owner, count: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from gallery import services
    from registry import digests, mediatypes
    from registry.models import Manifest, Repository, Tag
    from registry.storage import blobs

    started = time.monotonic()
    repo = Repository.objects.create(
        name="pub0/many-tags", namespace="pub0", owner=owner, pushed_at=timezone.now()
    )
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest = digests.compute(config)
    blobs.store_bytes(repository=repo, digest=config_digest, data=config)
    manifests = []
    for i in range(count):
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "config": {
                    "mediaType": mediatypes.OCI_CONFIG,
                    "digest": str(config_digest),
                    "size": len(config),
                },
                "layers": [],
                "annotations": {"n": str(i)},
            }
        ).encode()
        manifests.append(
            Manifest(
                repository=repo,
                digest=str(digests.compute(body)),
                media_type=mediatypes.OCI_MANIFEST,
                body=body,
                size=len(body),
            )
        )
    Manifest.objects.bulk_create(manifests, batch_size=2000)
    Tag.objects.bulk_create(
        [
            Tag(repository=repo, name=f"{i // 100}.{i % 100}.{i % 7}", manifest=manifest)
            for i, manifest in enumerate(manifests)
        ],
        batch_size=2000,
    )
    print(f"registry rows for {count:,} tags: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    services.index_repository(repository_id=repo.pk)
    print(f"first indexing of {count:,} tags: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    services.index_repository(repository_id=repo.pk)
    print(f"indexing again (a push to it): {time.monotonic() - started:.2f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
