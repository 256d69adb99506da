from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path, re_path

from registry import urls as registry_urls  # noqa: F401 - registers the "repo" converter

from . import accounts, organizations, replication, seo, views
from .publishing import pages as publishing
from .publishing import settings as publishing_settings
from .publishing import uploads
from .vulnerabilities import views as vulnerabilities


def admin_login(request):
    """The admin's sign-in, throttled like every other (gallery.accounts)."""
    return accounts.throttled_response(admin.site.login(request))


urlpatterns = [
    path("", include("registry.urls")),
    path("", include("registry.ops.urls")),
    path("", views.home, name="home"),
    path("api/", include("gallery.api.urls")),
    path("search", views.search_page, name="search"),
    path("r/<repo:name>", views.repository, name="repository"),
    path("r/<repo:name>/-/usage", views.repository_usage, name="repository-usage"),
    path("r/<repo:name>/-/tags", views.repository_tags, name="repository-tags"),
    path("r/<repo:name>/-/tags/<str:tag>", views.repository_tag, name="repository-tag"),
    path("r/<repo:name>/-/images/<str:digest>", views.repository_image, name="repository-image"),
    path(
        "r/<repo:name>/-/images/<str:digest>/vulnerabilities",
        vulnerabilities.findings,
        name="repository-image-vulnerabilities",
    ),
    path(
        "r/<repo:name>/-/images/<str:digest>/vulnerabilities/scan",
        vulnerabilities.rescan,
        name="repository-image-rescan",
    ),
    path("r/<repo:name>/-/compare", vulnerabilities.compare, name="repository-compare"),
    path(
        "r/<repo:name>/-/settings",
        publishing_settings.repository_settings,
        name="repository-settings",
    ),
    path("r/<repo:name>/-/card.png", seo.card, name="repository-card"),
    path("r/<repo:name>/-/logo", publishing.upload_logo, name="repository-logo"),
    path("r/<repo:name>/-/upload", uploads.upload_page, name="repository-upload"),
    path("r/<repo:name>/-/imports", uploads.start_import, name="archive-imports"),
    path("r/<repo:name>/-/imports/<str:archive_id>", uploads.archive_import, name="archive-import"),
    path("r/<repo:name>/-/delete", publishing.delete_repository, name="repository-delete"),
    path("r/<repo:name>/-/delete-reference", publishing.delete_reference, name="reference-delete"),
    path("new", publishing.new_repository, name="new-repository"),
    path("-/check-name", publishing.check_name, name="check-name"),
    path("-/preview", publishing.preview, name="markdown-preview"),
    path("media/<path:path>", publishing.media, name="media"),
    path("u/<str:namespace>", views.publisher, name="publisher"),
    path("u/<str:namespace>/-/card.png", seo.publisher_card, name="publisher-card"),
    path("u/<str:namespace>/-/members", organizations.members, name="members"),
    path(
        "u/<str:namespace>/-/members/<str:username>/remove",
        organizations.remove_member,
        name="member-remove",
    ),
    path("u/<str:namespace>/-/robots", organizations.robots, name="robots"),
    path("u/<str:namespace>/-/audit", organizations.audit_log, name="namespace-audit"),
    path(
        "u/<str:namespace>/-/settings",
        organizations.namespace_settings,
        name="namespace-settings",
    ),
    path(
        "u/<str:namespace>/-/profile",
        organizations.namespace_profile,
        name="namespace-profile",
    ),
    path(
        "u/<str:namespace>/-/replication",
        replication.replication,
        name="namespace-replication",
    ),
    path("organizations/new", organizations.new_organization, name="new-organization"),
    path("settings/tokens", organizations.tokens, name="tokens"),
    path("settings/tokens/<str:token>/revoke", organizations.revoke_token, name="token-revoke"),
    path("accounts/signup", accounts.signup, name="signup"),
    path("accounts/", accounts.account, name="account"),
    path("accounts/login/", accounts.SignInView.as_view(), name="login"),
    path("accounts/password_reset/", accounts.ResetRequestView.as_view(), name="password_reset"),
    path("accounts/logout/", accounts.SignOutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        accounts.ChangePasswordView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        accounts.ResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("robots.txt", seo.robots_txt),
    path("favicon.ico", seo.favicon),
    path(
        "sitemap.xml",
        sitemap_views.index,
        {"sitemaps": seo.SITEMAPS, "sitemap_url_name": "sitemap-section"},
        name="sitemap",
    ),
    path(
        "sitemap-<section>.xml",
        sitemap_views.sitemap,
        {"sitemaps": seo.SITEMAPS},
        name="sitemap-section",
    ),
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    # Last: any page typed with a trailing slash (/search/?q=…, /r/<name>/, /new/) goes to
    # the page without it, when there is one.
    re_path(r"^(?P<path>.+)/$", views.without_trailing_slash),
]

handler400 = "gallery.views.bad_request"
handler404 = "gallery.views.not_found"
handler500 = "gallery.views.server_error"
