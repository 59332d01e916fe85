"""Settings, all from the environment (django-environ); the defaults suit a developer's laptop.

Production adds its hardening in ``studio/production.py``.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from venice.payments import is_loopback

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Django's debug pages show settings, SQL, local variables and POST data to whoever causes the
# error. `make run` is also how a small team tries Studio together, usually behind a proxy on the
# same host: every request then comes from loopback, so "bound to 127.0.0.1" proves nothing about
# who is looking. So DEBUG is off unless a developer asks for it, and asking is refused (below)
# wherever these settings say the server is shared: a trusted proxy, or a non-loopback host name.
DEBUG = env.bool("DEBUG", default=False)
# The development key is refused by production.py; never used when DJANGO_SECRET_KEY is set.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-insecure-2d1c4f6e0b8a")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])


def _networks(values: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(value.strip(), strict=False) for value in values]
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None


# The proxies whose X-Forwarded-For is believed (addresses or networks, e.g. 127.0.0.1 for a
# proxy on the same host). Empty: the peer's own address is the client's (studio.signin).
TRUSTED_PROXIES = _networks(env.list("TRUSTED_PROXIES", default=[]))

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "testserver"}
if DEBUG and (TRUSTED_PROXIES or set(ALLOWED_HOSTS) - LOOPBACK_HOSTS):
    raise ImproperlyConfigured(
        "DEBUG is for one developer on loopback: with TRUSTED_PROXIES or ALLOWED_HOSTS beyond "
        "loopback the server is shared, and the debug page would show secrets to whoever errs."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "csp",
    "django_htmx",
    "django_q",
    "studio",
    "wallets",
    "jobs",
    "review",
    "sharing",
    "sounds",
    "alerts",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

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
                "studio.context_processors.studio",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Worker processes and the web server share the file: take the write lock at BEGIN so
        # read-then-write transactions serialise instead of failing with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that worker processes started by tests see the test database;
    # one per test run, so that runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions and the sign-in throttle live in the cache, so several web processes need a shared
# one: production refuses the per-process default (e.g. CACHE_URL=redis://host:6379/1, a
# database apart from the broker's).
CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://studio"),
}
DEFAULT_EXCEPTION_REPORTER_FILTER = "studio.debug.SecretsFilter"

# Sessions read from the cache first: the live-status poll runs every couple of seconds.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# --- sign-in limits (django-axes; studio/signin.py) ----------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked client before the password
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins allowed per key within AXES_COOLOFF_TIME of the last one. A username at one
# address is what a member mistyping meets; one address across usernames stops one attacker
# trying many accounts; one username across addresses stops many attackers trying one account,
# set high enough that one attacker (locked at his own address first) can never reach it.
SIGNIN_LIMITS = [
    (["username", "ip_address"], env.int("SIGNIN_FAILURES_PER_USERNAME_AND_ADDRESS", default=5)),
    ("ip_address", env.int("SIGNIN_FAILURES_PER_ADDRESS", default=20)),
    ("username", env.int("SIGNIN_FAILURES_PER_USERNAME", default=50)),
]
if any(limit < 1 for _parameter, limit in SIGNIN_LIMITS):
    raise ImproperlyConfigured("SIGNIN_FAILURES_*: at least 1")
AXES_LOCKOUT_PARAMETERS = [parameter for parameter, _limit in SIGNIN_LIMITS]
AXES_FAILURE_LIMIT = SIGNIN_LIMITS[0][1]  # the scale SignInLimits maps every limit onto
AXES_HANDLER = "studio.signin.SignInLimits"
AXES_CLIENT_IP_CALLABLE = "studio.signin.client_address"
AXES_USERNAME_CALLABLE = "studio.signin.username"
AXES_LOCKOUT_CALLABLE = "studio.signin.locked_out"
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_LOCK_MINUTES", default=15))
# Guesses while locked are refused unread and do not push the lock further away.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True  # that username at that address only (SignInLimits)
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins need no row each
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:generate"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Content-Security-Policy (django-csp) -------------------------------------------------------
# Scripts and styles only from our own static files: no inline script, no inline style, no
# eval (htmx's config, studio.js, sets allowEval off). An injected tag or attribute runs nothing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # the funding address's QR code is a data: SVG
        "media-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served straight from the apps' and static/ folders with DEBUG off too (`make run` needs no
# collectstatic); production.py serves the collected, hashed files instead.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    # S3-compatible audio storage (needs the optional `s3` extra: boto3).
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "default_acl": "private",
            "querystring_auth": True,
        },
    }

# --- mail (budget requests: admins hear of them, members of the answer) ----------------------
# EMAIL_URL as django-environ reads it (smtp+tls://user:password@host:587); the console otherwise.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = SERVER_EMAIL = env.str("STUDIO_FROM_EMAIL", default="studio@localhost")
ADMINS = [("", address) for address in env.list("STUDIO_ADMIN_EMAILS", default=[])]

# --- the worker -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "studio",
    "workers": env.int("Q_WORKERS", default=4),
    # The poll loop runs for POLL_LOOP_SECONDS inside one task; the timeout must outlast it and
    # "retry" must exceed the timeout or django-q2 hands a running task to a second worker.
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Worker",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.1

# --- Venice -----------------------------------------------------------------------------------
VENICE_API_BASE = env.str("VENICE_API_BASE", default="http://127.0.0.1:8402/api/v1")
VENICE_TIMEOUT_S = env.float("VENICE_TIMEOUT_S", default=30.0)
# How long Venice keeps a finished job's audio: a paid job is polled through any outage shorter.
VENICE_MEDIA_RETENTION_S = env.float("VENICE_MEDIA_RETENTION_S", default=86400.0)


# The "Sandbox" banner: shown whenever Studio talks to the local simulator rather than Venice.
VENICE_IS_SANDBOX = is_loopback(urlsplit(VENICE_API_BASE).hostname or "")
# The chain that proves top-ups. Only the sandbox has a default (its own local chain); with the
# real Venice it must be set, or `manage.py check` fails (studio/checks.py): receipts checked
# against the sandbox's chain would prove nothing.
_SANDBOX_RPC = VENICE_API_BASE.rstrip("/").removesuffix("/api/v1") + "/sandbox/rpc"
CHAIN_RPC_URL = env.str("CHAIN_RPC_URL", default=_SANDBOX_RPC if VENICE_IS_SANDBOX else "")

# Fernet keys for secrets at rest, newest first; older keys still decrypt until rotated away.
# The default only exists so a fresh checkout runs; production.py refuses it.
DEV_ENCRYPTION_KEY = "c3R1ZGlvLWRldi1rZXktcHVibGljLW5vdC1zZWNyZXQ="
STUDIO_ENCRYPTION_KEYS = env.list("STUDIO_ENCRYPTION_KEYS", default=[DEV_ENCRYPTION_KEY])

STUDIO_DEFAULT_MEMBER_BUDGET_USD = env.str("STUDIO_DEFAULT_MEMBER_BUDGET_USD", default="25.00")
STUDIO_DEFAULT_TEAM_BUDGET_USD = env.str("STUDIO_DEFAULT_TEAM_BUDGET_USD", default="500.00")

# Requests a client address may make to share links (pages and audio) a minute (sharing.links).
SHARE_RATE_PER_MINUTE = env.int("SHARE_RATE_PER_MINUTE", default=60)

# Polling (see README, "How polling works").
POLL_LOOP_SECONDS = env.float("POLL_LOOP_SECONDS", default=50.0)
# A finished job is noticed within about this long (jobs/schedule.py). The wait is even over the
# step, so 95 % of jobs are noticed within 0.95 x 2.2 = 2.1 s, leaving 0.4 s of the 2.5 s
# target for the download (docs/benchmarks.md); a shorter step costs calls in proportion.
POLL_DETECT_SECONDS = env.float("POLL_DETECT_SECONDS", default=2.2)
RETRIEVE_PER_MINUTE = env.int("RETRIEVE_PER_MINUTE", default=110)  # Venice allows 120
QUEUE_PER_MINUTE = env.int("QUEUE_PER_MINUTE", default=38)  # Venice allows 40
if not (1 <= RETRIEVE_PER_MINUTE <= 10_000 and 1 <= QUEUE_PER_MINUTE <= 10_000):
    # Each call a minute is a database row (wallets.throttle).
    raise ImproperlyConfigured("RETRIEVE_PER_MINUTE and QUEUE_PER_MINUTE: from 1 to 10000")
# The x402 routes' own limits per wallet (§8), kept below across processes: they answer 429
# with no Retry-After. A ledger or balance read waits up to X402_PACE_WAIT_S for its turn.
BALANCE_PER_MINUTE = env.int("BALANCE_PER_MINUTE", default=28)  # Venice allows 30
TRANSACTIONS_PER_MINUTE = env.int("TRANSACTIONS_PER_MINUTE", default=18)  # Venice allows 20
X402_PACE_WAIT_S = env.float("X402_PACE_WAIT_S", default=90.0)
# After Venice refuses a top-up, the worker signs no new one for this long (wallets.payments).
TOPUP_REFUSAL_PAUSE_S = env.float("TOPUP_REFUSAL_PAUSE_S", default=300.0)
TOPUP_SETTLEMENT_FAILED_PAUSE_S = env.float("TOPUP_SETTLEMENT_FAILED_PAUSE_S", default=30.0)
# Venice's rate-limit window; only a benchmark running the sandbox faster than life changes it.
VENICE_RATE_WINDOW_S = env.float("VENICE_RATE_WINDOW_S", default=60.0)
IN_FLIGHT_PER_WALLET = env.int("IN_FLIGHT_PER_WALLET", default=5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Failed sign-ins and lockouts are warnings; every success need not be logged.
        "axes": {"level": "WARNING"},
    },
}

# --- operations: health, metrics, logs, second factor (issue 16) ------------------------------
INSTALLED_APPS += [
    "ops",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]
# The request id first, so every later line carries it; the second factor right after sign-in.
MIDDLEWARE.insert(0, "ops.middleware.RequestIdMiddleware")
_AUTH_AT = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
MIDDLEWARE[_AUTH_AT + 1 : _AUTH_AT + 1] = [
    "django_otp.middleware.OTPMiddleware",
    "studio.twofactor.StaffSecondFactorMiddleware",
]
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is switched off.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /healthz calls the worker degraded when its heartbeat (written by the every-minute sweep) is
# older than this, and the wallet sync (every 5 minutes) when a wallet's is.
HEALTH_WORKER_MAX_AGE_S = env.int("HEALTH_WORKER_MAX_AGE_S", default=180)
HEALTH_SYNC_MAX_AGE_S = env.int("HEALTH_SYNC_MAX_AGE_S", default=900)
# The issuer name in the authenticator app.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Studio")
# Where collectstatic gathers files for whitenoise (a server's own folder, or a test's).
STATIC_ROOT = env.path("STATIC_ROOT", default=str(STATIC_ROOT))
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING["filters"] = {"context": {"()": "ops.logs.ContextFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["context"]
LOGGING["formatters"]["json"] = {"()": "ops.logs.JsonFormatter"}
if LOG_FORMAT == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"
