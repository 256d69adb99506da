"""WSGI entry point (gunicorn gallery.wsgi). Blobs must be served through WSGI, not ASGI:
only WSGI servers hand FileResponse to sendfile()."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.settings")
application = get_wsgi_application()
