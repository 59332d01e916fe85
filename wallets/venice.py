"""The one place a wallet's secret is decrypted: to build a Venice client for it."""

from __future__ import annotations

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from venice import ApiKeyAuth, VeniceClient, WalletAuth
from venice.client import tls_context

from . import crypto
from .models import Wallet
from .throttle import InFlightTransport


@sensitive_variables("secret")
def client_for(wallet: Wallet, *, max_retries: int = 3) -> VeniceClient:
    """A client with the wallet's credentials. The poll loop passes max_retries=0: it
    reschedules a failed poll itself instead of blocking a thread in backoff."""
    secret = crypto.decrypt(wallet.secret_encrypted)
    auth = WalletAuth(secret) if wallet.is_evm else ApiKeyAuth(secret)
    return VeniceClient(
        base_url=settings.VENICE_API_BASE,
        auth=auth,
        timeout=settings.VENICE_TIMEOUT_S,
        max_retries=max_retries,
        transport=InFlightTransport(wallet, verify=tls_context()),
    )


def public_client() -> VeniceClient:
    """For the calls that need no credentials: the model catalogue and quotes."""
    return VeniceClient(
        base_url=settings.VENICE_API_BASE, auth=None, timeout=settings.VENICE_TIMEOUT_S
    )
