import pytest
from django.contrib.auth.models import AnonymousUser

from gallery import search
from gallery.models import CatalogEntry
from gallery.search import Audience, SearchParams
from tests.factories import UserFactory, catalog_entry

pytestmark = pytest.mark.django_db


def run(user=None, size=20, **params):
    return search.search(Audience.of(user or AnonymousUser()), SearchParams(**params), size=size)


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


def test_words_found_in_different_fields_match_together(db):
    catalog_entry("acme/ledger", about="Keeps accounts in a postgres database")
    catalog_entry("acme/other", about="Keeps accounts")
    assert names(run(q="ledger postgres")) == ["acme/ledger"]


def test_names_are_split_at_dashes_underscores_dots_and_slashes(db):
    catalog_entry("acme/redis-exporter")
    catalog_entry("acme/hello_world")
    catalog_entry("acme/tools.extra")
    assert names(run(q="exporter")) == ["acme/redis-exporter"]
    assert names(run(q="world")) == ["acme/hello_world"]
    assert names(run(q="extra")) == ["acme/tools.extra"]
    assert names(run(q="redis-exporter")) == ["acme/redis-exporter"]


def test_descriptions_and_about_text_are_split_as_queries_are(db):
    """PostgreSQL's parser read `node.js`, `1.2.3` and `k8s.io/api` as one token each,
    which no query could match; SQLite's FTS5 split them. Both split at punctuation."""
    catalog_entry(
        "acme/app",
        description="Runs on node.js 1.2.3",
        about="See k8s.io/api and https://example.com/docs/start or mail ops@example.com",
    )
    catalog_entry("acme/other", description="node", about="example")
    for q in ("node.js", "1.2", "3", "k8s.io", "example.com/docs", "start", "ops", '"io api"'):
        assert names(run(q=q)) == ["acme/app"], q


def test_stop_words_mean_the_same_on_every_database(db):
    """PostgreSQL's english text has no stop words and its queries leave them out; SQLite's
    FTS5 kept them, so `nginx and` found nothing there and `-the` excluded READMEs."""
    catalog_entry("library/nginx", description="web server", downloads=9)
    catalog_entry("acme/tools", description="the tools and the things")
    catalog_entry("acme/the-tool", description="a tool")
    assert names(run(q="server and")) == ["library/nginx"]
    assert names(run(q='"the server"')) == ["library/nginx"]
    assert names(run(q="the")) == ["acme/the-tool"]  # a name's own words keep them
    assert names(run(q="and")) == []
    assert names(run(q="things -the", sort="name")) == ["acme/tools"]
    assert names(run(q="-a", sort="name")) == ["acme/the-tool", "acme/tools", "library/nginx"]
    assert names(run(q="server or the", sort="name")) == ["acme/the-tool", "library/nginx"]


def test_the_beginning_of_a_name_as_typed_finds_it(db):
    catalog_entry("library/postgres", downloads=10)
    catalog_entry("acme/monitoring-stack")
    catalog_entry("acme/redis-exporter")
    assert names(run(q="postg")) == ["library/postgres"]
    assert names(run(q="monitori")) == ["acme/monitoring-stack"]  # past its stem, "monitor"
    assert names(run(q="redis-ex")) == ["acme/redis-exporter"]
    assert names(run(q="library/post")) == ["library/postgres"]


def test_a_prefix_is_only_read_in_names(db):
    catalog_entry("acme/app", description="postgresql tooling", about="postgresql")
    assert names(run(q="postg")) == []


def test_other_forms_of_a_word_match(db):
    catalog_entry("acme/redis-exporter", description="Exports metrics")
    assert names(run(q="exporters")) == ["acme/redis-exporter"]
    assert names(run(q="exporting")) == ["acme/redis-exporter"]


def test_a_pasted_full_name_comes_first(db):
    catalog_entry("library/nginx", downloads=1)
    catalog_entry("acme/nginx-library-tools", downloads=1000, description="library nginx")
    assert names(run(q="library/nginx"))[0] == "library/nginx"


def test_a_name_without_its_namespace_ranks_first(db):
    catalog_entry("acme/nginx-proxy", downloads=1000)
    catalog_entry("library/nginx", downloads=5)
    catalog_entry("acme/web", description="nginx inside", downloads=5000)
    assert names(run(q="nginx")) == ["library/nginx", "acme/nginx-proxy", "acme/web"]


def test_quoted_words_match_only_next_to_each_other(db):
    catalog_entry("acme/a", description="a web server for static files")
    catalog_entry("acme/b", description="server side rendering for the web")
    assert names(run(q='"web server"')) == ["acme/a"]
    assert set(names(run(q="web server"))) == {"acme/a", "acme/b"}


def test_excluded_words_remove_results_wherever_they_are(db):
    catalog_entry("acme/proxy-one", description="fast proxy")
    catalog_entry("acme/proxy-two", about="written in rust")
    catalog_entry("acme/proxy-three", description="load balancer proxy")
    assert names(run(q="proxy -rust -balancer", sort="name")) == ["acme/proxy-one"]
    assert names(run(q='proxy -"load balancer"', sort="name")) == [
        "acme/proxy-one",
        "acme/proxy-two",
    ]


def test_only_excluded_words_list_everything_else(db):
    catalog_entry("acme/a", description="rust")
    catalog_entry("acme/b", description="go")
    assert names(run(q="-rust")) == ["acme/b"]


def test_or_finds_either_word(db):
    catalog_entry("acme/nginx")
    catalog_entry("acme/apache")
    catalog_entry("acme/caddy")
    assert set(names(run(q="nginx or apache"))) == {"acme/nginx", "acme/apache"}


def test_a_one_letter_typo_finds_the_name_and_is_corrected(db):
    catalog_entry("library/nginx")
    catalog_entry("acme/postgres")
    page = run(q="ngnix")
    assert page.suggestion == "nginx"
    assert names(page) == ["library/nginx"]
    assert run(q="postgers").suggestion == "postgres"
    assert run(q="nginx").suggestion == ""


def test_a_typo_is_not_corrected_when_the_query_finds_something(db):
    catalog_entry("library/nginx")
    catalog_entry("acme/ngnix-fork")
    page = run(q="ngnix")
    assert (page.suggestion, names(page)) == ("", ["acme/ngnix-fork"])


def test_private_names_are_never_suggested_to_others(db):
    owner = UserFactory(username="acme")
    catalog_entry("acme/kubernetes-secrets", private=True, owner=owner)
    assert run(q="kubernetse").suggestion == ""
    assert run(owner, q="kubernetse").suggestion == "kubernetes"


def test_nothing_is_suggested_when_only_the_filters_exclude(db):
    catalog_entry("library/nginx", platforms=[("linux", "amd64")])
    page = run(q="nginx", architectures=["arm64"])
    assert (page.total, page.suggestion) == (0, "")


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


def test_the_signed_filter_and_its_counts_follow_signatures(catalog, client):
    assert facet(run(), "signed") == {"1": 0}  # always offered, like the verified badge
    CatalogEntry.objects.filter(name="acme/postgres").update(is_signed=True)
    assert names(run(signed=True)) == ["acme/postgres"]
    assert names(run(signed=True, q="proxy")) == ["acme/postgres"]  # its README says proxy
    assert facet(run(q="proxy"), "signed") == {"1": 1}
    html = client.get("/search?signed=on").content.decode()
    assert "Signed images" in html
    assert "acme/postgres" in html
    assert "acme/nginx-proxy" not in html


def test_namespace_filter_limits_results_and_counts(catalog):
    page = run(namespace="acme")
    assert set(names(page)) == {"acme/nginx-proxy", "acme/postgres"}
    assert (page.total, facet(page, "type")) == (2, {"image": 2})
    assert names(run(namespace="acme", q="database")) == ["acme/postgres"]
    assert run(namespace="bob", q="proxy").total == 0  # bob's proxy is private


def test_sort_by_downloads_update_and_name(catalog):
    assert names(run(sort="downloads")) == ["acme/nginx-proxy", "acme/postgres", "bob/web-chart"]
    assert names(run(sort="updated"))[0] == "bob/web-chart"
    assert names(run(sort="name")) == ["acme/nginx-proxy", "acme/postgres", "bob/web-chart"]
    assert names(run(q="proxy", sort="name")) == ["acme/nginx-proxy", "acme/postgres"]


def test_entries_without_tags_are_not_listed(db):
    catalog_entry("ns/empty", tags=0)
    assert run().total == 0
    assert run(q="empty").total == 0


def test_facet_values_and_page_sizes_are_capped(db):
    catalog_entry("acme/app", platforms=[("linux", "arm64")])
    many = [f"arch{i}" for i in range(1000)] + ["arm64"]
    assert run(architectures=many).total == 0  # only the first values count
    assert run(architectures=many[-20:]).total == 1
    for i in range(3):
        catalog_entry(f"acme/app{i}")
    assert len(run(size=1000).entries) == 4
    assert search.search(Audience.of(AnonymousUser()), SearchParams(), size=1000).entries


def test_a_queryset_can_be_searched_directly(catalog):
    acme = CatalogEntry.objects.filter(namespace="acme").listed()
    page = search.search(acme, SearchParams(q="proxy"))
    assert names(page) == ["acme/nginx-proxy", "acme/postgres"]
    assert page.total == 2


def test_totals_above_the_exact_limit_are_lower_bounds(db, settings):
    settings.BERTH_SEARCH_EXACT_UP_TO = 3
    for i in range(5):
        catalog_entry(f"acme/tool{i}", description="tool", platforms=[("linux", "arm64")])
    catalog_entry("acme/lonely", description="tool", platforms=[("linux", "amd64")])
    page = run(q="tool")
    assert (page.total, page.total_is_lower_bound, page.total_text) == (3, True, "3+")
    assert facet(page, "arch") == {"arm64": None, "amd64": None}
    filtered = run(q="tool", architectures=["amd64"])
    assert (filtered.total, filtered.total_is_lower_bound) == (1, False)
    assert (run(q="acme lonely").total, run(q="lonely").total_is_lower_bound) == (1, False)
    browsing = run()  # kept counts: exact at any size
    assert (browsing.total, browsing.total_is_lower_bound) == (6, False)
    assert facet(browsing, "arch") == {"arm64": 5, "amd64": 1}


def _postgresql_only(what: str = "the planner's estimates are PostgreSQL's"):
    from django.db import connection

    from tests.conftest import IN_CI

    if connection.vendor != "postgresql":
        reason = f"{what} (DATABASE_URL)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def _counted(query_log) -> int:
    """How many of the logged queries counted matches (a GROUP BY, or a COUNT)."""
    return sum("GROUP BY" in q["sql"] or "COUNT(" in q["sql"] for q in query_log)


def test_matches_the_planner_expects_far_above_the_limit_are_not_counted(db, settings):
    """Counting 10,001 matches only to say "10,000+" is the costliest part of a search: a
    query of words the planner's statistics say match more than twice the limit is not
    counted. Its answer is the same as if it had been."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _postgresql_only()
    settings.BERTH_SEARCH_EXACT_UP_TO = 3
    settings.BERTH_SEARCH_CACHE_SECONDS = 0
    for i in range(30):
        arch = "arm64" if i % 3 else "amd64"
        catalog_entry(f"acme/tool{i}", description="handy tool", platforms=[("linux", arch)])
    catalog_entry("acme/other", description="other")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gallery_catalogentry")
    with CaptureQueriesContext(connection) as log:
        page = run(q="tool")
        filtered = run(q="tool", architectures=["amd64"])
    assert _counted(log.captured_queries) == 0
    assert (page.total, page.total_is_lower_bound, len(page.entries)) == (3, True, 20)
    assert facet(page, "arch") == {"arm64": None, "amd64": None}
    assert (filtered.total, filtered.total_is_lower_bound) == (3, True)
    assert {entry.platforms for entry in filtered.entries} == {" linux/amd64 "}
    # The planner may take a phrase or an excluded word for what they are not: counted.
    for text in ('"handy tool"', "tool -other", "tool -nothing"):
        with CaptureQueriesContext(connection) as log:
            assert run(q=text).total_is_lower_bound
        assert _counted(log.captured_queries) == 1
    # Private entries full of a word never make a public count "10,000+": counted, exactly.
    for i in range(40):
        catalog_entry(f"hidden/gadget{i}", description="gadget", private=True)
    for i in range(2):
        catalog_entry(f"acme/gadget{i}", description="gadget")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gallery_catalogentry")
    with CaptureQueriesContext(connection) as log:
        page = run(q="gadget")
    assert _counted(log.captured_queries) == 1
    assert (page.total, page.total_is_lower_bound) == (2, False)
    # Statistics of a catalog since emptied promise more than it holds: it is counted.
    CatalogEntry.objects.filter(name__startswith="acme/tool").exclude(name="acme/tool1").delete()
    with CaptureQueriesContext(connection) as log:
        page = run(q="tool")
    assert _counted(log.captured_queries) == 1
    assert (page.total, page.total_is_lower_bound, facet(page, "arch")) == (1, False, {"arm64": 1})


def test_a_whole_word_is_not_read_as_the_beginning_of_its_stem(db):
    catalog_entry("acme/login-page")
    catalog_entry("acme/logging-agent")
    assert names(run(q="logging")) == ["acme/logging-agent"]
    assert set(names(run(q="log"))) == {"acme/login-page", "acme/logging-agent"}


@pytest.mark.parametrize(
    "params",
    [{"sort": "name"}, {"sort": "updated"}, {"q": "proxy"}, {"q": "proxy", "sort": "downloads"}],
)
def test_a_page_carries_the_rows_its_query_read_as_lists_read_them(catalog, params):
    """A page computed now is read with its search (no second query); its rows are the
    ones listing.rows() reads, field for field, whatever the database gives."""
    from gallery import listing

    CatalogEntry.objects.filter(name="bob/web-chart").update(pushed_at=None)
    page = run(**params)
    assert page.entries
    again = listing.rows(CatalogEntry.objects.filter(pk__in=[e.pk for e in page.entries]))
    assert sorted(page.entries) == sorted(again)
    assert any(entry.is_verified is True for entry in page.entries)
    assert all(type(entry.is_signed) is bool for entry in page.entries)
