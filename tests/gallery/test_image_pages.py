"""A page for each image: configuration, layers and history, labels, attachments, pulls."""

import json

import pytest
from django.test import Client

from gallery import services
from registry.models import Repository
from tests.gallery.test_attachments import push_cosign_signature, push_sbom
from tests.oci import push_index

pytestmark = pytest.mark.django_db
CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Entrypoint": ["/usr/bin/web"],
        "Cmd": ["--port", "8080"],
        "Env": ["PATH=/usr/bin", "API_TOKEN=hunter2"],
        "ExposedPorts": {"8080/tcp": {}},
        "WorkingDir": "/srv",
        "User": "web",
        "Labels": {
            "org.opencontainers.image.source": "https://git.example/web",
            "maintainer": "Alice",
        },
    },
    "history": [
        {"created_by": "ADD rootfs.tar /"},
        {"created_by": "ENV PATH=/usr/bin", "empty_layer": True},
    ],
}


@pytest.fixture
def web(as_alice):
    digest, _ = as_alice.push_image(
        "alice/web", "1.0", layer=b"rootfs", config=json.dumps(CONFIG).encode()
    )
    push_cosign_signature(as_alice, "alice/web", digest)
    push_sbom(as_alice, "alice/web", digest, b'{"spdxVersion": "SPDX-2.3"}')
    services.index_repository(repository_id=Repository.objects.get(name="alice/web").pk)
    return digest


def test_the_tag_page_shows_configuration_layers_and_labels(web):
    html = Client().get("/r/alice/web/-/tags/1.0").content.decode()
    assert "/usr/bin/web" in html
    assert "--port 8080" in html
    assert "8080/tcp" in html
    assert "/srv" in html
    assert "ADD rootfs.tar /" in html
    assert "maintainer" in html
    assert "Alice" in html
    assert "docker pull testserver/alice/web:1.0" in html


@pytest.mark.parametrize(
    ("created", "shown"),
    [
        ("2026-11-30T12:20:07.562326081Z", ">30 Nov 2026, 12:20 UTC</time>"),
        ("2026-11-30T13:20:07+01:00", ">30 Nov 2026, 12:20 UTC</time>"),
        ("last tuesday", "<dd>last tuesday</dd>"),
    ],
)
def test_the_creation_time_is_shown_as_a_date(as_alice, created, shown):
    config = {"architecture": "amd64", "os": "linux", "config": {"User": "web"}, "created": created}
    as_alice.push_image("alice/dated", "1.0", config=json.dumps(config).encode())
    services.index_repository(repository_id=Repository.objects.get(name="alice/dated").pk)
    html = Client().get("/r/alice/dated/-/tags/1.0").content.decode()
    assert shown in html


def test_environment_values_are_never_shown(web):
    html = Client().get(f"/r/alice/web/-/images/{web}").content.decode()
    assert "API_TOKEN" in html
    assert "hunter2" not in html


def test_the_image_page_lists_its_signature_and_sbom(web):
    html = Client().get(f"/r/alice/web/-/images/{web}").content.decode()
    assert "Signed" in html
    assert "SBOM" in html
    assert "application/spdx+json" in html


def test_the_tags_tab_shows_one_image_with_two_chips(web):
    html = Client().get("/r/alice/web/-/tags").content.decode()
    assert html.count('<td class="tag-cell"') == 1
    assert 'class="chip chip-signature"' in html
    assert 'class="chip chip-sbom"' in html
    assert 'pill">/<' not in html
    assert 'class="pill">/</span>' not in html


def test_an_index_page_pages_its_platforms(as_alice):
    push_index(as_alice, "alice/multi", "1.0", ["amd64", "arm64", "s390x"])
    entry = services.index_repository(repository_id=Repository.objects.get(name="alice/multi").pk)
    digest = entry.tags.get(name="1.0").image.digest
    html = Client().get(f"/r/alice/multi/-/images/{digest}").content.decode()
    assert "linux/amd64" in html
    assert "linux/s390x" in html


def test_unknown_tags_and_digests_are_404(web):
    assert Client().get("/r/alice/web/-/tags/nope").status_code == 404
    assert Client().get("/r/alice/web/-/images/sha256:" + "0" * 64).status_code == 404


def test_the_header_links_to_the_source(web):
    html = Client().get("/r/alice/web").content.decode()
    assert 'href="https://git.example/web"' in html


def test_a_javascript_label_is_never_a_link(as_alice):
    config = dict(
        CONFIG, config={"Labels": {"org.opencontainers.image.source": "javascript:alert(1)"}}
    )
    as_alice.push_image("alice/evil", "1.0", config=json.dumps(config).encode())
    services.index_repository(repository_id=Repository.objects.get(name="alice/evil").pk)
    html = Client().get("/r/alice/evil").content.decode()
    assert 'href="javascript:' not in html


def test_pages_carry_social_cards_and_a_canonical_link(web):
    html = Client().get("/r/alice/web/-/tags?page=1").content.decode()
    assert '<link rel="canonical" href="http://testserver/r/alice/web/-/tags">' in html
    assert 'property="og:title" content="alice/web"' in html
    assert "<title>Tags · alice/web · Berth</title>" in html
    card = Client().get("/r/alice/web/-/card.png")
    assert card.status_code == 200
    assert card["Content-Type"] == "image/png"


def test_search_permutations_are_not_indexed(web):
    assert b'name="robots" content="noindex' in Client().get("/search?arch=amd64").content
    assert b'name="robots"' not in Client().get("/search").content


@pytest.mark.parametrize(
    "query", ["sort=name", "name=1.", "page=2", "page=1", "sort=pushed&name=1&page=1"]
)
def test_tag_sorts_filters_and_pages_are_not_indexed_but_keep_the_canonical_link(web, query):
    html = Client().get(f"/r/alice/web/-/tags?{query}").content.decode()
    assert '<meta name="robots" content="noindex' in html
    assert '<link rel="canonical" href="http://testserver/r/alice/web/-/tags">' in html


def test_the_tags_tab_itself_is_indexed(web):
    assert b'name="robots"' not in Client().get("/r/alice/web/-/tags").content
    assert b'name="robots"' not in Client().get("/r/alice/web").content


def test_publisher_pages_carry_a_generated_card_image(web):
    html = Client().get("/u/alice").content.decode()
    assert '<meta property="og:image" content="http://testserver/u/alice/-/card.png">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert '<link rel="canonical" href="http://testserver/u/alice">' in html
    card = Client().get("/u/alice/-/card.png")
    assert card.status_code == 200
    assert card["Content-Type"] == "image/png"
    assert card.content.startswith(b"\x89PNG")


def test_a_publisher_card_is_404_where_the_page_is(web):
    assert Client().get("/u/nobody/-/card.png").status_code == 404
    assert Client().get("/u/nobody").status_code == 404


def test_robots_sitemap_and_icons(web):
    robots = Client().get("/robots.txt").content.decode()
    assert "Sitemap: http://testserver/sitemap.xml" in robots
    index = Client().get("/sitemap.xml").content.decode()
    assert "sitemap-repositories.xml" in index
    urls = Client().get("/sitemap-repositories.xml").content.decode()
    assert "http://testserver/r/alice/web" in urls
    assert Client().get("/favicon.ico")["Content-Type"] == "image/x-icon"


def test_the_sitemap_leaves_out_private_repositories(web):
    Repository.objects.filter(name="alice/web").update(is_private=True)
    services.sync_privacy(repository_id=Repository.objects.get(name="alice/web").pk)
    assert b"alice/web" not in Client().get("/sitemap-repositories.xml").content
