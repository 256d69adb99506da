"""/api/v1/: the REST API's routes (a public contract), the schema and its docs page."""

from django.urls import path

from . import access, cache, imports, replication, schema, views, vulnerabilities  # noqa: F401

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
    path(
        "v1/repositories/<repo:name>/-/policy",
        access.RepositoryPolicy.as_view(),
        name="policy",
    ),
    path("v1/repositories/<repo:name>/-/imports", imports.Imports.as_view(), name="imports"),
    path(
        "v1/repositories/<repo:name>/-/imports/<str:archive_id>",
        imports.ImportDetail.as_view(),
        name="import",
    ),
    path("v1/organizations", access.OrganizationList.as_view(), name="organizations"),
    path("v1/organizations/<str:org>", access.OrganizationDetail.as_view(), name="organization"),
    path(
        "v1/organizations/<str:org>/members/<str:username>",
        access.MemberDetail.as_view(),
        name="member",
    ),
    path("v1/organizations/<str:org>/robots", access.RobotList.as_view(), name="robots"),
    path(
        "v1/organizations/<str:org>/robots/<str:robot>",
        access.RobotDetail.as_view(),
        name="robot",
    ),
    path(
        "v1/organizations/<str:org>/robots/<str:robot>/tokens",
        access.RobotTokens.as_view(),
        name="robot-tokens",
    ),
    path(
        "v1/organizations/<str:org>/robots/<str:robot>/tokens/<int:token_id>",
        access.RobotTokenDetail.as_view(),
        name="robot-token",
    ),
    path("v1/tokens", access.TokenList.as_view(), name="tokens"),
    path("v1/tokens/<int:token_id>", access.TokenDetail.as_view(), name="token"),
    path("v1/audit", access.AuditLog.as_view(), name="audit"),
    path("v1/cache-rules", cache.CacheRuleList.as_view(), name="cache-rules"),
    path("v1/cache-rules/<int:rule_id>", cache.CacheRuleDetail.as_view(), name="cache-rule"),
    path("v1/replication-rules", replication.RuleList.as_view(), name="replication-rules"),
    path(
        "v1/replication-rules/<int:rule_id>",
        replication.RuleDetail.as_view(),
        name="replication-rule",
    ),
    path(
        "v1/replication-rules/<int:rule_id>/status",
        replication.RuleStatus.as_view(),
        name="replication-rule-status",
    ),
    path(
        "v1/replication-rules/<int:rule_id>/replicate",
        replication.ReplicateNow.as_view(),
        name="replication-rule-replicate",
    ),
    path(
        "v1/replication-rules/<int:rule_id>/accept",
        replication.Accept.as_view(),
        name="replication-rule-accept",
    ),
    path(
        "v1/replication-rules/<int:rule_id>/decline",
        replication.Decline.as_view(),
        name="replication-rule-decline",
    ),
    path("v1/publishers", views.PublisherList.as_view(), name="publishers"),
    path("v1/publishers/<str:namespace>", views.PublisherDetail.as_view(), name="publisher"),
    path("schema/", views.ApiSchema.as_view(), name="schema"),
    path("docs/", views.ApiDocs.as_view(url_name="api:schema"), name="docs"),
]
