"""Deployment checks of Studio's own settings (`manage.py check --deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.security, deploy=True)
def trusted_proxies(app_configs, **kwargs) -> list[CheckWarning]:
    """Production runs behind a TLS proxy: without it named, every member has its address."""
    if settings.TRUSTED_PROXIES:
        return []
    return [
        CheckWarning(
            "TRUSTED_PROXIES is empty: behind the TLS proxy every member has the proxy's "
            "address, so failed sign-ins by anyone count against everyone's.",
            hint="Name the proxy's address, e.g. TRUSTED_PROXIES=127.0.0.1 for one on the "
            "same host, and have it set X-Forwarded-For.",
            id="studio.W001",
        )
    ]
