"""Studio's own system checks: money never pointed at the wrong place (`manage.py check`), and
the deployment's sign-in limits (`manage.py check --deploy`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.checks import Warning as CheckWarning

from venice.client import DEFAULT_BASE_URL
from venice.payments import is_loopback


@register()
def venice_endpoints(app_configs, **kwargs) -> list[Error]:
    problems = []
    base = settings.VENICE_API_BASE.rstrip("/")
    host = urlsplit(base).hostname or ""
    real = base == DEFAULT_BASE_URL
    if not real and not is_loopback(host):
        problems.append(
            Error(
                f"VENICE_API_BASE is {settings.VENICE_API_BASE!r}: it must be Venice's "
                f"{DEFAULT_BASE_URL} or a loopback address (the local sandbox).",
                hint="Payments are signed for whatever this names; nothing else is allowed.",
                id="studio.E101",
            )
        )
    if real and not settings.CHAIN_RPC_URL:
        problems.append(
            Error(
                "CHAIN_RPC_URL is not set: with the real Venice it must name a Base RPC "
                "endpoint (there is no default; the sandbox's chain proves nothing).",
                id="studio.E102",
            )
        )
    return problems


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
