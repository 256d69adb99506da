from django.contrib import admin
from django.urls import include, path

from registry import urls as registry_urls  # noqa: F401 - registers the "repo" converter

from . import accounts, views


def admin_login(request):
    """The admin's sign-in, throttled like every other (gallery.accounts)."""
    return accounts.throttled_response(admin.site.login(request))


urlpatterns = [
    path("", include("registry.urls")),
    path("", include("registry.ops.urls")),
    path("", views.home, name="home"),
    path("search", views.search_page, name="search"),
    path("r/<repo:name>", views.repository, name="repository"),
    path("r/<repo:name>/-/usage", views.repository_usage, name="repository-usage"),
    path("r/<repo:name>/-/tags", views.repository_tags, name="repository-tags"),
    path("r/<repo:name>/-/settings", views.repository_settings, name="repository-settings"),
    path("u/<str:namespace>", views.publisher, name="publisher"),
    path("accounts/signup", accounts.signup, name="signup"),
    path("accounts/", accounts.account, name="account"),
    path("accounts/login/", accounts.SignInView.as_view(), name="login"),
    path("accounts/password_reset/", accounts.ResetRequestView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
]
