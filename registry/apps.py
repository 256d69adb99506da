from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "OCI registry"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
