"""Production: DEBUG off, HTTPS only, real secrets required. Served by gunicorn."""

from django.core.exceptions import ImproperlyConfigured

from .settings import *  # noqa: F403
from .settings import CACHES, DEV_ENCRYPTION_KEY, STORAGES, STUDIO_ENCRYPTION_KEYS, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
if DEV_ENCRYPTION_KEY in STUDIO_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("Set STUDIO_ENCRYPTION_KEYS: the development key is public.")
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    # Each web process would keep its own sessions and sign-in throttle counts.
    raise ImproperlyConfigured("Set CACHE_URL to a cache all web processes share.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
WHITENOISE_USE_FINDERS = False  # the collected, hashed files only
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# A monitor on the private network polls the app server directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
