"""GET /api/v1/repositories: search, filters, facets, sorts, cursor pages and privacy."""

import base64
import json
import random

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from gallery import listing, services
from gallery.api import serializers
from gallery.models import CatalogEntry, Publisher
from registry.models import Repository
from tests.factories import UserFactory, catalog_entry
from tests.gallery.test_search_pages import catalog

from .conftest import as_user

pytestmark = pytest.mark.django_db
LIST = "/api/v1/repositories"


def names(body) -> list[str]:
    return [row["name"] for row in body["results"]]


def facet(body, key) -> dict[str, int]:
    return {option["value"]: option["count"] for option in body["facets"][key]}


@pytest.fixture
def shelf(db):
    """A small catalog with one of every facet value, and a private repository."""
    owner = UserFactory(username="acme")
    catalog_entry("acme/nginx", description="web server", downloads=90, owner=owner)
    catalog_entry(
        "acme/redis-exporter",
        description="metrics for redis",
        platforms=[("linux", "amd64"), ("linux", "arm64")],
        downloads=50,
        verified=True,
        owner=owner,
    )
    catalog_entry("acme/chart", artifact_type="helm", platforms=[], downloads=10, owner=owner)
    catalog_entry("bob/tool", platforms=[("windows", "amd64")], downloads=5)
    CatalogEntry.objects.filter(name="acme/nginx").update(is_signed=True)
    catalog_entry("acme/hidden", description="web secret", private=True, owner=owner)


def test_the_list_without_a_query_is_sorted_by_name(api, shelf):
    body = api.get(LIST).json()
    assert names(body) == ["acme/chart", "acme/nginx", "acme/redis-exporter", "bob/tool"]
    assert (body["count"], body["count_exact"]) == (4, True)
    assert body["next"] is None
    assert body["previous"] is None
    row = body["results"][1]
    assert row["url"] == "http://testserver/api/v1/repositories/acme/nginx"
    assert row["html_url"] == "http://testserver/r/acme/nginx"
    assert row["signed"] is True
    assert row["type"] == "image"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=web", ["acme/nginx"]),
        ("q=exporter", ["acme/redis-exporter"]),
        ("q=ngin", ["acme/nginx"]),
        ("q=acme/nginx", ["acme/nginx"]),
        ("q=web -server", []),
        ("type=helm", ["acme/chart"]),
        ("type=helm&type=image", ["acme/chart", "acme/nginx", "acme/redis-exporter", "bob/tool"]),
        ("arch=arm64", ["acme/redis-exporter"]),
        ("os=windows", ["bob/tool"]),
        ("verified=true", ["acme/redis-exporter"]),
        ("signed=true", ["acme/nginx"]),
        ("namespace=bob", ["bob/tool"]),
        ("sort=downloads", ["acme/nginx", "acme/redis-exporter", "acme/chart", "bob/tool"]),
    ],
)  # fmt: skip
def test_filters_and_sorts(api, shelf, query, expected):
    body = api.get(f"{LIST}?{query}").json()
    assert names(body) == expected
    assert body["count"] == len(expected)


def test_facets_count_as_on_the_search_page(api, shelf):
    body = api.get(f"{LIST}?arch=amd64").json()
    assert facet(body, "type") == {"image": 3}
    assert facet(body, "arch") == {"amd64": 3, "arm64": 1}  # a facet ignores its own filter
    assert facet(body, "os") == {"linux": 2, "windows": 1}
    assert facet(body, "verified") == {"1": 1}
    assert facet(body, "signed") == {"1": 1}


def test_a_typo_says_did_you_mean(api, shelf):
    body = api.get(f"{LIST}?q=ngnix").json()
    assert body["did_you_mean"] == "nginx"
    assert names(body) == ["acme/nginx"]


def test_cursor_pages_forward_and_back(api, shelf):
    first = api.get(f"{LIST}?limit=3").json()
    assert names(first) == ["acme/chart", "acme/nginx", "acme/redis-exporter"]
    second = api.get(first["next"]).json()
    assert names(second) == ["bob/tool"]
    assert second["next"] is None
    assert "limit=3" in first["next"]
    back = api.get(second["previous"]).json()
    assert names(back) == names(first)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=ten", "sort=random", "type=tarball", "verified=maybe",
     "q=" + "x" * 201],
)  # fmt: skip
def test_bad_parameters_are_a_json_400(api, shelf, query):
    response = api.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "invalid"


def test_a_forged_cursor_starts_over(api, shelf):
    assert names(api.get(f"{LIST}?cursor=zz.garbage").json()) == names(api.get(LIST).json())
    # A lone surrogate, which JSON can spell but UTF-8 cannot encode for the database.
    forged = base64.urlsafe_b64encode(json.dumps(["\ud800"]).encode()).decode()
    response = api.get(f"{LIST}?cursor=n.{forged}")
    assert response.status_code == 200
    assert names(response.json()) == names(api.get(LIST).json())


@pytest.mark.parametrize("name", ["\\ud800", "a\\udfffb", "\\u0000"])
def test_a_cursor_holding_text_no_database_takes_starts_over(api, shelf, name):
    """A lone surrogate decoded from the cursor's JSON reached the database: a 500."""
    cursor = base64.urlsafe_b64encode(f'["{name}"]'.encode()).decode().rstrip("=")
    response = api.get(f"{LIST}?sort=name&cursor=n.{cursor}")
    assert response.status_code == 200, response.content
    assert names(response.json()) == names(api.get(f"{LIST}?sort=name").json())


def test_private_repositories_are_absent_from_every_list_count_and_facet(api, shelf):
    """Byte for byte: the list with a private repository is the list without it, for the
    anonymous and for another user; its owner sees it."""
    queries = ["", "q=web", "q=secret", "namespace=acme", "sort=downloads", "arch=amd64"]
    for client in (api, as_user("bob")):
        with_private = [client.get(f"{LIST}?{q}").content for q in queries]
        Repository.objects.filter(name="acme/hidden").delete()
        without = [client.get(f"{LIST}?{q}").content for q in queries]
        assert with_private == without
        acme = Repository.objects.get(name="acme/nginx").owner
        catalog_entry("acme/hidden", description="web secret", private=True, owner=acme)
    owner = as_user("acme")
    assert "acme/hidden" in names(owner.get(f"{LIST}?q=secret").json())
    assert owner.get(f"{LIST}?namespace=acme").json()["count"] == 4


def test_a_walk_of_100_a_page_returns_each_repository_once_while_the_catalog_changes(
    api, monkeypatch
):
    """10,200 repositories followed by `next` links, while pushes, deletes and visibility
    changes happen between pages."""
    from gallery.api.authentication import AnonymousRate

    monkeypatch.setattr(AnonymousRate, "THROTTLE_RATES", {"anon": "10000/minute"})
    entries = catalog(10_200)
    stable = {entry.name for entry in entries}
    rng = random.Random(11)

    def change():
        for entry in rng.sample(entries, 5):
            if entry.name not in stable:
                continue
            stable.discard(entry.name)
            action = rng.choice(["push", "delete", "hide", "hide and show"])
            if action == "push":
                CatalogEntry.objects.filter(pk=entry.pk).update(
                    pushed_at=timezone.now(), downloads=1000, tag_count=3
                )
            elif action == "delete":
                Repository.objects.filter(pk=entry.pk).delete()
            else:
                services.set_visibility(repository=entry.repository, private=True)
                if action == "hide and show":
                    services.set_visibility(repository=entry.repository, private=False)

    for sort in ("name", "downloads", "updated"):
        seen, url = [], f"{LIST}?limit=100&sort={sort}"
        for _ in range(200):
            response = api.get(url)
            assert response.status_code == 200, response.content
            body = response.json()
            seen += names(body)
            url = body["next"]
            if not url:
                break
            change()
        assert len(seen) == len(set(seen)), sort
        assert stable <= set(seen), sort


def test_the_list_rows_are_exactly_what_the_repository_serializer_says(api, shelf):
    Publisher.objects.filter(namespace_record__name="acme").update(
        display_name="Acme Corp", is_verified=True
    )
    CatalogEntry.objects.filter(name="acme/chart").update(pushed_at=None, publisher=None)
    CatalogEntry.objects.filter(name="bob/tool").update(
        logo="logos/bob tool.png", description="Ünïcode ✓ " * 40, total_size=12345
    )
    request = APIRequestFactory().get(LIST)
    entries = CatalogEntry.objects.order_by("name")
    expected = serializers.RepositorySerializer(
        entries.select_related("publisher__namespace_record"),
        many=True,
        context={"request": request},
    ).data
    built = serializers.repository_list(listing.rows(entries), request)
    assert JSONRenderer().render(built) == JSONRenderer().render(expected)
    assert any(row["publisher"] is None for row in built)
    assert any(row["logo_url"] for row in built)
    assert any(row["last_pushed"] is None for row in built)
