"""Berth's one settings file, configured from the environment.

Every variable read here is listed with its default in the README ("Configuration").
Embedded defaults need no other server: SQLite and blobs under the data directory,
Celery without a broker server. Production swaps each part by one variable.
"""

import ipaddress
import json
import os
import secrets
from pathlib import Path

import dj_database_url
import jinja2
from django.core.exceptions import ImproperlyConfigured

from registry.access.ratelimit import parse_rate

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
# Keys short enough to guess forge sessions and registry tokens. Also checked here, at load,
# because gunicorn runs no system checks.
if PRODUCTION and (len(_token_key) < 32 or len(set(_token_key)) < 8):
    raise ImproperlyConfigured(
        "BERTH_TOKEN_KEY must be at least 32 characters of random text in production"
    )
if PRODUCTION and (len(_secret_key) < 50 or len(set(_secret_key)) < 8):
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters of random text")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto / X-Forwarded-Host headers.
if env_bool("BERTH_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# HTTPS only, in production: pages redirect to https and carry HSTS. (/v2/ and /token never
# redirect: a client's PUT must not turn into a GET; they are served behind TLS anyway.)
SECURE_SSL_REDIRECT = env_bool("BERTH_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("BERTH_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("BERTH_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("BERTH_HSTS_PRELOAD", False)
# Probes and scrapers speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^-/health$", r"^-/ready$", r"^metrics$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "registry.apps.RegistryConfig",
    "gallery.apps.GalleryConfig",
]

MIDDLEWARE = [
    "registry.ops.middleware.observe",  # request ids and metrics, for every request
    "registry.middleware.registry_fast_path",  # /v2/ and /token need none of the rest
    "gallery.middleware.content_security_policy",
    "gallery.middleware.multipart_size_limit",  # before the CSRF check reads a form
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # ETag on every GET (the API's reads included) and 304 for a matching If-None-Match.
    "django.middleware.http.ConditionalGetMiddleware",
    "gallery.middleware.DatabaseUnavailable",  # 503, not 500, while the database is away
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
    {
        # The lists every page of results repeats (cards, facet options): Jinja2 renders
        # them about twice as fast as the Django engine (gallery/templatetags/berth.py).
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"undefined": jinja2.StrictUndefined},
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
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Installations (or test runs) sharing one Redis keep their keys apart.
            "KEY_PREFIX": env_str("BERTH_CACHE_PREFIX", "berth"),
        }
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
MEDIA_URL = "/media/"
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
# BERTH_S3_BUCKET is the short way to S3 (any S3-compatible store): django-storages' S3Storage
# with the options below; BERTH_BLOB_STORAGE_OPTIONS entries win over them.
BERTH_S3_BUCKET = env_str("BERTH_S3_BUCKET", "")
if BERTH_S3_BUCKET:
    BLOB_STORAGE_BACKEND = env_str("BERTH_BLOB_STORAGE_BACKEND", "storages.backends.s3.S3Storage")
    _s3 = {
        "bucket_name": BERTH_S3_BUCKET,
        "endpoint_url": env_str("BERTH_S3_ENDPOINT_URL", "") or None,
        "region_name": env_str("BERTH_S3_REGION", "") or None,
        "access_key": env_secret("BERTH_S3_ACCESS_KEY_ID"),
        "secret_key": env_secret("BERTH_S3_SECRET_ACCESS_KEY"),
        "location": env_str("BERTH_S3_PREFIX", ""),
        "addressing_style": env_str("BERTH_S3_ADDRESSING_STYLE", "") or None,
        "file_overwrite": True,
        "querystring_auth": True,
    }
    BLOB_STORAGE_OPTIONS = {
        **{key: value for key, value in _s3.items() if value is not None},
        **BLOB_STORAGE_OPTIONS,
    }
if BLOB_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage":
    BLOB_STORAGE_OPTIONS.setdefault("location", str(DATA_DIR / "blobs"))
    BLOB_STORAGE_OPTIONS.setdefault("file_permissions_mode", 0o644)

# Uploaded media (logos), the "default" storage: the local disk (MEDIA_ROOT), or, with blobs in
# S3 (BERTH_S3_BUCKET), the same bucket under "<BERTH_S3_PREFIX>media/", served through
# Berth's /media/ view (gallery.publishing.media). BERTH_MEDIA_STORAGE_BACKEND and
# BERTH_MEDIA_STORAGE_OPTIONS (a JSON object) replace either.
if BLOB_STORAGE_BACKEND == "storages.backends.s3.S3Storage":
    _media_prefix = "/".join(
        p for p in (BLOB_STORAGE_OPTIONS.get("location", "").strip("/"), "media") if p
    )
    MEDIA_STORAGE_BACKEND = "gallery.publishing.media.BucketMedia"
    MEDIA_STORAGE_OPTIONS = {**BLOB_STORAGE_OPTIONS, "location": _media_prefix}
else:
    MEDIA_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"
    MEDIA_STORAGE_OPTIONS = {}
MEDIA_STORAGE_BACKEND = env_str("BERTH_MEDIA_STORAGE_BACKEND", MEDIA_STORAGE_BACKEND)
try:
    MEDIA_STORAGE_OPTIONS = json.loads(env_str("BERTH_MEDIA_STORAGE_OPTIONS", "") or "null") or (
        MEDIA_STORAGE_OPTIONS
    )
except json.JSONDecodeError as exc:
    raise ImproperlyConfigured(f"BERTH_MEDIA_STORAGE_OPTIONS is not JSON: {exc}") from None
if not isinstance(MEDIA_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("BERTH_MEDIA_STORAGE_OPTIONS must be a JSON object")

STORAGES = {
    "default": {"BACKEND": MEDIA_STORAGE_BACKEND, "OPTIONS": MEDIA_STORAGE_OPTIONS},
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

# Upload sessions are staged on a local (or shared) disk when blobs are; on S3, in the bucket.
BERTH_UPLOAD_DIR = Path(env_str("BERTH_UPLOAD_DIR", str(DATA_DIR / "uploads"))).resolve()
BERTH_UPLOAD_TTL = env_int("BERTH_UPLOAD_TTL", 24 * 3600, minimum=60)
# The request appending to an upload session holds it this long (renewed while it streams):
# a request that died (a killed process) blocks its session at most this many seconds.
BERTH_UPLOAD_LEASE_SECONDS = env_int("BERTH_UPLOAD_LEASE_SECONDS", 60, minimum=2)
BERTH_MANIFEST_MAX_BYTES = env_int("BERTH_MANIFEST_MAX_BYTES", 4 * 1024 * 1024, minimum=4096)
# The spec's optional sparse-manifest workflow: accept manifests and indexes that reference
# blobs or child manifests the repository does not hold (yet); on by default, as the current
# conformance suite pushes them. Off: MANIFEST_BLOB_UNKNOWN for each missing one.
# The pull-through cache keeps sparse manifests whatever this says.
BERTH_SPARSE_MANIFESTS = env_bool("BERTH_SPARSE_MANIFESTS", True)
BERTH_TAGS_PAGE_MAX = env_int("BERTH_TAGS_PAGE_MAX", 1000, minimum=1)
BERTH_CATALOG_PAGE_MAX = env_int("BERTH_CATALOG_PAGE_MAX", 1000, minimum=1)
BERTH_NEW_REPOSITORIES_PRIVATE = env_bool("BERTH_NEW_REPOSITORIES_PRIVATE", False)
# How blob downloads leave the process: "file" (FileResponse; gunicorn uses sendfile),
# "redirect" (to the storage's URL, e.g. a pre-signed S3 URL) or "x-accel" (nginx).
BERTH_BLOB_DELIVERY = env_str("BERTH_BLOB_DELIVERY", "file")
BERTH_X_ACCEL_PREFIX = env_str("BERTH_X_ACCEL_PREFIX", "/_blobs/")
# Lifetime of a pre-signed URL handed out by the "redirect" delivery.
BERTH_REDIRECT_SECONDS = env_int("BERTH_REDIRECT_SECONDS", 300, minimum=10)

# Encryption at rest (registry.storage): "on" seals every new blob with its own data key,
# wrapped by a master key from the key service; "off" stores bytes as they come; "sse-kms"
# leaves it to the object store (S3 server-side encryption with a KMS key).
BERTH_ENCRYPTION = env_str("BERTH_ENCRYPTION", "on").strip().lower()
if BERTH_ENCRYPTION not in {"on", "off", "sse-kms"}:
    raise ImproperlyConfigured(
        f"BERTH_ENCRYPTION={BERTH_ENCRYPTION!r} is not one of on, off, sse-kms"
    )
# Master keys held by Berth: BERTH_MASTER_KEY (or the file BERTH_MASTER_KEY_FILE names), or
# else a key file generated once into the data directory. BERTH_KMS_KEY_ID: AWS KMS instead.
BERTH_MASTER_KEY = env_str("BERTH_MASTER_KEY", "")
BERTH_MASTER_KEY_FILE = env_str("BERTH_MASTER_KEY_FILE", "") or str(DATA_DIR / "master_key")
BERTH_KMS_KEY_ID = env_str("BERTH_KMS_KEY_ID", "")
BERTH_SSE_KMS_KEY_ID = env_str("BERTH_SSE_KMS_KEY_ID", "") or BERTH_KMS_KEY_ID
# Read by the system check registry.E003 and refused here too (gunicorn runs no checks): a
# pre-signed redirect would hand clients the sealed bytes.
BERTH_ENCRYPTION_REDIRECT_ERROR = (
    "BERTH_BLOB_DELIVERY=redirect hands clients the stored bytes, which Berth seals when "
    "BERTH_ENCRYPTION=on: use BERTH_ENCRYPTION=sse-kms (the store encrypts) or off with "
    "redirects, or BERTH_BLOB_DELIVERY=file"
)
if BERTH_BLOB_DELIVERY == "redirect" and BERTH_ENCRYPTION == "on":
    raise ImproperlyConfigured(BERTH_ENCRYPTION_REDIRECT_ERROR)
if (
    PRODUCTION
    and BERTH_ENCRYPTION == "on"
    and not (BERTH_KMS_KEY_ID or BERTH_MASTER_KEY or os.environ.get("BERTH_MASTER_KEY_FILE"))
):
    # Several machines would each generate a master key of their own into their data dir.
    raise ImproperlyConfigured(
        "BERTH_ENV=production with BERTH_ENCRYPTION=on needs BERTH_MASTER_KEY (or _FILE) "
        "or BERTH_KMS_KEY_ID"
    )

# Garbage collection (registry.storage.gc): nothing younger than the grace period is
# reclaimed (a push in progress); untagged manifests are kept unless a repository (or
# this default) says "reclaim"; the worker's beat runs it every BERTH_GC_INTERVAL seconds.
BERTH_GC_GRACE = env_int("BERTH_GC_GRACE", 24 * 3600)
BERTH_GC_INTERVAL = env_int("BERTH_GC_INTERVAL", 6 * 3600, minimum=60)
BERTH_GC_UNTAGGED = env_str("BERTH_GC_UNTAGGED", "keep").strip().lower()
if BERTH_GC_UNTAGGED not in {"keep", "reclaim"}:
    raise ImproperlyConfigured(f"BERTH_GC_UNTAGGED={BERTH_GC_UNTAGGED!r} is not keep or reclaim")

# Other registries (registry.upstream: the pull-through cache's upstreams and replication's
# destinations): timeouts in seconds, retries of a failed request (backoff with jitter), the
# longest Retry-After waited for (longer ones fail at once), and the hosts a registry may
# redirect to besides its own ("*.example.com" for subdomains, "*" for any): the blob
# stores and CDNs the big registries hand their blobs out from.
BERTH_UPSTREAM_CONNECT_TIMEOUT = env_float("BERTH_UPSTREAM_CONNECT_TIMEOUT", 5.0, minimum=0.1)
BERTH_UPSTREAM_READ_TIMEOUT = env_float("BERTH_UPSTREAM_READ_TIMEOUT", 30.0, minimum=0.1)
BERTH_UPSTREAM_RETRIES = env_int("BERTH_UPSTREAM_RETRIES", 2)
BERTH_UPSTREAM_RETRY_AFTER_MAX = env_float("BERTH_UPSTREAM_RETRY_AFTER_MAX", 10.0)
BERTH_UPSTREAM_REDIRECT_HOSTS = env_list(
    "BERTH_UPSTREAM_REDIRECT_HOSTS",
    [
        "*.docker.com", "*.docker.io", "*.cloudflarestorage.com",  # Docker Hub
        "pkg-containers.githubusercontent.com",  # ghcr.io
        "*.quay.io", "*.quay.io.s3.amazonaws.com",  # quay.io
        "storage.googleapis.com", "*.storage.googleapis.com",  # gcr.io, *.pkg.dev
        "*.amazonaws.com",  # ECR's S3 buckets
        "*.data.mcr.microsoft.com", "*.blob.core.windows.net",  # mcr.microsoft.com, ACR
    ],
)  # fmt: skip
# The pull-through cache (registry.cache): a cached tag is checked with its upstream when it
# was last checked longer ago than FRESHNESS; the periodic sync (every SYNC_INTERVAL, on the
# beat) refreshes tags pulled within SYNC_WINDOW; tags and manifests nobody pulled within
# EXPIRE go; a request waits at most FETCH_WAIT for a blob another request is fetching.
BERTH_CACHE_FRESHNESS_SECONDS = env_int("BERTH_CACHE_FRESHNESS_SECONDS", 600)
BERTH_CACHE_SYNC_INTERVAL = env_int("BERTH_CACHE_SYNC_INTERVAL", 3600, minimum=60)
BERTH_CACHE_SYNC_WINDOW = env_int("BERTH_CACHE_SYNC_WINDOW", 7 * 86400, minimum=60)
BERTH_CACHE_EXPIRE_SECONDS = env_int("BERTH_CACHE_EXPIRE_SECONDS", 30 * 86400, minimum=3600)
BERTH_CACHE_FETCH_WAIT = env_float("BERTH_CACHE_FETCH_WAIT", 300.0, minimum=1.0)
# Replication (registry.replication): every repository of every rule is checked every
# INTERVAL seconds (on the beat) besides after each push and delete; a failing run is retried
# RETRIES times with backoff; a run holds its repository for LEASE seconds at a time
# (renewed while it works: a run that died frees it after that long).
BERTH_REPLICATION_INTERVAL = env_int("BERTH_REPLICATION_INTERVAL", 3600, minimum=60)
BERTH_REPLICATION_RETRIES = env_int("BERTH_REPLICATION_RETRIES", 8)
BERTH_REPLICATION_LEASE_SECONDS = env_int("BERTH_REPLICATION_LEASE_SECONDS", 300, minimum=2)
# Encrypts the credentials rules keep for other registries (registry.upstream.vault); several
# keys, comma-separated, the first current. Empty: a key derived from SECRET_KEY.
BERTH_CREDENTIALS_KEY = env_secret("BERTH_CREDENTIALS_KEY") or ""

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

# Storage limits (registry.quotas): the largest blob, and what one namespace may hold (a
# namespace's own quota, set by staff in the admin, overrides the default; 0: no limit).
BERTH_BLOB_MAX_BYTES = env_int("BERTH_BLOB_MAX_BYTES", 10 * 1024**3)
BERTH_NAMESPACE_QUOTA_BYTES = env_int("BERTH_NAMESPACE_QUOTA_BYTES", 50 * 1024**3)

# Rate limits ("COUNT/PERIOD", e.g. 10/minute, 100/hour, 5/15m; 0 turns one off), counted
# in the shared cache. Failed sign-ins (/v2/ Basic, /token, the sign-in page, the admin)
# per client address and per username; password reset mails per address and per email;
# saves of a repository's catalog page per user; rescans asked for per user.
BERTH_RATELIMIT_LOGINS = parse_rate(
    env_str("BERTH_RATELIMIT_LOGINS", "10/15m"), setting="BERTH_RATELIMIT_LOGINS"
)
BERTH_RATELIMIT_PASSWORD_RESETS = parse_rate(
    env_str("BERTH_RATELIMIT_PASSWORD_RESETS", "5/hour"), setting="BERTH_RATELIMIT_PASSWORD_RESETS"
)
BERTH_RATELIMIT_EDITS = parse_rate(
    env_str("BERTH_RATELIMIT_EDITS", "60/hour"), setting="BERTH_RATELIMIT_EDITS"
)
# Archive imports (gallery.publishing): the largest upload, what it may decompress to, and
# how many entries it may hold.
BERTH_IMPORT_MAX_UPLOAD_BYTES = env_int("BERTH_IMPORT_MAX_UPLOAD_BYTES", 16 * 1024**3)
BERTH_IMPORT_MAX_BYTES = env_int("BERTH_IMPORT_MAX_BYTES", 32 * 1024**3)
BERTH_IMPORT_MAX_ENTRIES = env_int("BERTH_IMPORT_MAX_ENTRIES", 100_000, minimum=1)
# Live Markdown previews per user (each renders in a child process).
BERTH_RATELIMIT_PREVIEWS = parse_rate(
    env_str("BERTH_RATELIMIT_PREVIEWS", "120/10m"), setting="BERTH_RATELIMIT_PREVIEWS"
)
# Rescans of an image a publisher asks for, per user.
BERTH_RATELIMIT_RESCANS = parse_rate(
    env_str("BERTH_RATELIMIT_RESCANS", "20/hour"), setting="BERTH_RATELIMIT_RESCANS"
)
# Manifest pulls per client address (anonymous) and per user, and upload starts per user.
BERTH_RATELIMIT_ANONYMOUS_PULLS = parse_rate(
    env_str("BERTH_RATELIMIT_ANONYMOUS_PULLS", "1000/hour"),
    setting="BERTH_RATELIMIT_ANONYMOUS_PULLS",
)
BERTH_RATELIMIT_USER_PULLS = parse_rate(
    env_str("BERTH_RATELIMIT_USER_PULLS", "0"), setting="BERTH_RATELIMIT_USER_PULLS"
)
BERTH_RATELIMIT_UPLOADS = parse_rate(
    env_str("BERTH_RATELIMIT_UPLOADS", "10000/hour"), setting="BERTH_RATELIMIT_UPLOADS"
)
# Proxies whose X-Forwarded-For names the client (addresses or networks). Behind the
# documented proxy set-up (BERTH_BEHIND_PROXY) the proxy on this machine is trusted.
BERTH_TRUSTED_PROXIES = env_list(
    "BERTH_TRUSTED_PROXIES", ["127.0.0.1", "::1"] if env_bool("BERTH_BEHIND_PROXY") else []
)
try:
    for _network in BERTH_TRUSTED_PROXIES:
        ipaddress.ip_network(_network, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"BERTH_TRUSTED_PROXIES: {exc}") from None
# A manifest GET is counted as a download once per client (address and token or account),
# repository and tag within this many seconds: a loop of GETs is one pull.
BERTH_PULL_COUNT_WINDOW = env_int("BERTH_PULL_COUNT_WINDOW", 60)
# Pull counts are written every this many seconds by each web process (0: only when 5,000
# pile up and at exit). Downloads reach the catalog this long plus BERTH_INDEX_DELAY later.
BERTH_PULL_FLUSH_SECONDS = env_float("BERTH_PULL_FLUSH_SECONDS", 10.0)

# Called (dotted path) with a registry.services.RegistryEvent after every push and delete,
# and when a batch of pull counts is written. The gallery indexes the catalog from it.
BERTH_REGISTRY_HOOK = env_str("BERTH_REGISTRY_HOOK", "gallery.tasks.on_registry_event")

# Vulnerability scanning (registry/scanning): every pushed image is scanned unless turned off.
# The caps bound what one image's layers may cost; a layer breaking one fails its scan.
BERTH_SCAN_ON_PUSH = env_bool("BERTH_SCAN_ON_PUSH", True)
BERTH_SCAN_MAX_BYTES = env_int("BERTH_SCAN_MAX_BYTES", 16 * 1024**3, minimum=1024**2)
BERTH_SCAN_MAX_ENTRIES = env_int("BERTH_SCAN_MAX_ENTRIES", 1_000_000, minimum=1000)
BERTH_SCAN_MAX_FILE_BYTES = env_int("BERTH_SCAN_MAX_FILE_BYTES", 256 * 1024**2, minimum=1024**2)
BERTH_SCAN_MAX_KEPT_BYTES = env_int("BERTH_SCAN_MAX_KEPT_BYTES", 512 * 1024**2, minimum=1024**2)
# A scan queued or started this long ago without finishing is taken to be lost, and requeued.
BERTH_SCAN_STALE_SECONDS = env_int("BERTH_SCAN_STALE_SECONDS", 3600, minimum=60)

# Search totals and facet counts are cached this long per query and audience (0: never).
BERTH_SEARCH_CACHE_SECONDS = env_int("BERTH_SEARCH_CACHE_SECONDS", 60)
# Totals and facet counts of a text query are exact up to this many matches, "10,000+" above:
# counting costs the database about a microsecond per match (more when its cache is small).
BERTH_SEARCH_EXACT_UP_TO = env_int("BERTH_SEARCH_EXACT_UP_TO", 10_000)

# -- the REST API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Basic first: an unauthenticated write answers 401 with its challenge, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "gallery.api.authentication.BasicCredentials",
        "gallery.api.authentication.AccessTokenBearer",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["gallery.api.authentication.TokenScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["gallery.api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "gallery.api.authentication.AnonymousRate",
        "gallery.api.authentication.UserRate",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("BERTH_API_ANONYMOUS_RATE", "120/minute"),
        "user": env_str("BERTH_API_USER_RATE", "1200/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "gallery.api.schema.BerthSchema",
    "EXCEPTION_HANDLER": "gallery.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `format` is a query parameter of our own (the audit log's csv), not a renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Berth API",
    "DESCRIPTION": (
        "Search and read the catalog of a Berth registry; create and edit repositories, delete "
        "tags, and manage organizations, robots, access tokens, replication and cache rules. "
        "Sign in with a session, HTTP Basic (a password or an access token) or "
        "`Authorization: Bearer berth_…`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gallery.api.schema.error_responses",
    ],
    # Swagger UI's files come from Berth itself (no CDN): the CSP stays strict.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Any site may read the catalog from a browser (GET, no credentials); nothing else.
CORS_URLS_REGEX = r"^/api/v1/.*$"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]
CORS_EXPOSE_HEADERS = ["ETag", "Last-Modified", "Retry-After"]

# -- Celery -------------------------------------------------------------------------------------

# Without REDIS_URL tasks run eagerly in the process that enqueues them (no broker, no worker).
# An in-process broker needs a host name, or kombu warns about it on every task.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
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
# Embedded mode only: run background work (mails) inside the request instead of a thread of
# the web process, as the test suite does.
BERTH_BACKGROUND_INLINE = env_bool("BERTH_BACKGROUND_INLINE", False)
# Installations (or test runs) sharing one Redis keep their tasks apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env_str("BERTH_CELERY_QUEUE", "berth")
# `celery -A gallery beat` sends these; a worker runs them.
CELERY_BEAT_SCHEDULE = {
    "collect-garbage": {
        "task": "registry.storage.tasks.collect_garbage",
        "schedule": float(BERTH_GC_INTERVAL),
    },
    "purge-uploads": {"task": "registry.storage.tasks.purge_uploads", "schedule": 600.0},
    "sync-cache": {
        "task": "registry.cache.tasks.sync_recent",
        "schedule": float(BERTH_CACHE_SYNC_INTERVAL),
    },
    "expire-cache": {"task": "registry.cache.tasks.expire_unused", "schedule": 3600.0},
    "replicate-all": {
        "task": "registry.replication.tasks.replicate_all",
        "schedule": float(BERTH_REPLICATION_INTERVAL),
    },
}

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

# Who may read /metrics (client addresses or networks; behind a proxy, see
# BERTH_TRUSTED_PROXIES): loopback and private networks by default.
BERTH_METRICS_NETWORKS = env_list(
    "BERTH_METRICS_NETWORKS",
    ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)

# "plain" lines, or "json": one object per line (registry.ops.logs), both with request ids.
BERTH_LOG_FORMAT = env_str("BERTH_LOG_FORMAT", "plain").strip().lower()
if BERTH_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"BERTH_LOG_FORMAT={BERTH_LOG_FORMAT!r} is not plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "registry.ops.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "registry.ops.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": BERTH_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "celery.app.trace": {"level": "WARNING"},  # one line per task is noise
    },
}
