"""/api/v1/: the REST API's routes (a public contract), the schema and its docs page."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views, vulnerabilities

app_name = "api"
urlpatterns = [
    path("v1/repositories", views.RepositoryList.as_view(), name="repositories"),
    path("v1/repositories/<repo:name>", views.RepositoryDetail.as_view(), name="repository"),
    path("v1/repositories/<repo:name>/-/tags", views.TagList.as_view(), name="tags"),
    path("v1/repositories/<repo:name>/-/tags/<str:tag>", views.TagDetail.as_view(), name="tag"),
    path(
        "v1/repositories/<repo:name>/-/images/<str:digest>",
        views.ImageDetail.as_view(),
        name="image",
    ),
    path(
        "v1/repositories/<repo:name>/-/images/<str:digest>/vulnerabilities",
        vulnerabilities.ImageVulnerabilities.as_view(),
        name="image-vulnerabilities",
    ),
    path(
        "v1/repositories/<repo:name>/-/images/<str:digest>/vulnerabilities/scan",
        vulnerabilities.ImageRescan.as_view(),
        name="image-rescan",
    ),
    path(
        "v1/repositories/<repo:name>/-/images/<str:digest>/sbom",
        vulnerabilities.ImageSbom.as_view(),
        name="image-sbom",
    ),
    path("v1/publishers", views.PublisherList.as_view(), name="publishers"),
    path("v1/publishers/<str:namespace>", views.PublisherDetail.as_view(), name="publisher"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
