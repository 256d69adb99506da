"""ASGI entry point, for completeness. Do not serve the registry through it: under ASGI,
Django reads whole files into memory to send them (see README, "Deploying")."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.settings")
application = get_asgi_application()
