"""The wallet sync, a django-q2 task every five minutes: open top-ups, the credit and USDC
balances, Venice's ledger, and the receipts of credited top-ups.

Every step runs on its own: the chain RPC being down never stops the Venice side, and a receipt
that could not be checked stays unchecked until a later sync checks it. The jobs app adds its
own steps (the charges the ledger settles, the submissions it reviews, leftover upstream media)
through `ledger_synced`, so that this layer never imports the one above it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.dispatch import Signal

from ops import logs
from venice import errors

from . import ledger, payments
from .crypto import SecretUnreadable
from .models import TopUp, Wallet
from .venice import WORKER_PACE_WAIT_S, client_for

log = logging.getLogger(__name__)

# What one step of the sync may fail with: Venice, the chain RPC (both VeniceErrors), the
# wallet's key, or the top-up policy. Anything else is a bug and keeps its traceback.
STEP_ERRORS = (
    errors.VeniceError,
    SecretUnreadable,
    payments.TopUpPending,
    payments.WalletBusy,
    payments.TopUpFailed,
)

CHAIN_STEPS = frozenset({"usdc balance", "receipts"})

# Sent (wallet, client, report) once the wallet's balances and ledger copy are fresh, before the
# receipts (which read only the chain); for an API-key wallet too, which has no ledger to copy.
# A receiver runs each of its steps through `step`.
ledger_synced = Signal()


@dataclass
class SyncReport:
    """What one wallet sync did: the steps that failed (in words), and the receipts read."""

    failed: dict[str, str] = field(default_factory=dict)
    ledger_rows: int = 0
    receipts_verified: int = 0
    receipts_unchecked: int = 0

    @property
    def chain_only(self) -> bool:
        """Only the chain RPC failed: Venice's side all ran."""
        return bool(self.failed) and set(self.failed) <= CHAIN_STEPS


def step(report: SyncReport, wallet: Wallet, name: str, action: Callable[[], object]) -> None:
    """Run one step on its own: its failure is logged once, in a line, and the others run."""
    try:
        action()
    except STEP_ERRORS as exc:
        report.failed[name] = str(exc)
        log.warning("wallet %s: %s skipped this sync: %s", wallet.name, name, exc)


def sync_wallets() -> None:
    for wallet_id in Wallet.objects.values_list("pk", flat=True):
        try:
            sync_wallet(wallet_id)
        except (errors.VeniceError, SecretUnreadable) as exc:
            log.warning("syncing wallet %s failed: %s", wallet_id, exc)


def sync_wallet(wallet_id: int) -> SyncReport:
    """Balances, Venice's ledger, then the receivers of `ledger_synced`, then receipts."""
    wallet = Wallet.objects.get(pk=wallet_id)
    report = SyncReport()
    client = client_for(wallet, pace_wait_s=WORKER_PACE_WAIT_S)
    with client, logs.bound(wallet=wallet.name):
        if wallet.is_evm:
            step(report, wallet, "open top-ups", lambda: _settle_topups(wallet, client))
            step(report, wallet, "credit", lambda: payments.refresh_credit(wallet, client))
            step(report, wallet, "usdc balance", lambda: payments.refresh_usdc(wallet))

            def read_ledger() -> None:
                report.ledger_rows = ledger.sync(wallet, client)

            step(report, wallet, "ledger", read_ledger)
        ledger_synced.send(sender=Wallet, wallet=wallet, client=client, report=report)
        if wallet.is_evm:
            step(report, wallet, "receipts", lambda: _check_receipts(wallet, report))
    return report


def _settle_topups(wallet: Wallet, client) -> None:
    try:  # a payment whose settlement timed out gets its definite answer here
        with payments.topup_lease(wallet, wait_s=0):
            payments.settle_open_topups(wallet, client)
    except (payments.WalletBusy, payments.TopUpPending):
        pass  # a worker is topping up right now, or it is still settling


def _check_receipts(wallet: Wallet, report: SyncReport) -> None:
    unchecked = wallet.topups.filter(status=TopUp.Status.CREDITED, receipt=TopUp.Receipt.UNCHECKED)
    report.receipts_unchecked = unchecked.count()
    for topup in unchecked.order_by("pk"):
        payments.verify_receipt(topup)  # the first RPC failure ends the step
        report.receipts_unchecked -= 1
        report.receipts_verified += topup.receipt == TopUp.Receipt.VERIFIED
