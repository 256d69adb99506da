"""Facet counts kept by the database, what each audience is shown of them, and search data
that follows every change to the catalog."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count

from gallery import search, services
from gallery.models import CatalogEntry, FacetGroup, Publisher
from gallery.search import Audience, SearchParams
from registry.models import Repository
from tests.factories import UserFactory, catalog_entry

pytestmark = pytest.mark.django_db
KEY = ("artifact_type", "platforms", "is_verified", "is_private")


def kept() -> dict:
    rows = FacetGroup.objects.filter(entries__gt=0).values_list(*KEY, "entries")
    return {tuple(row[:-1]): row[-1] for row in rows}


def recounted() -> dict:
    rows = CatalogEntry.objects.listed().values_list(*KEY).annotate(n=Count("pk")).order_by()
    return {tuple(row[:-1]): row[-1] for row in rows}


def run(user=None, **params):
    return search.search(Audience.of(user or AnonymousUser()), SearchParams(**params))


def facet(page, key) -> dict[str, int]:
    return {o["value"]: o["count"] for f in page.facets if f.key == key for o in f.options}


def test_kept_counts_follow_every_kind_of_change(as_alice):
    as_alice.push_image("alice/app", "1.0")
    entry = services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    catalog_entry("acme/one", platforms=[("linux", "arm64")])
    catalog_entry("acme/two", artifact_type="helm", platforms=[])
    assert kept() == recounted()
    services.set_visibility(repository=entry.repository, private=True)
    assert kept() == recounted()
    services.set_verified(
        publisher=Publisher.objects.get(namespace_record__name="acme"), verified=True
    )
    assert kept() == recounted()
    CatalogEntry.objects.filter(name="acme/one").update(platforms=" linux/s390x ")
    CatalogEntry.objects.filter(name="acme/one").update(is_signed=True)  # a signature arrived
    CatalogEntry.objects.filter(name="acme/two").update(tag_count=0)  # its last tag deleted
    services.refresh_downloads()
    assert kept() == recounted()
    Repository.objects.filter(name="acme/one").delete()
    assert kept() == recounted()
    as_alice.push_image("alice/app", "2.0")
    services.index_repository(repository_id=entry.pk)
    assert kept() == recounted()


def test_browsing_counts_leave_out_private_repositories_of_others(db):
    catalog_entry("acme/public", platforms=[("linux", "amd64")])
    catalog_entry("acme/hidden", private=True, platforms=[("linux", "arm64")])
    page = run()
    assert (page.total, facet(page, "arch")) == (1, {"amd64": 1})
    other = UserFactory(username="bob")
    assert run(other).total == 1


def test_browsing_counts_follow_each_change_though_tallied_once_per_reading(db, settings):
    """Facet-only browsing tallies the kept counts once per process for each choice of
    filters (search.KeptCounts), and again as soon as the kept counts change."""
    settings.BERTH_SEARCH_CACHE_SECONDS = 0
    catalog_entry("acme/one", platforms=[("linux", "amd64")])
    first = run(architectures=["amd64"])
    assert run(architectures=["amd64"]).facets is first.facets  # the same tally
    assert (first.total, facet(first, "arch")) == (1, {"amd64": 1})
    catalog_entry("acme/two", platforms=[("linux", "arm64")])
    after = run(architectures=["amd64"])
    assert (after.total, facet(after, "arch")) == (1, {"amd64": 1, "arm64": 1})
    services.set_visibility(repository=Repository.objects.get(name="acme/one"), private=True)
    hidden = run(architectures=["amd64"])
    assert (hidden.total, facet(hidden, "arch")) == (0, {"arm64": 1, "amd64": 0})
    assert run().total == 1


def test_browsing_counts_add_the_owners_private_repositories(db):
    owner = UserFactory(username="acme")
    catalog_entry("acme/public", platforms=[("linux", "amd64")], owner=owner)
    catalog_entry("acme/hidden", private=True, platforms=[("linux", "arm64")], owner=owner)
    page = run(owner)
    assert (page.total, facet(page, "arch")) == (2, {"amd64": 1, "arm64": 1})
    assert run(owner, architectures=["arm64"]).total == 1


def test_staff_see_every_repository_counted(db, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw-1234567")
    catalog_entry("acme/public")
    catalog_entry("acme/hidden", private=True)
    assert run(admin).total == 2


def test_searches_see_edited_descriptions_and_readmes(db):
    entry = catalog_entry("acme/app", description="old words", about="ancient readme")
    services.update_catalog(entry=entry, description="fresh words", about="modern readme", usage="")
    assert run(q="fresh").total == run(q="modern").total == 1
    assert run(q="old").total == run(q="ancient").total == 0


def test_searches_forget_deleted_repositories(db):
    catalog_entry("acme/app", description="unique")
    Repository.objects.filter(name="acme/app").delete()
    assert run(q="unique").total == 0
    assert run().total == 0


def test_making_a_repository_private_removes_it_from_cached_searches(
    db, django_capture_on_commit_callbacks
):
    catalog_entry("acme/postgres")

    def public_names():
        page = run(q="postgres")
        return [e.name for e in page.entries], page.total

    assert public_names() == (["acme/postgres"], 1)
    entry = CatalogEntry.objects.get(name="acme/postgres")
    with django_capture_on_commit_callbacks(execute=True):
        services.set_visibility(repository=entry.repository, private=True)
    assert public_names() == ([], 0)


def test_search_indexes_leave_no_pending_list_after_updates(db):
    """PostgreSQL's GIN indexes of search are written through: a row changed since the last
    vacuum (a flush of download counts rewrites rows all day) is in the index at once, not
    in a pending list that every search would read in full (650 ms instead of 7 ms for a
    typo's neighbours at 100,000 repositories, after 10,000 such updates)."""
    from django.db import connection

    from gallery import searchschema
    from tests.gallery.test_search import _postgresql_only

    _postgresql_only("GIN indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [list(searchschema.GIN_INDEXES)],
        )
        options = dict(cursor.fetchall())
    assert options == {index: ["fastupdate=off"] for index in searchschema.GIN_INDEXES}
    catalog_entry("acme/counted")
    CatalogEntry.objects.filter(name="acme/counted").update(downloads=7)
    assert [row.name for row in run(q="counted").entries] == ["acme/counted"]
