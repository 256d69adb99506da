import pytest
from django.core import mail
from django.test import Client

from gallery import services
from gallery.models import CatalogEntry
from gallery.templatetags.berth import breakable
from registry.models import Repository
from tests.factories import PASSWORD, UserFactory, catalog_entry
from tests.oci import push_index

pytestmark = pytest.mark.django_db


@pytest.fixture
def webapp(as_alice):
    push_index(as_alice, "alice/webapp", "1.0", ["amd64", "arm64"])
    entry = services.index_repository(repository_id=Repository.objects.get(name="alice/webapp").pk)
    return services.update_catalog(
        entry=entry, description="A web app", about="# Web app\n\nHello.", usage="Run `webapp`."
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/search",
        "/search?q=web&arch=arm64&sort=updated",
        "/r/alice/webapp",
        "/r/alice/webapp/-/usage",
        "/r/alice/webapp/-/tags",
        "/u/alice",
        "/accounts/login/",
        "/accounts/signup",
        "/accounts/password_reset/",
    ],
)
def test_pages_render(webapp, path):
    response = Client().get(path)
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_repository_page_shows_readme_platforms_and_pull_commands(webapp):
    html = Client().get("/r/alice/webapp").content.decode()
    assert '<h1 id="user-content-web-app">Web app' in html
    assert "linux/arm64" in html
    assert "docker pull testserver/alice/webapp:1.0" in html


def test_pull_commands_wrap_at_slashes_and_colons_not_inside_a_tag(webapp):
    html = Client().get("/r/alice/webapp").content.decode()
    assert "<code>docker pull testserver/<wbr>alice/<wbr>webapp:<wbr>1.0</code>" in html
    assert breakable("<b>a/b</b>") == "&lt;b&gt;a/<wbr>b&lt;/<wbr>b&gt;"


def test_tags_tab_groups_platforms_and_filters_by_name(webapp):
    html = Client().get("/r/alice/webapp/-/tags").content.decode()
    assert html.count('<td class="tag-cell"') == 3
    filtered = Client().get("/r/alice/webapp/-/tags?name=arm").content.decode()
    assert filtered.count('<td class="tag-cell"') == 1


def test_a_tag_filter_that_matches_nothing_says_so_once(webapp):
    html = Client().get("/r/alice/webapp/-/tags?name=zzz").content.decode()
    assert "No tag matches “zzz”." in html
    assert "shown together" not in html
    assert "shown together" in Client().get("/r/alice/webapp/-/tags").content.decode()


def test_tags_tab_pages_through_many_tags(as_alice):
    as_alice.push_image("alice/many", "t0")
    for i in range(1, 30):
        as_alice.push_image("alice/many", f"1.{i}.0", layer=str(i).encode())
    services.index_repository(repository_id=Repository.objects.get(name="alice/many").pk)
    first = Client().get("/r/alice/many/-/tags").content.decode()
    assert "1.29.0" in first
    assert "Page 1 of 2" in first
    assert "t0" in Client().get("/r/alice/many/-/tags?page=2").content.decode()


def test_private_repository_is_a_404_for_others_and_visible_to_its_owner(webapp, alice, bob):
    services.set_visibility(repository=webapp.repository, private=True)
    assert Client().get("/r/alice/webapp").status_code == 404
    assert signed_in(bob).get("/r/alice/webapp").status_code == 404
    assert signed_in(alice).get("/r/alice/webapp").status_code == 200
    assert b"alice/webapp" not in Client().get("/search?q=webapp").content
    assert b"alice/webapp" not in Client().get("/u/alice").content


def test_owner_edits_the_catalog_page(webapp, alice):
    response = signed_in(alice).post(
        "/r/alice/webapp/-/settings",
        {
            "description": "New words",
            "about": "## About\n\n<script>x</script>",
            "usage": "",
        },
    )
    assert response.status_code == 302
    entry = CatalogEntry.objects.get(name="alice/webapp")
    assert entry.description == "New words"
    assert "<script" not in services.text_of(entry).about_html


def test_settings_page_shows_the_current_texts_and_visibility(webapp, alice):
    services.set_visibility(repository=webapp.repository, private=True)
    html = signed_in(alice).get("/r/alice/webapp/-/settings").content.decode()
    assert ">\nA web app</textarea>" in html
    assert ">\n# Web app\n\nHello.</textarea>" in html
    assert 'id="id_is_private" checked>' in html


def test_settings_tab_takes_the_whole_width_without_the_pull_box(webapp, alice):
    """The editors need the width; on a phone the Pull box came before the form."""
    html = signed_in(alice).get("/r/alice/webapp/-/settings").content.decode()
    assert "repo-body-wide" in html
    assert 'id="pull-title"' not in html
    assert 'id="pull-title"' in signed_in(alice).get("/r/alice/webapp/-/usage").content.decode()


def test_settings_form_errors_are_shown_not_raised(webapp, alice):
    response = signed_in(alice).post("/r/alice/webapp/-/settings", {"description": "x" * 2000})
    assert response.status_code == 200
    assert b"at most 1024 characters" in response.content


def test_others_cannot_reach_the_settings_page(webapp, bob):
    assert signed_in(bob).get("/r/alice/webapp/-/settings").status_code == 404
    assert Client().get("/r/alice/webapp/-/settings").status_code == 302  # to sign in


def test_sign_up_creates_a_user_who_owns_their_namespace(db):
    response = Client().post(
        "/accounts/signup",
        {
            "username": "carol",
            "email": "carol@example.test",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    carol = UserFactory._meta.model.objects.get(username="carol")
    assert carol.namespaces.get().name == "carol"


def test_sign_up_says_what_is_wrong_with_a_password_under_it_not_under_its_confirmation(db):
    html = (
        Client()
        .post(
            "/accounts/signup",
            {
                "username": "carol",
                "email": "c@example.test",
                "password1": "short",
                "password2": "short",
            },
        )
        .content.decode()
    )
    error = html.index("This password is too short.")
    assert html.index('for="id_password1"') < error < html.index('for="id_password2"')


@pytest.mark.parametrize("username", ["Carol", "c", "admin", "c--", "-carol", "caro_l_"])
def test_sign_up_refuses_names_that_are_not_namespaces(db, username):
    response = Client().post(
        "/accounts/signup",
        {
            "username": username,
            "email": "x@example.test",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert response.status_code == 200
    assert b"errorlist" in response.content


def test_sign_up_refuses_a_taken_name_in_any_case(alice):
    response = Client().post(
        "/accounts/signup",
        {
            "username": "alice",
            "email": "x@example.test",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert b"taken" in response.content


def test_sign_in_and_password_reset_mail(alice):
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    Client().post("/accounts/password_reset/", {"email": alice.email})
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_unknown_pages_get_the_designed_404(db):
    response = Client().get("/r/nobody/nothing")
    assert response.status_code == 404
    assert b"This page does not exist" in response.content


def test_a_404_speaks_of_a_repository_only_at_a_repositorys_address(db):
    assert b"The repository may be private" in Client().get("/r/nobody/nothing").content
    for path in ("/u/nobody", "/accounts/nothing"):
        assert b"repository" not in Client().get(path).content.split(b"<main")[1], path


def test_home_counts_only_public_repositories(db):
    catalog_entry("acme/public")
    catalog_entry("acme/hidden", private=True, owner=UserFactory(username="acme"))
    html = Client().get("/").content.decode()
    assert "1 public repository" in html
    assert "acme/hidden" not in html


@pytest.mark.parametrize(
    "query",
    [
        "?after=%%%",
        "?sort=nonsense",
        "?arch=" + "x" * 500,
        "?q=" + "a" * 1000,
        "?type=bogus",
    ],
)
def test_bad_search_parameters_never_fail(db, query):
    assert Client().get("/search" + query).status_code == 200


def test_repository_not_yet_indexed_is_indexed_on_first_visit(as_alice):
    as_alice.push_image("alice/fresh", "1.0")
    assert Client().get("/r/alice/fresh").status_code == 200


def test_a_form_posted_without_its_csrf_token_gets_a_clear_403(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert b"This form has expired" in response.content


def test_verifying_a_publisher_in_the_admin_badges_their_repositories(webapp, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw-12345678")
    client = Client()
    client.force_login(admin)
    publisher = webapp.publisher
    response = client.post(
        "/admin/gallery/publisher/",
        {
            "action": "verify",
            "_selected_action": [publisher.pk],
        },
    )
    assert response.status_code == 302
    assert CatalogEntry.objects.get(pk=webapp.pk).is_verified


def test_an_index_with_thousands_of_children_renders_a_small_tags_page(as_alice):
    import json

    from registry import mediatypes
    from tests.oci import push_platform_image

    digest, body = push_platform_image(as_alice, "alice/huge", "child", "amd64")
    children = [
        {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": digest,
            "size": len(body),
            "platform": {"architecture": f"arch{i}", "os": "linux"},
        }
        for i in range(2000)
    ]
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": children}
    as_alice.push_manifest("alice/huge", "v1", json.dumps(index).encode(), mediatypes.OCI_INDEX)
    services.index_repository(repository_id=Repository.objects.get(name="alice/huge").pk)
    response = Client().get("/r/alice/huge/-/tags")
    html = response.content.decode()
    assert response.status_code == 200
    assert len(response.content) < 200_000
    assert "and 1992 more platforms in this index" in html
    # The scan summaries a Tags tab reads sum a bounded number of platforms.
    from registry.scanning import services as scanning

    summaries = scanning.tag_summaries(repository=Repository.objects.get(name="alice/huge"))
    assert len(summaries["v1"]) == scanning.TAG_PLATFORMS_SUMMED


def test_signing_out_by_get_offers_the_button(alice):
    response = signed_in(alice).get("/accounts/logout/")
    assert response.status_code == 200
    assert b"Sign out of Berth?" in response.content


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/r/alice/webapp/", "/r/alice/webapp"),
        ("/r/alice/webapp/-/tags/?page=2", "/r/alice/webapp/-/tags?page=2"),
        ("/r/alice", "/u/alice"),
        ("/u/ALICE", "/u/alice"),
        ("/u/alice/", "/u/alice"),
        ("/search/?q=web", "/search?q=web"),
        ("/new/", "/new"),
    ],
)
def test_urls_people_type_redirect_to_the_page(webapp, path, target):
    response = Client().get(path)
    assert response.status_code in (301, 302)
    assert response["Location"] == target


@pytest.mark.parametrize("path", ["//evil.example//", "///evil.example//", "/new//"])
def test_a_path_with_doubled_slashes_is_not_redirected_off_the_site(db, path):
    # A browser sends https://berth.example//evil.example// as is; "//evil.example/" in a
    # Location header is another site.
    response = Client().get("/", PATH_INFO=path)
    assert response.status_code == 404


def test_search_page_says_did_you_mean_with_a_link(db):
    catalog_entry("library/nginx")
    html = Client().get("/search?q=ngnix").content.decode()
    assert 'Did you mean <a href="?q=nginx">nginx</a>?' in html
    assert "library/nginx" in html


def test_search_page_says_when_a_total_is_a_lower_bound(db, settings):
    settings.BERTH_SEARCH_EXACT_UP_TO = 2
    for i in range(4):
        catalog_entry(f"acme/tool{i}", description="tool")
    html = Client().get("/search?q=tool").content.decode()
    assert "3+ results" not in html
    assert "2+ results" in html


def test_filters_that_match_nothing_never_call_the_catalog_empty(db):
    catalog_entry("acme/tool")
    html = Client().get("/search?type=helm").content.decode()
    assert "No repository matches with these filters." in html
    assert "empty so far" not in html
    assert "empty so far" not in Client().get("/search?namespace=nobody").content.decode()


def test_browsing_an_empty_catalog_says_it_is_empty(db):
    assert "(empty so far)" in Client().get("/search").content.decode()


def test_search_page_keeps_the_namespace_filter(db):
    catalog_entry("acme/tool")
    catalog_entry("bob/tool")
    html = Client().get("/search?q=tool&namespace=acme").content.decode()
    assert '<input type="hidden" name="namespace" value="acme">' in html
    assert "acme/tool" in html
    assert "bob/tool" not in html


def test_search_page_offers_every_sort(db):
    html = Client().get("/search").content.decode()
    for value in ("relevance", "downloads", "updated", "name"):
        assert f'<option value="{value}"' in html


def test_browsing_without_words_says_it_is_sorted_by_downloads(db):
    """With no words to match, "Best match" is the most downloaded first: the sort says so."""
    assert '<option value="downloads" selected>' in Client().get("/search").content.decode()
    assert '<option value="downloads" selected>' in Client().get("/search?arch=x").content.decode()
    for path, selected in (("/search?q=tool", "relevance"), ("/search?sort=name", "name")):
        html = Client().get(path).content.decode()
        assert f'<option value="{selected}" selected>' in html
        assert html.count(" selected>") == 1


def test_a_card_shows_what_the_catalog_says_of_a_repository(db):
    owner = UserFactory(username="acme")
    catalog_entry(
        "acme/tool",
        description="é" * 200,
        platforms=[("linux", a) for a in ("amd64", "arm64", "arm", "s390x", "ppc64le", "386")],
        downloads=15_200,
        owner=owner,
    )
    CatalogEntry.objects.filter(name="acme/tool").update(
        logo="logos/tool.png", is_signed=True, is_verified=True
    )
    catalog_entry("acme/bare", downloads=3, owner=owner, platforms=[])
    CatalogEntry.objects.filter(name="acme/bare").update(publisher=None, pushed_at=None)
    html = Client().get("/search?sort=downloads").content.decode()
    tool, bare = html.split('<article class="card">')[1:3]
    assert '<img class="logo" src="/media/logos/tool.png"' in tool
    assert '<a href="/r/acme/tool">acme/tool</a>' in tool
    assert '<a href="/u/acme">acme</a>' in tool
    assert "badge-verified" in tool
    assert "badge-signed" in tool
    assert "badge-private" not in tool
    assert f'<p class="card-description">{"é" * 159}…</p>' in tool
    assert '<span class="pill">386</span><span class="pill">amd64</span>' in tool
    assert '<span class="pill">+2</span>' in tool
    assert "↓ 15.2K" in tool
    assert "Updated <time datetime=" in tool
    assert "just now</time>" in tool
    assert '<span class="avatar" aria-hidden="true">B</span>' in bare
    assert "No description yet." in bare
    assert "Updated" not in bare
    assert '<p class="card-publisher">\n        acme\n' in bare


def test_an_empty_repository_claims_no_type(db):
    """Made in the browser and not pushed to yet, it holds nothing: no "Container image"."""
    catalog_entry("acme/empty", tags=0, platforms=())
    html = Client().get("/r/acme/empty").content.decode()
    assert "<dt>Type</dt>" not in html
    assert "Container image" not in html
    catalog_entry("acme/full")
    assert "<dt>Type</dt>" in Client().get("/r/acme/full").content.decode()
