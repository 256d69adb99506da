from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from registry import urls as registry_urls  # noqa: F401 - registers the "repo" converter

from . import views

urlpatterns = [
    path("", include("registry.urls")),
    path("", views.home, name="home"),
    path("search", views.search_page, name="search"),
    path("r/<repo:name>", views.repository, name="repository"),
    path("r/<repo:name>/-/usage", views.repository_usage, name="repository-usage"),
    path("r/<repo:name>/-/tags", views.repository_tags, name="repository-tags"),
    path("r/<repo:name>/-/settings", views.repository_settings, name="repository-settings"),
    path("u/<str:namespace>", views.publisher, name="publisher"),
    path("accounts/signup", views.signup, name="signup"),
    path("accounts/", views.account, name="account"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
