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
