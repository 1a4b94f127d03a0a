"""Django settings, all read from environment variables (see docs/configuration.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from opsduty.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("OPSDUTY_DEBUG", False)

SECRET_KEY = env_secret("OPSDUTY_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("OPSDUTY_SECRET_KEY (or OPSDUTY_SECRET_KEY_FILE) must be set")
    SECRET_KEY = "insecure-development-key-only-used-with-OPSDUTY_DEBUG=1"  # noqa: S105

ALLOWED_HOSTS = env_list("OPSDUTY_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("OPSDUTY_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "axes",
    "django_htmx",
    "csp",
    "auditlog",
    "opsduty",
    "signals",
    "processing",
    "incidents",
    "escalations",
    "analytics",
    "statuspages",
    "integrations.twilio",
    "integrations.slack",
    "integrations.scim",
    # Single sign-on (integrations/sso/, docs/accounts.md): allauth runs the OpenID Connect
    # and SAML flows; its own sign-in and sign-up pages are not routed.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "integrations.sso",
]

MIDDLEWARE = [
    # First: a Host that is a status page's custom domain is let through to that page's own
    # URLconf (only the configured domains; statuspages/public/middleware.py).
    "statuspages.public.middleware.StatusPageDomainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "opsduty.middleware.NulRefusalMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "opsduty.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "opsduty.middleware.OrganizationMiddleware",
    # Who changes the configuration, and from where (the audit log, opsduty/audit.py).
    "opsduty.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # allauth requires it: it turns allauth's ImmediateHttpResponse into the response.
    "allauth.account.middleware.AccountMiddleware",
    # Axes must be last: it turns a lockout raised during authenticate() into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsduty.urls"
WSGI_APPLICATION = "opsduty.wsgi.application"

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
                "opsduty.context_processors.organization",
                "incidents.live.context_processors.live",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Data stores ---------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "postgres://opsduty@127.0.0.1:15432/opsduty")
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("OPSDUTY_DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
# Server-side parameter binding: psycopg sends parameters apart from the query text instead
# of quoting them into it in Python, which was a third of the CPU of a short query.
DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = env_bool(
    "OPSDUTY_DB_SERVER_SIDE_BINDING", True
)
# Outages (docs/operations.md): a connection attempt to an unreachable server gives up after
# OPSDUTY_DB_CONNECT_TIMEOUT seconds (libpq would wait for the kernel, minutes), and TCP
# keepalives notice a connection whose server side vanished without a FIN. A connection the
# server closed (PgBouncer or PostgreSQL restarted) is replaced by the health check above
# at the next request or task.
DATABASES["default"]["OPTIONS"].update(
    {
        "connect_timeout": env_int("OPSDUTY_DB_CONNECT_TIMEOUT", 5),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
)
# Behind PgBouncer in transaction mode (docs/scaling.md), a server connection is ours for one
# transaction only, and the next one may run on another. Nothing may live in the session
# between transactions: no cursor outliving its transaction (Django's `.iterator()` declares
# a WITH HOLD cursor in autocommit; with this, the whole result comes in one round trip) and
# no session settings (the drain sets `synchronous_commit` per transaction instead).
OPSDUTY_DB_PGBOUNCER = env_bool("OPSDUTY_DB_PGBOUNCER", False)
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = OPSDUTY_DB_PGBOUNCER
# Named prepared statements are kept by one server session. PgBouncer follows them across
# server connections only from 1.21 (`max_prepared_statements`); Debian 12 ships 1.18. On
# (without PgBouncer), the hot statements that `opsduty.rawsql.prepared` lists (the
# pipeline's, the escalation steps', the analytics upkeep's) are prepared, so PostgreSQL
# neither parses nor plans them again each time; so are the webhook receiver's INSERT and
# the check-in's statements. Nothing else: psycopg's automatic preparing stays off
# (Django's default, `prepare_threshold` None), because a generic plan of an ad hoc query
# can be far worse than its custom one (the analytics by service page at 2,000 services:
# p99 170 ms -> 6.7 s when every statement was prepared). Off, nothing is prepared.
# Parameters stay bound server-side either way: unnamed statements live within one round
# trip, which PgBouncer passes whole.
OPSDUTY_DB_PREPARED_STATEMENTS = env_bool(
    "OPSDUTY_DB_PREPARED_STATEMENTS", not OPSDUTY_DB_PGBOUNCER
)
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:16379/0")
# The test suite under pytest-xdist (`make test` runs two processes): each process gets a
# Redis database of its own (gw0 -> 1, gw1 -> 2, ...), as pytest-django gives each its own
# PostgreSQL database, so that one's cache clear, broker queues and inbox are not the
# other's. The processes a test starts inherit the choice (and any REDIS_URL it sets).
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER.startswith("gw") and os.environ.get("OPSDUTY_REDIS_DB_OF") != _XDIST_WORKER:
    REDIS_URL = urlsplit(REDIS_URL)._replace(path=f"/{int(_XDIST_WORKER[2:]) + 1}").geturl()
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["OPSDUTY_REDIS_DB_OF"] = _XDIST_WORKER
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "opsduty",
        # Redis down must cost a request a fraction of a second, not a hang (docs/operations.md).
        "OPTIONS": {
            "socket_connect_timeout": 1.0,
            "socket_timeout": 1.0,
            "socket_keepalive": True,
            "health_check_interval": 10,
        },
    }
}

# --- Accounts and sessions -----------------------------------------------------------------

AUTH_USER_MODEL = "opsduty.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "opsduty.auth.OrganizationEmailBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Emails are unique per organization, not globally; our backend authenticates with the
# organization domain as well, so Django's "USERNAME_FIELD should be unique" check does not apply.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

SESSION_COOKIE_AGE = env_int("OPSDUTY_SESSION_AGE_SECONDS", 14 * 24 * 3600)
# Behind a TLS-terminating proxy, X-Forwarded-Proto: https marks a request secure (only set
# this when the proxy overwrites that header: a client could send it otherwise).
BEHIND_TLS_PROXY = env_bool("OPSDUTY_BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Secure cookies and HSTS are on by default outside DEBUG. HSTS is only ever sent on a secure
# (HTTPS) answer, so a plain-HTTP development or test server is unaffected.
SECURE_COOKIES = env_bool("OPSDUTY_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("OPSDUTY_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("OPSDUTY_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("OPSDUTY_HSTS_INCLUDE_SUBDOMAINS", False)

# Content-Security-Policy (django-csp 4): no inline script or style and no eval. The one
# inline script (base.html) carries the request's nonce; dynamic positions and colours are
# set through the CSSOM by static/js/app.js (docs/security.md).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login throttling (django-axes): lock a (domain+email, IP) pair after repeated failures.
AXES_ENABLED = env_bool("OPSDUTY_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("OPSDUTY_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("OPSDUTY_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "opsduty.auth.axes_username"
AXES_LOCKOUT_CALLABLE = "opsduty.views.auth.login_locked_out"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Single sign-on (integrations/sso/): django-allauth serves only the protocol endpoints under
# /accounts/; who signs in is decided by our adapter, per organization. Local accounts of
# allauth are off (SOCIALACCOUNT_ONLY; our /login/ is the password sign-in), and its account
# tables are never used to find a person (email is unique per organization only: opsduty.User).
SOCIALACCOUNT_ONLY = True
SOCIALACCOUNT_ADAPTER = "integrations.sso.adapters.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {}
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
ACCOUNT_USER_MODEL_USERNAME_FIELD: str | None = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# "http" means "as the request came": allauth then builds the OpenID Connect redirect URI with
# request.build_absolute_uri, as the SAML URLs and the SSO settings page do, so the owner
# registers exactly what is sent (https behind a TLS proxy with OPSDUTY_BEHIND_TLS_PROXY).
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"
# Google Workspace's OpenID Connect issuer; the tests point it at a provider on loopback.
OPSDUTY_SSO_GOOGLE_SERVER_URL = env_str(
    "OPSDUTY_SSO_GOOGLE_SERVER_URL", "https://accounts.google.com"
).rstrip("/")


# --- Audit log (opsduty/audit.py, docs/accounts.md) -----------------------------------------

# django-auditlog writes our entry model (with the organization and the channel); the
# library's own table is never used, so its migrations are not run either.
AUDITLOG_LOGENTRY_MODEL = "opsduty.AuditLogEntry"
MIGRATION_MODULES = {"auditlog": None}
# A masked field's changes read "(hidden)", nothing of the value.
AUDITLOG_MASK_CALLABLE = "opsduty.audit.mask"
# A changed reference reads as the row's name ("Backend"), not its id.
AUDITLOG_USE_FK_STRING_REPRESENTATION = True
AUDITLOG_STORE_JSON_CHANGES = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
# No correlation header is read from clients.
AUDITLOG_CID_HEADER = None

# --- Abuse limits (opsduty/ratelimit.py, docs/security.md) ---------------------------------

# Fixed windows per key, counted in Redis; the `limits` notation ("120/minute", "20/hour"),
# "off" for none. A refused request answers 429 with Retry-After and never reaches PostgreSQL.
# A webhook or check-in refused for its rate limit (429) is answered after this many
# milliseconds: a client flooding as fast as it gets answers is slowed to a trickle, and the
# web process's time goes to other organizations' events (docs/security.md). 0: at once.
OPSDUTY_RATE_LIMIT_TARPIT_MS = env_int("OPSDUTY_RATE_LIMIT_TARPIT_MS", 250)
OPSDUTY_RATE_LIMITS: dict[str, str] = {
    # per heartbeat (its check-in key), both the ASGI fast path and the Django view
    "heartbeat_checkin": env_str("OPSDUTY_RATE_HEARTBEAT_CHECKIN", "120/minute"),
    # sign-in attempts (POST /login/) per client IP; django-axes also locks an email after
    # OPSDUTY_LOGIN_FAILURE_LIMIT failures
    "login": env_str("OPSDUTY_RATE_LOGIN", "30/minute"),
    # API tokens created per user (profile page, CLI and API alike)
    "api_token_create": env_str("OPSDUTY_RATE_API_TOKEN_CREATE", "20/hour"),
    # OAuth2 protocol endpoints (/oauth2/token/, revoke, introspect, authorize) per client IP
    "oauth": env_str("OPSDUTY_RATE_OAUTH", "60/minute"),
    # webcal feeds per feed token
    "calendar_feed": env_str("OPSDUTY_RATE_CALENDAR_FEED", "60/minute"),
    # the public OpenAPI document and Swagger UI per client IP
    "public": env_str("OPSDUTY_RATE_PUBLIC", "60/minute"),
    # Twilio's callbacks per account key, Slack's per client IP (both signed)
    "provider_callback": env_str("OPSDUTY_RATE_PROVIDER_CALLBACK", "1200/minute"),
    # a status page's subscribe form per client IP (each accepted post may send a mail)
    "statuspage_subscribe": env_str("OPSDUTY_RATE_STATUSPAGE_SUBSCRIBE", "10/hour"),
}

# --- API -----------------------------------------------------------------------------------

TWO_YEARS = 2 * 365 * 24 * 3600
OAUTH2_PROVIDER: dict[str, Any] = {
    "SCOPES": {"api": "Full API access", "api:v1": "REST API v1"},
    "DEFAULT_SCOPES": ["api:v1"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": TWO_YEARS,
    # django-oauth-toolkit ends a refresh token this long after its access token expires
    # (0 would mean "never"); 1 s makes it die with the access token: two years after issue.
    "REFRESH_TOKEN_EXPIRE_SECONDS": 1,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    # Access and refresh tokens are stored as their SHA-256 checksum only (RFC 9700 §4): a
    # database reader cannot use them. The value exists once, in the answer that issues it.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # Loads a personal token's last use with the token (no extra query per API request).
    "OAUTH2_VALIDATOR_CLASS": "opsduty.api.oauth.OAuth2Validator",
}

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["opsduty.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["opsduty.api.auth.HasApiScope"],
    "DEFAULT_PAGINATION_CLASS": "opsduty.api.pagination.RelayCursorPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["opsduty.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "opsduty.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["opsduty.api.auth.TokenRateThrottle"],
    # Per user, all their tokens together (DRF throttle in Redis): OPSDUTY_RATE_API, or its
    # older name OPSDUTY_API_RATE.
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("OPSDUTY_RATE_API", env_str("OPSDUTY_API_RATE", "1200/min"))
    },
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "OpsDuty API v1",
    "DESCRIPTION": "Wire-compatible with the public OpsDuty REST API v1.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_OAUTH2_CONFIG": {"usePkceWithAuthorizationCodeGrant": True},
    # One name for a choice set used by several serializers.
    "ENUM_NAME_OVERRIDES": {
        "BuiltinTemplateEnum": "processing.channels.models.BaseTemplate",
        # Status pages (spec §D.3), named as the client names them.
        "ComponentStatus": "statuspages.models.ComponentStatus",
        "IncidentStatus": "statuspages.models.NoticeStatus",
        "IncidentImpact": "statuspages.models.Impact",
        "StatusPageAccessMode": "statuspages.models.AccessMode",
    },
    # The default enum hook, then empty query values and the OpenAPI links (docs/api.md).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "opsduty.api.openapi.empty_query_values",
        "opsduty.api.openapi.operation_links",
    ],
}

# SCIM 2.0 provisioning (integrations/scim/, docs/accounts.md): django-scim2 at /scim/v2/ with
# this project's adapters, filters and per-organization bearer tokens.
SCIM_SERVICE_PROVIDER: dict[str, Any] = {
    "NETLOC": "localhost",  # unused: locations come from BASE_LOCATION_GETTER
    "AUTHENTICATION_SCHEMES": [{"type": "oauthbearertoken", "name": "Bearer token"}],
    "USER_ADAPTER": "integrations.scim.adapters.ScimUserAdapter",
    "GROUP_MODEL": "opsduty.models.Team",
    "GROUP_ADAPTER": "integrations.scim.adapters.ScimGroupAdapter",
    "USER_FILTER_PARSER": "integrations.scim.filters.UserFilter",
    "GROUP_FILTER_PARSER": "integrations.scim.filters.GroupFilter",
    "SERVICE_PROVIDER_CONFIG_MODEL": "integrations.scim.schemas.ServiceProviderConfig",
    "SCHEMAS_GETTER": "integrations.scim.schemas.schemas",
    "BASE_LOCATION_GETTER": "integrations.scim.locations.scim_base_url",
    "AUTH_CHECK_MIDDLEWARE": "integrations.scim.auth.ScimTokenAuth",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="OpsDuty SCIM"',
}

# --- Celery --------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost broker connection is re-established for as long as it takes (Celery's default gives
# up after 100 attempts and the worker exits): workers and beat outlive a Redis outage and
# resume without a restart (docs/operations.md).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES: int | None = None
CELERY_BROKER_CONNECTION_TIMEOUT = 4
# Redis redelivers unacknowledged tasks after this; keep it above the longest ETA we schedule
# so a delayed task is not delivered twice (the sweepers cover anything the broker loses).
# The socket options make a dead connection noticed: keepalives and a PING every
# health_check_interval seconds on an idle connection, time-outs above BRPOP's 1 s poll.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("OPSDUTY_VISIBILITY_TIMEOUT", 7200),
    "socket_connect_timeout": 4,
    "socket_timeout": 10,
    "socket_keepalive": True,
    "health_check_interval": 10,
    "retry_on_timeout": True,
}
CELERY_TASK_ALWAYS_EAGER = env_bool("OPSDUTY_CELERY_EAGER", False)
# Celery's Django fixup closes every database connection around every task unless this is
# set (then only every 2 x this many tasks); opsduty/celery.py applies CONN_MAX_AGE and the
# health checks around each task instead, as Django does around each request.
CELERY_DB_REUSE_MAX = env_int("OPSDUTY_CELERY_DB_REUSE_MAX", 5000)

# The length of an escalation policy's minute (wait steps, event windows). Only benchmarks
# shorten it; production keeps 60.
ESCALATION_MINUTE_SECONDS = env_int("OPSDUTY_ESCALATION_MINUTE_SECONDS", 60)
# Benchmarks only (bench/README.md, the analytics upkeep's cost): off, no incident change
# updates the analytics, which stay stale until `manage.py rebuild_analytics`.
OPSDUTY_ANALYTICS_UPKEEP = env_bool("OPSDUTY_ANALYTICS_UPKEEP", True)

# /readyz (opsduty/health.py, docs/operations.md): the checks whose failure answers 503 (the
# others only make the status "degraded"), the age over which a queue's oldest waiting task
# counts as late, and how long a sweeper may go without a run.
OPSDUTY_READYZ_REQUIRED = env_list("OPSDUTY_READYZ_REQUIRED", ["postgres"])
OPSDUTY_READYZ_QUEUE_MAX_AGE = env_int("OPSDUTY_READYZ_QUEUE_MAX_AGE", 60)
OPSDUTY_READYZ_TICK_MAX_AGE = env_int("OPSDUTY_READYZ_TICK_MAX_AGE", 60)
# A request body must arrive within this many seconds of the request (opsduty/request_body.py):
# a client sending it a byte at a time gets a 408 instead of holding a Django thread.
OPSDUTY_REQUEST_BODY_SECONDS = env_int("OPSDUTY_REQUEST_BODY_SECONDS", 15)

# --- Static files, email, i18n -------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/pico", NODE_MODULES / "@picocss" / "pico" / "css"),
    ("vendor/sortablejs", NODE_MODULES / "sortablejs"),
    ("vendor/chartjs", NODE_MODULES / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("OPSDUTY_STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# The development inbox (/dev/inbox/, opsduty/devmail.py): on with DEBUG unless said.
OPSDUTY_DEV_INBOX = env_bool("OPSDUTY_DEV_INBOX", DEBUG)
EMAIL_BACKEND = env_str(
    "OPSDUTY_EMAIL_BACKEND",
    "opsduty.devmail.InboxEmailBackend"
    if OPSDUTY_DEV_INBOX
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("OPSDUTY_EMAIL_HOST", "localhost")
# A notification email is sent under a 30 s lease (escalations/notifications/services.py LEASE):
# bound each wait for SMTP well below it.
EMAIL_TIMEOUT = env_int("OPSDUTY_EMAIL_TIMEOUT", 10)
EMAIL_PORT = env_int("OPSDUTY_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("OPSDUTY_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_secret("OPSDUTY_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("OPSDUTY_EMAIL_TLS", False)
# Links in notifications (emails) point here: the public address of the web server. The
# default is where `make run` serves (OPSDUTY_WEB_PORT); OPSDUTY_BASE_URL is its old name.
OPSDUTY_PUBLIC_URL = env_str(
    "OPSDUTY_PUBLIC_URL",
    env_str("OPSDUTY_BASE_URL", f"http://127.0.0.1:{env_int('OPSDUTY_WEB_PORT', 8000)}"),
).rstrip("/")
DEFAULT_FROM_EMAIL = env_str("OPSDUTY_EMAIL_FROM", "OpsDuty <opsduty@localhost>")

# --- Notification providers and telephony -------------------------------------------------

# The provider of each notification channel, by dotted path (escalations/notifications/
# providers/__init__.py `provider_for`): an app never imports an integration.
OPSDUTY_NOTIFICATION_PROVIDERS = {
    "email": "escalations.notifications.providers.email.EmailProvider",
    "sms": "integrations.twilio.providers.SmsProvider",
    "voice": "integrations.twilio.providers.VoiceProvider",
    "slack": "integrations.slack.providers.SlackProvider",
}
# Empty: the real Twilio. Otherwise the base URL of a stand-in that speaks its REST API (the
# development phone of `make run`, the test suite's fake): integrations/twilio/client.py.
OPSDUTY_TWILIO_API_URL = env_str("OPSDUTY_TWILIO_API_URL").rstrip("/")
# The development phone (/dev/phone/): on with DEBUG when a stand-in Twilio is configured.
OPSDUTY_DEV_PHONE = env_bool("OPSDUTY_DEV_PHONE", DEBUG and bool(OPSDUTY_TWILIO_API_URL))
# Slack (docs/slack.md): the self-hoster's own Slack app, created from
# docs/slack-app-manifest.yml. Its client id and secret (OAuth v2 install) and signing secret
# (every request Slack sends is checked with it). Empty client id: Slack is not offered.
OPSDUTY_SLACK_CLIENT_ID = env_str("OPSDUTY_SLACK_CLIENT_ID")
OPSDUTY_SLACK_CLIENT_SECRET = env_secret("OPSDUTY_SLACK_CLIENT_SECRET")
OPSDUTY_SLACK_SIGNING_SECRET = env_secret("OPSDUTY_SLACK_SIGNING_SECRET")
# Slack's Web API and OAuth pages; `make run` and the tests point them at the fake Slack
# (integrations/slack/fake/).
OPSDUTY_SLACK_API_URL = env_str("OPSDUTY_SLACK_API_URL", "https://slack.com/api/")
OPSDUTY_SLACK_AUTHORIZE_URL = env_str(
    "OPSDUTY_SLACK_AUTHORIZE_URL", "https://slack.com/oauth/v2/authorize"
)
# Slack allows about one message per second per channel, with short bursts: our pace.
OPSDUTY_SLACK_CHANNEL_INTERVAL_MS = env_int("OPSDUTY_SLACK_CHANNEL_INTERVAL_MS", 1000)
OPSDUTY_SLACK_CHANNEL_BURST = env_int("OPSDUTY_SLACK_CHANNEL_BURST", 4)
# The development Slack (`manage.py dev_slack`, the fake Slack of `make run`): bin/dev sets it.
OPSDUTY_DEV_SLACK = env_bool("OPSDUTY_DEV_SLACK", False)
# Secrets at rest (Twilio auth tokens, Slack bot tokens) are encrypted with Fernet keys
# (opsduty/crypto.py): a comma-separated list, the first encrypts, all decrypt (rotation).
# Unset: one key derived from SECRET_KEY.
OPSDUTY_ENCRYPTION_KEYS = [
    key.strip() for key in env_secret("OPSDUTY_ENCRYPTION_KEYS").split(",") if key.strip()
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging -------------------------------------------------------------------------------

LOG_FORMAT = env_str("OPSDUTY_LOG_FORMAT", "console")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "filters": {
        # Webhook keys, check-in keys and feed tokens are in URL paths (docs/security.md).
        "url_credentials": {"()": "opsduty.log_filters.UrlCredentialFilter"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["stderr"], "level": env_str("OPSDUTY_LOG_LEVEL", "INFO")},
    "loggers": {
        # Replace Django's own DEBUG console handler so each record is written once.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # The loggers that write request paths; uvicorn's access log goes through ours (one
        # format, JSON included) instead of its own handler.
        "django.request": {"filters": ["url_credentials"]},
        "django.server": {"filters": ["url_credentials"]},
        "uvicorn.access": {"filters": ["url_credentials"], "handlers": [], "propagate": True},
        "uvicorn.error": {"filters": ["url_credentials"]},
        "axes": {"level": "WARNING"},
        # The twilio SDK logs every request's URL and headers at INFO (never the token, but
        # ten lines per SMS): warnings only.
        "twilio": {"level": "WARNING"},
        # slack_sdk logs each request's body parameters at DEBUG (oauth.v2.access carries the
        # client secret): warnings only, whatever the root level.
        "slack_sdk": {"level": "WARNING"},
    },
}
if LOG_FORMAT not in LOGGING["formatters"]:
    raise ImproperlyConfigured("OPSDUTY_LOG_FORMAT must be 'console' or 'json'")
