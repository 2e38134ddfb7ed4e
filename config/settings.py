"""Answerable settings.

Every difference between a laptop and production is read from the environment.
With nothing set, the embedded defaults apply: SQLite, local-memory cache, in-memory
channel layer, Celery tasks run eagerly and mail goes to the console.
"""

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from exc


DEBUG = env_bool("DEBUG", True)


def _development_secret(name: str) -> str:
    """A generated secret kept in var/ so that sessions, receipts and vote hashes
    survive a restart of the development server. Never used with DEBUG off."""
    path = BASE_DIR / "var" / "development-secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if name not in stored:
        stored[name] = secrets.token_urlsafe(50)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
    return stored[name]


def secret_setting(name: str) -> str:
    value = os.environ.get(name, "")
    if value:
        if len(value) < 32:
            raise ImproperlyConfigured(f"{name} must be at least 32 characters long")
        return value
    if DEBUG:
        return _development_secret(name)
    raise ImproperlyConfigured(f"{name} must be set in the environment when DEBUG is off")


SECRET_KEY = secret_setting("SECRET_KEY")
# Keys the vote hashes and receipt hashes. It lives only in the environment, never in
# the database, so a copy of the database alone cannot link anonymous work to anyone.
ANONYMITY_KEY = secret_setting("ANONYMITY_KEY")

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "concerns",
    "meetings",
    "ledger",
    "responses",
    "notifications",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Lets the no-referrer anonymous pages post on their token alone (config/csrf.py).
    "config.csrf.NullOriginCsrfMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # No persistent connections: Django's documentation says to disable them under ASGI
    # (config/handler.py gives each request's connection back when it ends).
    # DATABASE_POOL=1 uses psycopg's pool.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if env_bool("DATABASE_POOL", False):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 20}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "answerable.sqlite3")),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

# How many requests run Django code at once in one ASGI server process (config/handler.py);
# the others wait on the event loop. More threads than this fight over the GIL.
ASGI_THREADS = env_int("ASGI_THREADS", 4)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:sign-in"
LOGIN_REDIRECT_URL = "concerns:list"
LOGOUT_REDIRECT_URL = "accounts:sign-in"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Single sign-on through OpenID Connect (mozilla-django-oidc). Off, with nothing
# changed, unless OIDC_RP_CLIENT_ID is set; password sign-in stays available either way.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "") or "single sign-on"
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "") or "RS256"
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "") or "openid email profile"
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER", "")
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "") or "groups"
OIDC_DEPARTMENT_CLAIM = os.environ.get("OIDC_DEPARTMENT_CLAIM", "")
# Tokens are never kept: the session holds only the signed-in person.
OIDC_STORE_ACCESS_TOKEN = False
OIDC_STORE_ID_TOKEN = False
OIDC_CALLBACK_CLASS = "accounts.oidc.SignInCallbackView"


def _role_groups(text: str) -> dict[str, list[str]]:
    """Reads "admin=answerable-admins,leader=answerable-leaders" as {role: [groups]}."""
    mapping: dict[str, list[str]] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        role, _, group = (piece.strip() for piece in entry.partition("="))
        # The roles of accounts.models.Role (the app registry is not ready here).
        if role not in {"employee", "moderator", "leader", "admin"} or not group:
            raise ImproperlyConfigured(
                f"OIDC_ROLE_GROUPS: {entry!r} is not role=group with role one of "
                "employee, moderator, leader, admin"
            )
        mapping.setdefault(role, []).append(group)
    return mapping


OIDC_ROLE_GROUPS = _role_groups(os.environ.get("OIDC_ROLE_GROUPS", ""))
if OIDC_ENABLED:
    _oidc_missing = [
        name
        for name in (
            "OIDC_RP_CLIENT_SECRET",
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_JWKS_ENDPOINT",
        )
        if not os.environ.get(name)
    ]
    if _oidc_missing:
        raise ImproperlyConfigured(
            "Single sign-on is on (OIDC_RP_CLIENT_ID is set) but these are missing: "
            + ", ".join(_oidc_missing)
        )
    OIDC_RP_CLIENT_SECRET = os.environ["OIDC_RP_CLIENT_SECRET"]
    OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ["OIDC_OP_AUTHORIZATION_ENDPOINT"]
    OIDC_OP_TOKEN_ENDPOINT = os.environ["OIDC_OP_TOKEN_ENDPOINT"]
    OIDC_OP_USER_ENDPOINT = os.environ["OIDC_OP_USER_ENDPOINT"]
    OIDC_OP_JWKS_ENDPOINT = os.environ["OIDC_OP_JWKS_ENDPOINT"]
    AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "accounts.oidc.SignInBackend",
    ]

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, degrading instead of failing while Redis is down.
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "answerable",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # CHANNEL_LAYER_PUBSUB=1: one Redis PUBLISH per group message, nothing
            # kept in Redis. With one relay per process and meeting (meetings/relay.py)
            # both layers cost the same per update (bench/fanout.py --layer).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"
            if env_bool("CHANNEL_LAYER_PUBSUB", False)
            else "channels_redis.core.RedisChannelLayer",
            # Longer than channels_redis's own 5 s wait for a message, so idle live
            # meeting sockets are not dropped by redis-py's read timeout.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": "answerable",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Sessions live in the database so that signing out really ends them; nothing about
# anonymous work is ever written to a session.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL = env_bool("SECURE_SSL", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
# "same-origin", not "no-referrer": with no-referrer Chromium sends `Origin: null` on
# same-site form posts, which CSRF protection must refuse. Nothing leaves the site.
SECURE_REFERRER_POLICY = "same-origin"
# No inline scripts or styles anywhere: everything comes from our own static files.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A killed worker's unacknowledged tasks come back after this; it must stay longer than
# the longest retry countdown (notifications BACKOFF_SECONDS, 20 min), or waiting
# retries run twice. Mail does not wait for it: the delivery sweep below queues again
# what a lost worker left unsent after DELIVERY_STALE_SECONDS.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60 * 60}
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE = {
    "enforce-response-deadlines": {
        "task": "concerns.tasks.enforce_response_deadlines",
        "schedule": crontab(minute=5),
    },
    "mark-missed-commitments": {
        "task": "responses.tasks.mark_missed_commitments",
        "schedule": crontab(minute=10),
    },
    "daily-digests": {
        "task": "notifications.tasks.schedule_digests",
        "schedule": crontab(hour=7, minute=0),
        "args": ["daily"],
    },
    "weekly-digests": {
        "task": "notifications.tasks.schedule_digests",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
        "args": ["weekly"],
    },
    "webhook-sweep": {
        "task": "webhooks.tasks.sweep_webhooks",
        "schedule": 60.0,
    },
    "delivery-sweep": {
        "task": "notifications.tasks.sweep_deliveries",
        "schedule": 60.0,
    },
    "reminders": {
        "task": "notifications.tasks.schedule_reminders",
        "schedule": crontab(minute=15),
    },
    "publish-ledger-head": {
        "task": "ledger.tasks.publish_head",
        "schedule": crontab(hour=6, minute=0),
    },
    # Once a day, so entries about anonymous submitters' own actions are appended
    # in one shuffled batch and the ledger's order cannot date them.
    "flush-deferred-ledger-entries": {
        "task": "ledger.tasks.flush_deferred_entries",
        "schedule": crontab(hour=3, minute=0),
    },
}
CELERY_ACCEPT_CONTENT = ["json"]
# Mail still unsent this long after it was queued, claimed or due for a retry is
# queued again by the delivery sweep (a worker died with it). Longer than one mail can
# take to send (EMAIL timeout 30 s per SMTP step).
DELIVERY_STALE_SECONDS = env_int("DELIVERY_STALE_SECONDS", 5 * 60)

# With EMAIL_HOST set, mail goes to that SMTP server; otherwise to the console.
# With DEBUG off, mail goes to an SMTP server (localhost unless EMAIL_HOST says otherwise).
_email_host = os.environ.get("EMAIL_HOST", "" if DEBUG else "localhost")
if _email_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": env_int("EMAIL_PORT", 25),
                "username": os.environ.get("EMAIL_USER", ""),
                "password": os.environ.get("EMAIL_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
                "timeout": 30,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
# Links in mail point here; no request is at hand when a worker builds a digest.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
MAIL_DOMAIN = os.environ.get("MAIL_DOMAIN", "answerable.localhost")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Answerable <answerable@localhost>")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# A group smaller than this is never shown in a breakdown or next to an anonymous item.
ANONYMITY_MIN_GROUP_SIZE = env_int("ANONYMITY_MIN_GROUP_SIZE", 5)


def _batch_hours(value: str) -> tuple[int, ...]:
    try:
        hours = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"PUBLICATION_BATCH_HOURS must be hours 0-23 separated by commas, got {value!r}"
        ) from exc
    if not hours or not all(0 <= hour <= 23 for hour in hours):
        raise ImproperlyConfigured(
            f"PUBLICATION_BATCH_HOURS must be hours 0-23 separated by commas, got {value!r}"
        )
    return hours


# Approved anonymous concerns, and responses made due by support, are published in
# shuffled batches at these hours (local time), never at the moment of the act.
PUBLICATION_BATCH_HOURS = _batch_hours(os.environ.get("PUBLICATION_BATCH_HOURS", "9,13,17"))
CELERY_BEAT_SCHEDULE["publication-batch"] = {
    "task": "concerns.tasks.publish_batch",
    "schedule": crontab(hour=",".join(map(str, PUBLICATION_BATCH_HOURS)), minute=0),
}
RECEIPT_LOOKUPS_PER_MINUTE = env_int("RECEIPT_LOOKUPS_PER_MINUTE", 10)
RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE = env_int("RECEIPT_LOOKUPS_PER_MINUTE_SITEWIDE", 300)
PUBLIC_SUBMISSIONS_PER_HOUR = env_int("PUBLIC_SUBMISSIONS_PER_HOUR", 5)
SUBMISSIONS_PER_HOUR = env_int("SUBMISSIONS_PER_HOUR", 20)
VOTES_PER_MINUTE = env_int("VOTES_PER_MINUTE", 120)
LIVE_QUESTIONS_PER_HOUR = env_int("LIVE_QUESTIONS_PER_HOUR", 10)
SIGN_INS_PER_MINUTE = env_int("SIGN_INS_PER_MINUTE", 10)
CONCERNS_PER_PAGE = 25

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"no_client_address": {"()": "config.log_filters.DropClientAddress"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # SQL parameters carry session keys and user ids next to anonymous writes, so
        # the SQL log is never emitted, even with DEBUG on.
        "django.db.backends": {"level": "WARNING", "propagate": True},
        "django.channels.server": {"filters": ["no_client_address"], "propagate": True},
        # uvicorn's access log and its "WebSocket ... [accepted]" lines carry the client
        # address next to the path and time: never emitted, whatever its flags say.
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "uvicorn.error": {"level": "WARNING"},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.ExactRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api_parsers.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Webhook receivers on loopback or private networks are refused unless allowed here.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
API_REQUESTS_PER_PERIOD = env_int("API_REQUESTS_PER_PERIOD", 600)
API_THROTTLE_PERIOD = env_int("API_THROTTLE_PERIOD", 60)
SPECTACULAR_SETTINGS = {
    "TITLE": "Answerable API",
    "DESCRIPTION": "Concerns, votes, receipts, written responses, commitments, meetings and "
    "the verifiable ledger. Errors are application/problem+json (RFC 9457).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.document_problems",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MeetingStatusEnum": "meetings.models.MeetingStatus",
        "QuestionStatusEnum": "meetings.models.QuestionStatus",
    },
}
