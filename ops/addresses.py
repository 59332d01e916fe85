"""Who sent a request: the sign-in limits and the share links' rate limit count by it."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address) -> bool:
    return address is not None and any(address in net for net in settings.TRUSTED_PROXIES)


def client_address(request) -> str | None:
    """The address that sent the request: the peer itself unless the peer is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right (each proxy appends the
    address it heard from): the first address that is not a trusted proxy is the client.
    Anything to its left was written by the client and proves nothing. A value a trusted proxy
    wrote that is not an address leaves the proxy's own: more clients share a count, none
    escapes one.
    """
    peer = _address(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    if not _trusted(peer):
        return str(peer)
    client = peer
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return str(peer)
        client = address
        if not _trusted(address):
            break
    return str(client)
