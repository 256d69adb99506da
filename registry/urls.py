"""Routes of the OCI Distribution API and the token service.

One path converter carries the spec's repository-name grammar; routes are exact, with the
trailing slash only where the spec has one (`/blobs/uploads/`).
"""

from django.urls import path, register_converter

from . import names, views


class RepositoryNameConverter:
    regex = names.NAME

    def to_python(self, value: str) -> str:
        # The grammar's length limits too: a name off them matches no route, and the
        # fallback answers NAME_INVALID (not NAME_UNKNOWN, nor a token challenge for it).
        if not names.is_valid_name(value):
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RepositoryNameConverter, "repo")

app_name = "registry"
urlpatterns = [
    path("v2/", views.api_root, name="root"),
    path("v2/_catalog", views.catalog, name="catalog"),
    path("v2/<repo:name>/tags/list", views.tags_list, name="tags"),
    path("v2/<repo:name>/manifests/<str:reference>", views.manifest, name="manifest"),
    path("v2/<repo:name>/referrers/<str:digest>", views.referrers, name="referrers"),
    path("v2/<repo:name>/blobs/uploads/", views.upload_start, name="upload-start"),
    path("v2/<repo:name>/blobs/uploads/<str:upload_id>", views.upload, name="upload"),
    path("v2/<repo:name>/blobs/<str:digest>", views.blob, name="blob"),
    path("v2/<path:rest>", views.unknown),
    path("token", views.token, name="token"),
]
