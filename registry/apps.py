from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "OCI registry"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
        from .scanning import tasks  # noqa: F401 - registers the Celery tasks with any worker
