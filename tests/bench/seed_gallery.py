"""Generated catalog data for the gallery benchmark (run inside a configured Django).

`seed(repositories, tags)` writes `repositories` catalog entries from 1,000 publishers, and
one repository, `pub0/many-tags`, with `tags` tags each on its own image, through the
registry's own rows, then indexes it as a push would. It prints how long each step took.
"""

from __future__ import annotations

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


def word() -> str:
    """Names and descriptions: a known word 30% of the time, else one of 3,000 rarer ones, so
    that a common word ("proxy") is in about 3% of repositories, as in real catalogs."""
    return random.choice(WORDS) if random.random() < 0.3 else f"t{random.randrange(3000)}"


def about_text() -> str:
    """READMEs use a large vocabulary with Zipf-like word frequencies."""
    rare = " ".join(f"w{int(random.paretovariate(0.8)) % 20000}" for _ in range(120))
    return f"{rare} {random.choice(WORDS)}"


def seed(repositories: int, tags: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from gallery.models import CatalogEntry, CatalogText, Publisher

    random.seed(7)
    started = time.monotonic()
    user_model = get_user_model()
    users = user_model.objects.bulk_create([user_model(username=f"pub{i}") for i in range(1000)])
    publishers = Publisher.objects.bulk_create(
        [Publisher(user=user, is_verified=i % 10 == 0) for i, user in enumerate(users)]
    )
    now = timezone.now()
    from registry.models import Repository

    for start in range(0, repositories, BATCH):
        numbers = range(start, min(start + BATCH, repositories))
        repos = []
        for i in numbers:
            owner = i % 1000
            repos.append(
                Repository(
                    name=f"pub{owner}/{word()}-{word()}-{i}",
                    namespace=f"pub{owner}",
                    owner_id=users[owner].pk,
                    is_private=i % 50 == 0,
                    pushed_at=now - timedelta(minutes=random.randint(0, 500_000)),
                )
            )
        Repository.objects.bulk_create(repos)
        entries, texts = [], []
        for i, repo in zip(numbers, repos, strict=True):
            platforms = sorted(f"linux/{a}" for a in random.sample(ARCHES, random.randint(1, 3)))
            entries.append(
                CatalogEntry(
                    repository=repo,
                    name=repo.name,
                    namespace=repo.namespace,
                    is_private=repo.is_private,
                    publisher_id=publishers[i % 1000].pk,
                    is_verified=(i % 1000) % 10 == 0,
                    description=" ".join(word() for _ in range(8)),
                    platforms=f" {' '.join(platforms)} ",
                    artifact_type=random.choice(TYPES),
                    tag_count=random.randint(1, 40),
                    total_size=random.randint(1, 10**9),
                    pushed_at=repo.pushed_at,
                    downloads=int(random.paretovariate(1.2) * 10),
                )
            )
            texts.append(CatalogText(entry_id=repo.pk, about=about_text()))
        CatalogEntry.objects.bulk_create(entries)
        CatalogText.objects.bulk_create(texts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"catalog of {repositories:,} repositories: {time.monotonic() - started:.1f} s")
    many_tags(users[0], tags)


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
        cursor.execute("ANALYZE")  # as autovacuum would have by the time anyone searches
