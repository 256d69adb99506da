import pytest

from gallery import services
from gallery.models import ArtifactType, CatalogEntry, CatalogText
from registry import mediatypes
from registry.models import Repository
from tests.oci import push_helm_chart, push_index, push_platform_image, sha256

pytestmark = pytest.mark.django_db


def index(name: str) -> CatalogEntry:
    return services.index_repository(repository_id=Repository.objects.get(name=name).pk)


def test_platforms_are_read_from_image_configs(as_alice):
    push_platform_image(as_alice, "alice/app", "1.0", "arm64")
    entry = index("alice/app")
    assert entry.platforms == " linux/arm64 "
    assert entry.artifact_type == ArtifactType.IMAGE


def test_an_index_contributes_every_platform_and_its_largest_child_size(as_alice):
    digest = push_index(as_alice, "alice/multi", "1.0", ["amd64", "arm64"])
    entry = index("alice/multi")
    assert entry.architectures == ["amd64", "arm64"]
    image = entry.images.get(digest=digest)
    assert [p["architecture"] for p in image.platforms] == ["amd64", "arm64"]
    assert image.size == max(p["size"] for p in image.platforms)


def test_helm_charts_are_recognized(as_alice):
    push_helm_chart(as_alice, "alice/chart", "0.1.0")
    assert index("alice/chart").artifact_type == ArtifactType.HELM


def test_artifacts_with_an_artifact_type_are_artifacts(as_alice):
    layer = as_alice.push_blob("alice/art", b"payload")
    as_alice.push_manifest(
        "alice/art",
        "v1",
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": "application/vnd.example.thing",
            "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": sha256(b"{}"), "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": 7}],
        },
    )
    assert index("alice/art").artifact_type == ArtifactType.ARTIFACT


def test_tags_sizes_and_push_time_are_recorded(as_alice):
    digest, _ = as_alice.push_image("alice/app", "1.0", layer=b"x" * 100)
    as_alice.push_manifest(
        "alice/app", "latest", as_alice.get("/v2/alice/app/manifests/1.0").content
    )
    entry = index("alice/app")
    assert entry.tag_count == 2
    image = entry.images.get()
    assert image.digest == digest
    assert sorted(image.tags.values_list("name", flat=True)) == ["1.0", "latest"]
    assert entry.total_size == image.size > 100
    assert entry.pushed_at is not None


def test_indexing_twice_changes_nothing(as_alice):
    push_index(as_alice, "alice/multi", "1.0", ["amd64", "arm64"])
    first = index("alice/multi")
    second = index("alice/multi")
    assert first.tag_count == second.tag_count == 3
    assert second.images.count() == 3
    assert second.platforms == " linux/amd64 linux/arm64 "


def test_deleted_tags_leave_the_catalog(as_alice):
    as_alice.push_image("alice/app", "1.0", layer=b"one")
    as_alice.push_image("alice/app", "2.0", layer=b"two")
    index("alice/app")
    as_alice.request("DELETE", "/v2/alice/app/manifests/1.0")
    entry = index("alice/app")
    assert list(entry.tags.values_list("name", flat=True)) == ["2.0"]
    assert entry.images.count() == 1


def test_a_deleted_repository_leaves_the_catalog(as_alice):
    as_alice.push_image("alice/app", "1.0")
    repository_id = index("alice/app").pk
    Repository.objects.filter(pk=repository_id).delete()
    assert services.index_repository(repository_id=repository_id) is None
    assert not CatalogEntry.objects.exists()


def test_description_comes_from_the_oci_annotation_until_the_publisher_writes_one(as_alice):
    as_alice.push_image(
        "alice/app", "1.0", annotations={"org.opencontainers.image.description": "A tiny app."}
    )
    entry = index("alice/app")
    assert entry.description == "A tiny app."
    services.update_catalog(entry=entry, description="Mine.", about="", usage="")
    as_alice.push_image(
        "alice/app",
        "2.0",
        layer=b"2",
        annotations={"org.opencontainers.image.description": "Other."},
    )
    assert index("alice/app").description == "Mine."


def test_privacy_follows_the_repository(as_alice):
    as_alice.push_image("alice/app", "1.0")
    entry = index("alice/app")
    services.set_visibility(repository=entry.repository, private=True)
    assert CatalogEntry.objects.get(pk=entry.pk).is_private
    assert Repository.objects.get(pk=entry.pk).is_private


def test_the_push_hook_indexes_after_commit(as_alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.push_image("alice/app", "1.0")
    assert CatalogEntry.objects.get(name="alice/app").tag_count == 1


def test_pull_counts_reach_the_catalog(as_alice, django_capture_on_commit_callbacks, settings):
    from registry import pulls

    settings.BERTH_PULL_COUNT_WINDOW = 0  # every GET counts
    as_alice.push_image("alice/app", "1.0")
    index("alice/app")
    as_alice.get("/v2/alice/app/manifests/1.0")
    as_alice.get("/v2/alice/app/manifests/1.0")
    with django_capture_on_commit_callbacks(execute=True):
        pulls.flush()
    assert CatalogEntry.objects.get(name="alice/app").downloads == 2


def test_updating_the_about_text_renders_it_once(as_alice):
    as_alice.push_image("alice/app", "1.0")
    entry = services.update_catalog(
        entry=index("alice/app"), description="", about="# Hi", usage=""
    )
    assert "<h1" in services.text_of(entry).about_html
    assert services.text_of(entry).rendered_with >= 1


def test_stale_renderings_are_redone(as_alice, monkeypatch):
    from gallery import readme

    as_alice.push_image("alice/app", "1.0")
    entry = services.update_catalog(entry=index("alice/app"), description="", about="*x*", usage="")
    monkeypatch.setattr(readme, "RENDERER_VERSION", readme.RENDERER_VERSION + 1)
    CatalogText.objects.filter(pk=entry.pk).update(about_html="old")
    assert services.text_of(entry).about_html == "<p><em>x</em></p>"


def test_reindex_command_rebuilds_the_catalog(as_alice):
    from django.core.management import call_command

    as_alice.push_image("alice/one", "1.0")
    as_alice.push_image("alice/two", "1.0")
    call_command("reindex")
    assert set(CatalogEntry.objects.values_list("name", flat=True)) == {"alice/one", "alice/two"}


def test_a_moved_tag_moves_between_images(as_alice):
    first, body = as_alice.push_image("alice/app", "1.0", layer=b"one")
    as_alice.push_manifest("alice/app", "latest", body)
    index("alice/app")
    second, _ = as_alice.push_image("alice/app", "latest", layer=b"two")
    entry = index("alice/app")
    assert list(entry.images.get(digest=first).tags.values_list("name", flat=True)) == ["1.0"]
    assert list(entry.images.get(digest=second).tags.values_list("name", flat=True)) == ["latest"]
    assert entry.images.order_by("-sort_key").first().digest == second  # latest sorts first


def test_privacy_changed_in_the_registry_reaches_the_catalog_at_once(
    as_alice, django_capture_on_commit_callbacks
):
    from gallery import tasks
    from registry.services import RegistryEvent

    as_alice.push_image("alice/app", "1.0")
    entry = index("alice/app")
    Repository.objects.filter(pk=entry.pk).update(is_private=True)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.on_registry_event(RegistryEvent("update", entry.pk, entry.name))
    assert CatalogEntry.objects.get(pk=entry.pk).is_private


def test_indexing_never_undoes_a_privacy_change(as_alice, monkeypatch):
    """The indexer reads manifests first; privacy set meanwhile must survive its write."""
    as_alice.push_image("alice/app", "1.0")
    entry = index("alice/app")
    real = services._describe_new

    def describe_then_hide(repository, digests_):
        services.set_visibility(repository=Repository.objects.get(pk=repository.pk), private=True)
        return real(repository, digests_)

    monkeypatch.setattr(services, "_describe_new", describe_then_hide)
    index("alice/app")
    assert CatalogEntry.objects.get(pk=entry.pk).is_private


@pytest.mark.django_db(transaction=True)
def test_a_repository_deleted_as_a_push_lands_goes_with_its_catalog_entry(alice, monkeypatch):
    """A deletion waiting for a push's lock went on as the push's indexing added catalog
    tags: it had collected the entry's images and tags first, and failed on a foreign key
    to a deleted image (a 500 to the DELETE, the repository left in place)."""
    from registry import services as registry_services
    from registry.models import Tag
    from tests.oci import RegistryClient
    from tests.races import finish, meanwhile, needs_two_connections

    needs_two_connections()
    client = RegistryClient("alice")
    _, body = client.push_image("alice/app", "v1")
    errors = []

    def delete():
        try:
            repository = Repository.objects.get(name="alice/app")
            registry_services.delete_repository(repository=repository)
        except Exception as error:  # asserted below
            errors.append(error)

    threads = meanwhile(monkeypatch, Tag.objects, "update_or_create", delete)
    assert client.push_manifest("alice/app", "v2", body).status_code == 201
    finish(threads)
    assert errors == []
    assert not Repository.objects.filter(name="alice/app").exists()
    assert not CatalogEntry.objects.filter(name="alice/app").exists()
