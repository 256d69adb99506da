"""factory_boy factories for the models tests need."""

import factory
from django.contrib.auth import get_user_model

from registry.models import Repository

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = factory.django.Password(PASSWORD)


class RepositoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Repository

    owner = factory.SubFactory(UserFactory)
    name = factory.LazyAttributeSequence(lambda repo, n: f"{repo.owner.username}/repo{n}")
    namespace = factory.LazyAttribute(lambda repo: repo.name.split("/")[0])


def catalog_entry(
    name: str,
    *,
    description: str = "",
    about: str = "",
    private: bool = False,
    artifact_type: str = "image",
    platforms=(("linux", "amd64"),),
    downloads: int = 0,
    verified: bool = False,
    owner=None,
    tags: int = 1,
):
    """A repository with its catalog entry, as the indexer would leave it."""
    from django.utils import timezone

    from gallery.models import CatalogEntry, CatalogText, Publisher
    from registry.models import Namespace

    namespace = name.split("/")[0]
    owner = owner or UserFactory(username=namespace)
    repository = Repository.objects.create(
        name=name, namespace=namespace, owner=owner, is_private=private, pushed_at=timezone.now()
    )
    record, _ = Namespace.objects.get_or_create(name=namespace, defaults={"owner": owner})
    publisher, _ = Publisher.objects.get_or_create(namespace_record=record)
    entry = CatalogEntry.objects.create(
        repository=repository,
        name=name,
        namespace=namespace,
        is_private=private,
        publisher=publisher,
        description=description,
        artifact_type=artifact_type,
        downloads=downloads,
        is_verified=verified,
        tag_count=tags,
        pushed_at=repository.pushed_at,
        platforms=f" {' '.join(f'{o}/{a}' for o, a in platforms)} " if platforms else "",
    )
    CatalogText.objects.create(entry=entry, about=about)
    return entry
