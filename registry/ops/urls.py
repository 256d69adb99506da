from django.urls import path

from . import views

urlpatterns = [
    path("-/health", views.alive, name="health"),
    path("-/ready", views.ready, name="ready"),
    path("metrics", views.prometheus, name="metrics"),
]
