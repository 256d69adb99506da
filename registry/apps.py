from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "OCI registry"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
        from .access import namespaces, revocation

        # However a user is created (sign-up, createsuperuser, the admin, a script), the
        # account claims the namespace of its username if that name is free.
        post_save.connect(
            namespaces.on_user_saved,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="registry.claim_personal_namespace",
        )
        # A password change, a disabled account or lost rights end its registry tokens.
        pre_save.connect(
            revocation.on_user_changing,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="registry.revoke_on_user_change",
        )
        post_delete.connect(
            revocation.on_user_deleted,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="registry.revoke_on_user_delete",
        )
        from .ops import metrics
        from .replication import services as replication
        from .scanning import services as scanning
        from .scanning import tasks  # noqa: F401 - registers the Celery tasks with any worker

        # A deleted account's namespaces stay reserved: nothing is copied into them any more.
        pre_delete.connect(
            replication.on_user_deleting,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="registry.decline_replication_on_user_delete",
        )
        metrics.register_lag("replication", replication.lag_seconds)
        metrics.register_lag("scan", scanning.lag_seconds)

        setting_changed.connect(_forget_keys, dispatch_uid="registry.forget_keys")


def _forget_keys(setting, **kwargs):
    """Tests change the key settings: the key services must follow."""
    if setting.startswith(("BERTH_MASTER_KEY", "BERTH_KMS_KEY_ID")):
        from .storage import keys

        keys.forget()
