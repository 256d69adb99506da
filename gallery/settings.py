"""Berth's one settings file, configured from the environment.

Every variable read here is listed with its default in the README ("Configuration").
Embedded defaults need no other server: SQLite and blobs under the data directory,
Celery without a broker server. Production swaps each part by one variable.
"""

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# -- helpers: fail loudly on bad values, accept NAME_FILE for secrets --------------------------


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str | None:
    """The value of NAME, or the contents of the file named by NAME_FILE."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    return None


def generated_secret(path: Path) -> str:
    """A secret generated once into the data directory (embedded mode only).

    Written whole under a temporary name and linked into place, so that another process
    starting at the same moment reads either nothing or the complete secret.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    try:
        os.link(temporary, path)  # fails if another process got there first
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return path.read_text().strip()


# -- core ---------------------------------------------------------------------------------------

# "production" turns on the checks that refuse generated secrets and insecure settings.
BERTH_ENV = env_str("BERTH_ENV", "development")
PRODUCTION = BERTH_ENV == "production"
DEBUG = env_bool("DEBUG", False)

DATA_DIR = Path(env_str("BERTH_DATA_DIR", str(BASE_DIR / "var"))).resolve()

_secret_key = env_secret("SECRET_KEY")
_token_key = env_secret("BERTH_TOKEN_KEY")
# Read by the system check gallery.E001: production refuses to run on generated secrets.
BERTH_SECRETS_FROM_ENVIRONMENT = bool(_secret_key and _token_key)
if PRODUCTION and not BERTH_SECRETS_FROM_ENVIRONMENT:
    # Also a system check (gallery.E001); raised here too because gunicorn runs no checks.
    raise ImproperlyConfigured(
        "BERTH_ENV=production needs SECRET_KEY and BERTH_TOKEN_KEY (or *_FILE) to be set"
    )
SECRET_KEY = _secret_key or generated_secret(DATA_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto / X-Forwarded-Host headers.
if env_bool("BERTH_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "registry.apps.RegistryConfig",
    "gallery.apps.GalleryConfig",
]

MIDDLEWARE = [
    "registry.middleware.registry_fast_path",  # first: /v2/ and /token need none of the rest
    "gallery.middleware.content_security_policy",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gallery.urls"
WSGI_APPLICATION = "gallery.wsgi.application"
# The OCI routes are exact; no redirects that would turn a PUT into a GET.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gallery.context_processors.site",
            ],
        },
    },
]

# -- database -----------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Planner costs for SSD storage, which current servers have: with the default (for
        # spinning disks) PostgreSQL scans whole tables where an index answers at once. No
        # JIT: compiling a query costs tens of milliseconds, more than any page query runs.
        # work_mem: search's index bitmaps of 100,000s of rows stay exact (not per page).
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "options",
            env_str("BERTH_PG_OPTIONS", "-c random_page_cost=1.1 -c jit=off -c work_mem=16MB"),
        )
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "berth.sqlite3",
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                # WAL lets several gunicorn workers read while one writes; IMMEDIATE takes
                # the write lock up front instead of failing half-way through a transaction.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- cache --------------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # Files under the data directory: shared by every worker process, no server needed.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
        }
    }

# -- storage ------------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"

# Blobs go through the Django storage API under the "blobs" alias. The default is the local
# filesystem; BERTH_BLOB_STORAGE_BACKEND (a dotted class path, e.g. django-storages'
# "storages.backends.s3.S3Storage") and BERTH_BLOB_STORAGE_OPTIONS (a JSON object) replace it.
BLOB_STORAGE_BACKEND = env_str(
    "BERTH_BLOB_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
)
try:
    BLOB_STORAGE_OPTIONS = json.loads(env_str("BERTH_BLOB_STORAGE_OPTIONS", "") or "{}")
except json.JSONDecodeError as exc:
    raise ImproperlyConfigured(f"BERTH_BLOB_STORAGE_OPTIONS is not JSON: {exc}") from None
if not isinstance(BLOB_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("BERTH_BLOB_STORAGE_OPTIONS must be a JSON object")
if BLOB_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage":
    BLOB_STORAGE_OPTIONS.setdefault("location", str(DATA_DIR / "blobs"))
    BLOB_STORAGE_OPTIONS.setdefault("file_permissions_mode", 0o644)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
    "blobs": {"BACKEND": BLOB_STORAGE_BACKEND, "OPTIONS": BLOB_STORAGE_OPTIONS},
}
# Outside production whitenoise serves straight from the source folders: no collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION

# -- the registry -------------------------------------------------------------------------------

# Upload sessions are staged on a local (or shared) disk: appending chunks needs a real file.
BERTH_UPLOAD_DIR = Path(env_str("BERTH_UPLOAD_DIR", str(DATA_DIR / "uploads"))).resolve()
BERTH_UPLOAD_TTL = env_int("BERTH_UPLOAD_TTL", 24 * 3600, minimum=60)
BERTH_MANIFEST_MAX_BYTES = env_int("BERTH_MANIFEST_MAX_BYTES", 4 * 1024 * 1024, minimum=4096)
BERTH_BLOB_MAX_BYTES = env_int("BERTH_BLOB_MAX_BYTES", 0)  # 0: no limit
BERTH_TAGS_PAGE_MAX = env_int("BERTH_TAGS_PAGE_MAX", 1000, minimum=1)
BERTH_CATALOG_PAGE_MAX = env_int("BERTH_CATALOG_PAGE_MAX", 1000, minimum=1)
BERTH_NEW_REPOSITORIES_PRIVATE = env_bool("BERTH_NEW_REPOSITORIES_PRIVATE", False)
# How blob downloads leave the process: "file" (FileResponse; gunicorn uses sendfile),
# "redirect" (to the storage's URL, e.g. a pre-signed S3 URL) or "x-accel" (nginx).
BERTH_BLOB_DELIVERY = env_str("BERTH_BLOB_DELIVERY", "file")
BERTH_X_ACCEL_PREFIX = env_str("BERTH_X_ACCEL_PREFIX", "/_blobs/")

# Docker token authentication. The registry and its token service run in one process, so
# tokens are signed with a shared secret (HS256) that never leaves the server.
BERTH_TOKEN_KEY = _token_key or generated_secret(DATA_DIR / "token_key")
BERTH_TOKEN_SERVICE = env_str("BERTH_TOKEN_SERVICE", "berth")
BERTH_TOKEN_ISSUER = env_str("BERTH_TOKEN_ISSUER", "berth")
BERTH_TOKEN_TTL = env_int("BERTH_TOKEN_TTL", 300, minimum=30)
BERTH_REFRESH_TOKEN_TTL = env_int("BERTH_REFRESH_TOKEN_TTL", 90 * 24 * 3600, minimum=300)
# The realm advertised in WWW-Authenticate; derived from the request when empty.
BERTH_TOKEN_REALM = env_str("BERTH_TOKEN_REALM", "")
# How long a verified Basic credential is remembered (hashed) so that clients sending
# Basic on every request do not pay a password hash each time.
BERTH_CREDENTIAL_CACHE_TTL = env_int("BERTH_CREDENTIAL_CACHE_TTL", 60)

# Called (dotted path) with a registry.services.RegistryEvent after every push and delete,
# and when a batch of pull counts is written. The gallery indexes the catalog from it.
BERTH_REGISTRY_HOOK = env_str("BERTH_REGISTRY_HOOK", "gallery.tasks.on_registry_event")

# Search totals and facet counts are cached this long per query and audience (0: never).
BERTH_SEARCH_CACHE_SECONDS = env_int("BERTH_SEARCH_CACHE_SECONDS", 60)
# Totals and facet counts of a text query are exact up to this many matches, "10,000+" above:
# counting costs the database about a microsecond per match (more when its cache is small).
BERTH_SEARCH_EXACT_UP_TO = env_int("BERTH_SEARCH_EXACT_UP_TO", 10_000)

# -- Celery -------------------------------------------------------------------------------------

# Without REDIS_URL tasks run eagerly in the process that enqueues them (no broker, no worker).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds between a push and the indexing it triggers; pushes within it are indexed once.
BERTH_INDEX_DELAY = env_float("BERTH_INDEX_DELAY", 1.0)
# Installations (or test runs) sharing one Redis keep their tasks apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env_str("BERTH_CELERY_QUEUE", "berth")

# -- auth, i18n, misc ---------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "home"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Berth <noreply@localhost>")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CSRF_FAILURE_VIEW = "gallery.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "celery.app.trace": {"level": "WARNING"},  # one line per task is noise
    },
}
