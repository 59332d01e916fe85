"""The one place a wallet's secret is decrypted: to build a Venice client for it."""

from __future__ import annotations

import time

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from venice import ApiKeyAuth, VeniceClient, WalletAuth, errors
from venice.client import tls_context

from . import crypto, throttle
from .models import Wallet
from .throttle import InFlightTransport

# How long work in the worker pool (a job's credit check, the wallet sync) waits for a balance
# or ledger read's turn before giving up for now: a worker held for most of a minute stalls every
# other job, and both kinds of work pick up where they stopped on their next run.
WORKER_PACE_WAIT_S = 5.0


class PaceExceeded(errors.RateLimited):
    """A balance or ledger read refused locally, before any request left: nothing was sent."""


class WalletPacer:
    """Keeps one wallet's balance and ledger reads under Venice's per-minute limits, counted in
    the shared rate windows (wallets.throttle) so every process and thread sees the same count.
    A long ledger is read at the limit's pace: 20 pages a minute, however many minutes."""

    def __init__(self, wallet_id: int, wait_s: float) -> None:
        self.wallet_id = wallet_id
        self.wait_s = wait_s

    def _limit(self, route: str) -> int:
        return {
            "balance": settings.BALANCE_PER_MINUTE,
            "transactions": settings.TRANSACTIONS_PER_MINUTE,
        }[route]

    def wait(self, route: str) -> None:
        deadline = time.monotonic() + self.wait_s
        while delay := throttle.take_rate_slot(self.wallet_id, route, self._limit(route)):
            if time.monotonic() + delay > deadline:
                raise PaceExceeded(
                    f"the wallet's {route} calls for this minute are used up", retry_after=delay
                )
            time.sleep(delay)

    def limited(self, route: str) -> None:
        throttle.fill_window(self.wallet_id, route)


@sensitive_variables("secret")
def client_for(
    wallet: Wallet, *, max_retries: int = 3, pace_wait_s: float | None = None
) -> VeniceClient:
    """A client with the wallet's credentials. The poll loop passes max_retries=0: it
    reschedules a failed poll itself instead of blocking a thread in backoff. A job's credit
    check passes a short pace_wait_s: rather than hold a worker (and the wallet's top-up lease)
    for most of a minute until a balance read is allowed, it puts the job back to wait."""
    secret = crypto.decrypt(wallet.secret_encrypted)
    auth = WalletAuth(secret) if wallet.is_evm else ApiKeyAuth(secret)
    return VeniceClient(
        base_url=settings.VENICE_API_BASE,
        auth=auth,
        timeout=settings.VENICE_TIMEOUT_S,
        max_retries=max_retries,
        transport=InFlightTransport(wallet, verify=tls_context()),
        pacer=WalletPacer(
            wallet.pk, settings.X402_PACE_WAIT_S if pace_wait_s is None else pace_wait_s
        )
        if wallet.is_evm
        else None,
    )


def public_client() -> VeniceClient:
    """For the calls that need no credentials: the model catalogue and quotes."""
    return VeniceClient(
        base_url=settings.VENICE_API_BASE, auth=None, timeout=settings.VENICE_TIMEOUT_S
    )
