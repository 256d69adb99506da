"""Keyset pages: every sort, forward and back, and long walks while the catalog changes."""

import random
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from gallery import search, services
from gallery.models import CatalogEntry
from gallery.search import Audience, SearchParams
from registry.models import Repository
from tests.factories import UserFactory, catalog_entry

pytestmark = pytest.mark.django_db


def run(size=20, **params):
    return search.search(Audience.of(AnonymousUser()), SearchParams(**params), size=size)


def names(page) -> list[str]:
    return [entry.name for entry in page.entries]


def walk(size: int, between=None, **params) -> list[str]:
    """Every page from the first by following `next_cursor`."""
    seen, page = [], run(size=size, **params)
    for _ in range(1000):
        seen += names(page)
        if not page.next_cursor:
            return seen
        if between:
            between()
        page = run(size=size, after=page.next_cursor, **params)
    raise AssertionError(f"no end after 1,000 pages: {seen[-5:]}")


def catalog(count: int, owner=None, start: int = 0, **fields) -> list[CatalogEntry]:
    """`count` listed entries in bulk: ties in downloads and push times on purpose."""
    owner = owner or UserFactory(username="acme")
    now = timezone.now()
    repositories = Repository.objects.bulk_create(
        [
            Repository(name=f"acme/app-{i:05d}", namespace="acme", owner=owner, pushed_at=now)
            for i in range(start, start + count)
        ]
    )
    return CatalogEntry.objects.bulk_create(
        [
            CatalogEntry(
                repository=repository,
                name=repository.name,
                namespace="acme",
                tag_count=1,
                downloads=i % 7,
                pushed_at=now - timedelta(minutes=i % 5),
                description="proxy" if i % 3 else "proxy server",
                **fields,
            )
            for i, repository in enumerate(repositories)
        ]
    )


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "relevance"},
        {"sort": "downloads"},
        {"sort": "updated"},
        {"sort": "name"},
        {"q": "proxy"},
        {"q": "app proxy", "sort": "relevance"},
        {"q": "server", "sort": "updated"},
        {"q": "acme/app-00003"},
        {"q": "proxy", "sort": "name"},
    ],
)
def test_every_sort_pages_through_every_result_once_forward_and_back(db, params):
    catalog(23)
    everything = names(run(size=100, **params))
    pages = [run(size=4, **params)]
    while pages[-1].next_cursor and len(pages) < 10:
        pages.append(run(size=4, after=pages[-1].next_cursor, **params))
    assert [name for p in pages for name in names(p)] == everything
    back = [pages[-1]]
    while back[-1].prev_cursor and len(back) < 10:
        back.append(run(size=4, before=back[-1].prev_cursor, **params))
    assert [names(p) for p in reversed(back)] == [names(p) for p in pages]


def test_next_on_a_search_by_relevance_never_repeats_a_page(db):
    """The defect: page 3 of q=proxy showed page 2 again (a floating-point rank in the
    cursor that the database did not compare equal)."""
    for i in range(30):
        catalog_entry(f"ns{i}/tool-{i}", description="proxy " * (i % 4 + 1), downloads=i % 3)
    first = run(q="proxy", size=5)
    second = run(q="proxy", size=5, after=first.next_cursor)
    third = run(q="proxy", size=5, after=second.next_cursor)
    assert not set(names(second)) & set(names(third))
    assert len(set(walk(5, q="proxy"))) == 30


def test_never_pushed_entries_are_paged_by_update_too(db):
    catalog(5)
    CatalogEntry.objects.filter(name__in=["acme/app-00001", "acme/app-00003"]).update(
        pushed_at=None
    )
    everything = names(run(size=100, sort="updated"))
    assert len(everything) == 5
    assert walk(2, sort="updated") == everything


def test_a_cursor_of_another_sort_starts_over(db):
    catalog(5)
    cursor = run(size=2, sort="name").next_cursor
    assert names(run(size=2, sort="updated", after=cursor)) == names(run(size=2, sort="updated"))


def test_a_long_walk_returns_each_repository_once_while_the_catalog_changes(db):
    """10,000 repositories, 100 a page, in every sort, while repositories are pushed to,
    created, deleted, made private and public again between pages."""
    entries = catalog(10_200)
    acme = UserFactory(username="acme")
    rng = random.Random(5)
    stable = {e.name for e in entries}
    created = iter(range(20_000, 30_000))

    def change():
        for entry in rng.sample(entries, 6):
            if entry.name not in stable:
                continue
            stable.discard(entry.name)  # its place may change: it must just not repeat
            action = rng.choice(["push", "delete", "hide", "hide and show"])
            if action == "push":
                CatalogEntry.objects.filter(pk=entry.pk).update(
                    pushed_at=timezone.now(), tag_count=2
                )
            elif action == "delete":
                Repository.objects.filter(pk=entry.pk).delete()
            else:
                services.set_visibility(repository=entry.repository, private=True)
                if action == "hide and show":
                    services.set_visibility(repository=entry.repository, private=False)
        catalog(3, owner=acme, start=next(created))
        for _ in range(2):
            next(created)

    for params in ({"sort": "name"}, {"sort": "downloads"}, {"sort": "updated"}, {"q": "proxy"}):
        seen = walk(100, between=change, **params)
        assert len(seen) == len(set(seen)), params
        assert stable <= set(seen), params
