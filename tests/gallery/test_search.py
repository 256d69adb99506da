import pytest
from django.contrib.auth.models import AnonymousUser

from gallery import search
from gallery.models import CatalogEntry
from gallery.search import SearchParams
from tests.factories import UserFactory, catalog_entry

pytestmark = pytest.mark.django_db


def run(user=None, size=20, **params):
    visible = CatalogEntry.objects.visible_to(user or AnonymousUser()).listed()
    return search.search(visible, SearchParams(**params), size=size)


def names(page) -> list[str]:
    return [entry.name for entry in page.entries]


def facet(page, key) -> dict[str, int]:
    return {o["value"]: o["count"] for f in page.facets if f.key == key for o in f.options}


@pytest.fixture
def catalog(db):
    catalog_entry(
        "acme/nginx-proxy",
        description="A reverse proxy",
        downloads=500,
        platforms=[("linux", "amd64"), ("linux", "arm64")],
        verified=True,
    )
    catalog_entry(
        "acme/postgres",
        description="The database",
        about="Relational proxy notes",
        downloads=100,
        owner=UserFactory(username="acme"),
    )
    catalog_entry(
        "bob/web-chart",
        description="Deploys a web server",
        artifact_type="helm",
        platforms=[],
        downloads=50,
    )
    catalog_entry(
        "bob/secret-proxy",
        description="Hidden proxy",
        private=True,
        owner=UserFactory(username="bob"),
    )


def test_search_matches_names_descriptions_and_about_text(catalog):
    assert set(names(run(q="proxy"))) == {"acme/nginx-proxy", "acme/postgres"}


def test_name_matches_rank_above_about_text_matches(catalog):
    assert names(run(q="proxy"))[0] == "acme/nginx-proxy"


def test_parts_of_names_are_searchable(catalog):
    assert names(run(q="nginx")) == ["acme/nginx-proxy"]
    assert names(run(q="chart")) == ["bob/web-chart"]


def test_private_repositories_never_appear_to_others(catalog):
    page = run(q="proxy")
    assert "bob/secret-proxy" not in names(page)
    assert page.total == 2
    assert facet(page, "arch") == {"amd64": 2, "arm64": 1}


def test_owners_find_their_private_repositories(catalog):
    bob = UserFactory(username="bob")
    assert "bob/secret-proxy" in names(run(bob, q="proxy"))


def test_architecture_filter_and_facet_counts(catalog):
    page = run(architectures=["arm64"])
    assert names(page) == ["acme/nginx-proxy"]
    assert facet(page, "arch") == {"amd64": 2, "arm64": 1}  # its own filter does not apply
    assert facet(page, "type") == {"image": 1}


def test_type_and_verified_filters(catalog):
    assert names(run(types=["helm"])) == ["bob/web-chart"]
    assert names(run(verified=True)) == ["acme/nginx-proxy"]
    assert facet(run(), "verified") == {"1": 1}


def test_sort_by_downloads_and_by_update(catalog):
    assert names(run(sort="downloads")) == ["acme/nginx-proxy", "acme/postgres", "bob/web-chart"]
    assert names(run(sort="updated"))[0] == "bob/web-chart"


def test_keyset_pages_walk_forward_and_back_exactly(db):
    for i in range(7):
        catalog_entry(f"ns{i}/app", downloads=i)
    first = run(sort="downloads", size=3)
    second = run(sort="downloads", size=3, after=first.next_cursor)
    third = run(sort="downloads", size=3, after=second.next_cursor)
    assert names(first) + names(second) + names(third) == [f"ns{i}/app" for i in range(6, -1, -1)]
    assert third.next_cursor == ""
    back = run(sort="downloads", size=3, before=third.prev_cursor)
    assert names(back) == names(second)
    assert first.total == third.total == 7


def test_a_garbled_cursor_starts_from_the_first_page(catalog):
    assert names(run(sort="downloads", after="!!not-a-cursor")) == names(run(sort="downloads"))


def test_relevance_pages_do_not_repeat_results(db):
    for i in range(5):
        catalog_entry(f"ns{i}/tool", description="tool " * (i + 1))
    first = run(q="tool", size=2)
    rest = run(q="tool", size=10, after=first.next_cursor)
    assert len(set(names(first) + names(rest))) == 5


def test_entries_without_tags_are_not_listed(db):
    catalog_entry("ns/empty", tags=0)
    assert run().total == 0


def test_making_a_repository_private_removes_it_from_cached_searches(
    catalog, django_capture_on_commit_callbacks
):
    from gallery import services

    def public_names():
        page = search.search(
            CatalogEntry.objects.visible_to(AnonymousUser()).listed(),
            SearchParams(q="postgres"),
            audience="public",
        )
        return names(page), page.total

    assert public_names() == (["acme/postgres"], 1)
    entry = CatalogEntry.objects.get(name="acme/postgres")
    with django_capture_on_commit_callbacks(execute=True):
        services.set_visibility(repository=entry.repository, private=True)
    assert public_names() == ([], 0)
