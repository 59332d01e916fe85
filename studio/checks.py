"""System checks that keep money from being pointed at the wrong place (`manage.py check`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

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
