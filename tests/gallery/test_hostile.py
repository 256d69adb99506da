"""Inputs that once made the portal fail: each gets a clear answer now."""

import base64
import json

import pytest
from django.test import Client

from gallery import services
from registry.models import Repository
from tests.factories import catalog_entry

pytestmark = pytest.mark.django_db


def cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_a_refused_host_header_gets_a_400_page(db):
    for path in ("/", "/search", "/v2/"):
        assert Client().get(path, headers={"Host": "evil.example"}).status_code == 400


def test_more_parameters_than_django_reads_get_a_400_page(db):
    """The 400 page read the search box's `q` from the parameters that were refused."""
    response = Client().get("/search", {"q": "nginx", "arch": ["amd64"] * 1000})
    assert response.status_code == 400
    assert b"did not make sense" in response.content


@pytest.mark.parametrize(
    "query",
    [
        "?sort=downloads&after=" + base64.urlsafe_b64encode(b'[Infinity,"a"]').decode(),
        "?sort=downloads&after=" + base64.urlsafe_b64encode(b'[NaN,"a"]').decode(),
        "?sort=downloads&after=" + cursor([10**30, "a"]),
        "?sort=updated&after=" + cursor(["9999-12-31T23:59:59-01:00", "a"]),
        "?sort=updated&after=" + cursor(["0001-01-01T00:00:00+01:00", "a"]),
        "?sort=updated&after=" + cursor(["2024-01-01T00:00:00", "a"]),
        "?sort=downloads&after=" + cursor([1, 2]),
        "?sort=downloads&after=" + cursor([True, "a"]),
        "?sort=name&after=" + cursor(["\ud800"]),
        "?sort=downloads&before=" + cursor([1, "a\udfff"]),
        "?q=app&after=" + cursor([2, 0, "\ud800"]),
    ],
)
def test_forged_cursors_start_from_the_first_page(query):
    catalog_entry("acme/app")
    response = Client().get("/search" + query)
    assert response.status_code == 200
    assert b"acme/app" in response.content


def test_a_readme_too_deep_to_render_is_a_form_error(alice, as_alice):
    as_alice.push_image("alice/app", "1.0")
    services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/r/alice/app/-/settings", {"description": "", "about": "", "usage": "- " * 5000 + "x"}
    )
    assert response.status_code == 200
    assert b"cannot be rendered" in response.content


def test_a_very_long_valid_tag_is_indexed(as_alice):
    tag = "1.0.0-" + "a" * 120
    as_alice.push_image("alice/app", tag)
    entry = services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    assert entry.tags.get().name == tag
    assert Client().get("/r/alice/app/-/tags").status_code == 200


@pytest.mark.parametrize("namespace", ["Not-Valid", "a" * 300, "-x", "Not_.Valid"])
def test_publisher_pages_of_impossible_namespaces_are_404(db, namespace):
    assert Client().get(f"/u/{namespace}", follow=True).status_code == 404


def test_a_repository_the_indexer_cannot_read_is_a_404_not_a_500(as_alice, monkeypatch):
    as_alice.push_image("alice/app", "1.0")

    def broken(**kwargs):
        raise ValueError("unreadable")

    monkeypatch.setattr(services, "index_repository", broken)
    assert Client().get("/r/alice/app").status_code == 404


def test_a_long_garbage_cursor_is_harmless_to_the_cache(db):
    catalog_entry("acme/app")
    response = Client().get("/search?after=" + "A" * 490)
    assert response.status_code == 200
    assert b"acme/app" in response.content


def test_cached_search_pages_never_show_a_repository_made_private_since(db):
    entry = catalog_entry("acme/app")
    assert b"acme/app" in Client().get("/search?q=app").content
    type(entry).objects.filter(pk=entry.pk).update(is_private=True)  # no cache invalidation
    assert b"acme/app" not in Client().get("/search?q=app").content


@pytest.mark.parametrize(
    "q",
    [
        "-" * 50,
        "x" + "-y" * 50,
        "-x" * 50,
        '"' * 50,
        "!" * 50 + "x",
        "(" * 30 + "x" + ")" * 30,
        "or " * 60,
        "x:*" * 20,
        "a & b | !c <-> d:A",
        'NEAR(a b) "a" NOT b OR c AND * ^x {name}:y',
    ],
)
def test_queries_full_of_either_engines_operators_answer_the_search_page(db, q):
    catalog_entry("acme/app", description="a b c d x y")
    assert Client().get("/search", {"q": q}).status_code == 200


def test_a_thousand_facet_values_answer_the_search_page(db):
    catalog_entry("acme/app")
    for key in ("arch", "os"):
        values = "&".join(f"{key}=v{i}" for i in range(1000))
        assert Client().get("/search?" + values).status_code == 200
    values = "&".join(f"arch=a{i}&os=o{i}" for i in range(499))
    assert Client().get("/search?q=app&" + values).status_code == 200


# JSON escapes no database or UTF-8 page can hold: NUL and half a UTF-16 pair.
UNSTORABLE_CONFIG = json.dumps(
    {
        "architecture": "amd64\u0000",
        "os": "lin\ud800",
        "config": {"Labels": {"org.opencontainers.image.description": "a\ud800b", "x\u0000": "1"}},
        "history": [{"created_by": "RUN \udfff"}],
    }
).encode()


def test_an_image_with_nul_and_lone_surrogates_is_indexed_and_shown(alice, as_alice):
    """Its config's and annotations' text keeps U+FFFD where those were: indexing failed on
    PostgreSQL (the catalog never showed the push) and its pages could not be encoded."""
    digest, _ = as_alice.push_image(
        "alice/app",
        "1.0",
        config=UNSTORABLE_CONFIG,
        annotations={"org.opencontainers.image.source": "https://x.example/\ud800"},
    )
    services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    from gallery.models import CatalogEntry

    entry = CatalogEntry.objects.get(name="alice/app")
    assert entry.description == "a\ufffdb"
    for path in (
        "/r/alice/app",
        "/r/alice/app/-/tags",
        "/r/alice/app/-/tags/1.0",
        f"/r/alice/app/-/images/{digest}",
        "/api/v1/repositories/alice/app",
        "/api/v1/repositories/alice/app/-/tags",
        f"/api/v1/repositories/alice/app/-/images/{digest}",
        "/search?q=app",
    ):
        assert Client().get(path).status_code == 200, path


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/repositories", "/new"])
def test_a_form_larger_than_any_the_portal_takes_is_refused_before_it_is_read(path, tmp_path):
    """Django writes a multipart body's files to disk before the CSRF check refuses it:
    anyone could have the server write gigabytes. The largest form is a 2 MiB logo."""
    body = b"x" * (8 * 1024 * 1024)
    response = Client().generic(
        "POST", path, body, content_type="multipart/form-data; boundary=zzz"
    )
    assert response.status_code == 413
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] == "too_large"
    else:
        assert b"too large" in response.content


def test_a_logo_form_of_its_size_still_reaches_its_page(alice, as_alice):
    as_alice.push_image("alice/app", "1.0")
    services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)
    client = Client()
    client.force_login(alice)
    body = (
        b'--zzz\r\nContent-Disposition: form-data; name="logo"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + b"x" * (2 * 1024 * 1024) + b"\r\n--zzz--\r\n"
    )
    response = client.generic(
        "POST", "/r/alice/app/-/logo", body, content_type="multipart/form-data; boundary=zzz"
    )
    assert response.status_code != 413
