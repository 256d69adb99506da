"""Publishing pages: new repositories, the preview, logos, deleting repositories and tags."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.html import strip_tags
from PIL import Image

from gallery import services
from gallery.models import CatalogEntry
from gallery.publishing import logos
from registry.access import organizations
from registry.models import Repository

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def image_bytes(fmt: str, size=(300, 200), **save) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (10, 120, 110)).save(output, format=fmt, **save)
    return output.getvalue()


@pytest.fixture
def app(as_alice):
    as_alice.push_image("alice/app", "v1")
    as_alice.push_image("alice/app", "v2", layer=b"second")
    return services.index_repository(repository_id=Repository.objects.get(name="alice/app").pk)


def test_a_new_repository_is_created_in_a_namespace_one_may_publish_to(alice):
    response = signed_in(alice).post(
        "/new",
        {"namespace": "alice", "name": "fresh", "visibility": "private", "description": "New"},
    )
    assert response.status_code == 302
    repository = Repository.objects.get(name="alice/fresh")
    assert repository.is_private
    assert CatalogEntry.objects.get(name="alice/fresh").description == "New"


def test_the_new_repository_form_offers_ones_own_namespace_first(alice):
    organizations.create_organization(name="acme", owner=alice)
    html = signed_in(alice).get("/new").content.decode()
    assert html.index('<option value="alice"') < html.index('<option value="acme"')
    chosen = signed_in(alice).get("/new?namespace=acme").content.decode()
    assert '<option value="acme" selected>' in chosen


@pytest.mark.parametrize("name", ["web-app", "web--app", "web__app", "web.v2", "tools/web"])
def test_the_name_help_shows_what_the_name_check_allows(alice, name):
    """It said ". _ - / between them": no word of __ or of runs of -, which the check allows."""
    html = signed_in(alice).get("/new").content.decode()
    help_text = strip_tags(html[html.index('id="id_name_helptext"') :].split("</p>", 1)[0])
    for separator in (" . ", " _ ", " __ ", "any run of -", "/ starts"):
        assert separator in help_text
    assert signed_in(alice).get(f"/-/check-name?name=alice/{name}").json()["ok"]


def test_the_new_repository_form_names_the_default_visibility(alice, settings):
    assert "The namespace&#x27;s default (public)" in signed_in(alice).get("/new").content.decode()
    organizations.create_organization(name="acme", owner=alice)
    signed_in(alice).post("/u/acme/-/settings", {"default_visibility": "private", "networks": ""})
    html = signed_in(alice).get("/new").content.decode()
    assert "The namespace&#x27;s default</option>" in html  # alice's public, acme's private
    settings.BERTH_NEW_REPOSITORIES_PRIVATE = True
    assert (
        "The site&#x27;s default (private)"
        in signed_in(alice).get("/u/acme/-/settings").content.decode()
    )


def test_names_are_checked_as_typed(alice, app):
    client = signed_in(alice)
    assert client.get("/-/check-name", {"name": "alice/brand-new"}).json()["ok"]
    assert "exists" in client.get("/-/check-name", {"name": "alice/app"}).json()["problem"]
    assert not client.get("/-/check-name", {"name": "alice/Bad_Name!"}).json()["ok"]
    assert not client.get("/-/check-name", {"name": "bob/app"}).json()["ok"]


def test_one_cannot_create_in_someone_elses_namespace(alice, bob):
    response = signed_in(alice).post("/new", {"namespace": "bob", "name": "x"})
    assert response.status_code == 200
    assert not Repository.objects.filter(name="bob/x").exists()


def test_the_preview_uses_the_sanitizing_renderer(alice):
    html = (
        signed_in(alice)
        .post("/-/preview", {"text": "# Hi\n<script>alert(1)</script><img src=x onerror=alert(2)>"})
        .json()["html"]
    )
    assert "<h1" in html
    assert "<script" not in html
    assert "onerror" not in html


def test_the_preview_needs_a_signed_in_user(db):
    assert Client().post("/-/preview", {"text": "x"}).status_code == 302


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_logos_are_re_encoded_to_a_square_png(fmt):
    upload = SimpleUploadedFile("logo", image_bytes(fmt))
    logo = logos.process(upload)
    with Image.open(io.BytesIO(logo.read())) as result:
        assert result.format == "PNG"
        assert result.size == (logos.SIZE, logos.SIZE)


def test_logo_metadata_is_stripped():
    exif = Image.Exif()
    exif[0x010E] = "secret location"
    upload = SimpleUploadedFile("logo.jpg", image_bytes("JPEG", exif=exif.tobytes()))
    assert b"secret location" not in logos.process(upload).read()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>', "SVG"),
        (b"GIF89a not an accepted kind", "not an image"),
        (image_bytes("PNG", size=(3000, 10)), "2048 pixels"),
        (image_bytes("GIF"), "PNG, JPEG or WebP"),
        (b"\x89PNG" + b"0" * (3 * 1024 * 1024), "2 MiB"),
    ],
)
def test_bad_logos_are_refused_with_a_reason(data, reason):
    with pytest.raises(logos.LogoError, match=reason):
        logos.process(SimpleUploadedFile("logo", data))


def test_a_decompression_bomb_is_refused():
    import struct
    import zlib

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(logos.LogoError):
        logos.process(SimpleUploadedFile("bomb.png", bomb))


def test_a_logo_is_uploaded_shown_and_served_with_long_caching(alice, app):
    client = signed_in(alice)
    client.post("/r/alice/app/-/logo", {"logo": SimpleUploadedFile("l.png", image_bytes("PNG"))})
    entry = CatalogEntry.objects.get(name="alice/app")
    assert entry.logo
    page = Client().get("/r/alice/app").content.decode()
    assert entry.logo.url in page
    served = Client().get(entry.logo.url)
    assert served.status_code == 200
    assert "immutable" in served["Cache-Control"]
    served.close()


def test_with_blobs_in_a_bucket_logos_go_there_and_are_served_by_berth(
    alice, app, request, settings
):
    """Scaled out, web servers share no disk: logos live in the object store too."""
    server = request.getfixturevalue("moto")
    options = server.storage_options(server.new_bucket())
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "gallery.publishing.media.BucketMedia",
            "OPTIONS": {**options, "location": "media"},
        },
    }
    client = signed_in(alice)
    client.post("/r/alice/app/-/logo", {"logo": SimpleUploadedFile("l.png", image_bytes("PNG"))})
    entry = CatalogEntry.objects.get(name="alice/app")
    assert entry.logo.url.startswith("/media/logos/")  # one origin: the CSP's img-src 'self'
    listed = server.client().list_objects_v2(Bucket=options["bucket_name"])
    assert [o["Key"] for o in listed["Contents"]] == [f"media/{entry.logo.name}"]
    served = Client().get(entry.logo.url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")
    assert "immutable" in served["Cache-Control"]


def test_deleting_a_repository_asks_for_its_name(alice, app):
    client = signed_in(alice)
    client.post("/r/alice/app/-/delete", {"confirm": "wrong"})
    assert Repository.objects.filter(name="alice/app").exists()
    client.post("/r/alice/app/-/delete", {"confirm": "alice/app"})
    assert not Repository.objects.filter(name="alice/app").exists()


def test_tags_and_images_are_deleted_from_the_tags_tab(alice, app, bob):
    assert b"Delete tag v1" in signed_in(alice).get("/r/alice/app/-/tags").content
    assert b"Delete tag" not in signed_in(bob).get("/r/alice/app/-/tags").content
    signed_in(alice).post("/r/alice/app/-/delete-reference", {"tag": "v1", "confirm": "v1"})
    entry = CatalogEntry.objects.get(name="alice/app")
    assert list(entry.tags.values_list("name", flat=True)) == ["v2"]
    digest = entry.tags.get().image.digest
    confirm = digest.removeprefix("sha256:")[:12]
    signed_in(alice).post("/r/alice/app/-/delete-reference", {"digest": digest, "confirm": confirm})
    assert CatalogEntry.objects.get(name="alice/app").tag_count == 0
    refused = signed_in(bob).post("/r/alice/app/-/delete-reference", {"tag": "v2", "confirm": "v2"})
    assert refused.status_code == 404


def test_the_tags_tab_asks_before_deleting_a_tag(alice, app):
    """Its menu leads to a page that says what goes; nothing is deleted from the menu."""
    tags = signed_in(alice).get("/r/alice/app/-/tags").content.decode()
    assert 'href="/r/alice/app/-/delete-reference?tag=v1"' in tags
    page = signed_in(alice).get("/r/alice/app/-/delete-reference?tag=v1")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Type <code>v1</code> to confirm" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert CatalogEntry.objects.get(name="alice/app").tag_count == 2


def test_every_tag_of_an_image_can_be_deleted_from_the_tags_tab(alice, as_alice):
    """The menu offered the first four tags of an image only."""
    for tag in ("a1", "a2", "a3", "a4", "a5", "a6"):
        as_alice.push_image("alice/many", tag)
    services.index_repository(repository_id=Repository.objects.get(name="alice/many").pk)
    html = signed_in(alice).get("/r/alice/many/-/tags").content.decode()
    for tag in ("a1", "a2", "a3", "a4", "a5", "a6"):
        assert f'href="/r/alice/many/-/delete-reference?tag={tag}"' in html


@pytest.mark.parametrize("typed", [None, "", "v2", "V1"])
def test_a_tag_is_not_deleted_without_its_name_typed(alice, app, typed):
    form = {"tag": "v1"} if typed is None else {"tag": "v1", "confirm": typed}
    response = signed_in(alice).post("/r/alice/app/-/delete-reference", form)
    assert response.status_code == 200
    assert "Type v1 exactly to confirm." in response.content.decode()
    assert CatalogEntry.objects.get(name="alice/app").tags.filter(name="v1").exists()


def test_an_image_is_deleted_once_its_digests_start_is_typed(alice, app):
    digest = CatalogEntry.objects.get(name="alice/app").tags.get(name="v1").image.digest
    client = signed_in(alice)
    page = client.get(f"/r/alice/app/-/delete-reference?digest={digest}").content.decode()
    assert "Delete image and 1 tag" in page
    client.post("/r/alice/app/-/delete-reference", {"digest": digest, "confirm": digest})
    assert CatalogEntry.objects.get(name="alice/app").tags.filter(name="v1").exists()
    confirm = digest.removeprefix("sha256:")[:12]
    client.post("/r/alice/app/-/delete-reference", {"digest": digest, "confirm": confirm})
    assert not CatalogEntry.objects.get(name="alice/app").tags.filter(name="v1").exists()


def test_deleting_an_unknown_tag_says_so(alice, app):
    response = signed_in(alice).get("/r/alice/app/-/delete-reference?tag=nope", follow=True)
    assert "Nothing to delete by that name." in response.content.decode()


@pytest.mark.parametrize("path", ["/media/logos/", "/media/logos/.", "/media/logos//"])
def test_the_logos_folder_itself_is_a_404(alice, app, path):
    """It exists in the media storage, but it is no file: opening it was a 500."""
    signed_in(alice).post(
        "/r/alice/app/-/logo", {"logo": SimpleUploadedFile("l.png", image_bytes("PNG"))}
    )
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 404
