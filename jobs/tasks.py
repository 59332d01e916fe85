"""django-q2 tasks: thin wrappers that take ids (never secrets) and call the pipeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from ops import logs, record
from venice import errors
from wallets import ledger, payments
from wallets.crypto import SecretUnreadable
from wallets.models import TopUp, Wallet
from wallets.venice import WORKER_PACE_WAIT_S, client_for

from . import accounting, pipeline, poller, recovery, retrieval
from .models import Job

log = logging.getLogger(__name__)


def submit_job(job_id: int) -> None:
    wallet = Job.objects.filter(pk=job_id).values_list("wallet__name", flat=True).first()
    with logs.bound(job_id=job_id, wallet=wallet):
        pipeline.submit(job_id)
    poller.ensure_running()


def poll_loop() -> int:
    return poller.run(settings.POLL_LOOP_SECONDS)


def top_up_if_needed(wallet_id: int) -> None:
    wallet = Wallet.objects.get(pk=wallet_id)
    try:
        payments.ensure_credit(wallet, Decimal("0"))
    except STEP_ERRORS + (payments.TopUpNotAllowed,) as exc:
        log.warning("wallet %s: no top-up now: %s", wallet.name, exc)


def sweep() -> None:
    """Every minute: recover what a dead worker left, and make sure the poll loop runs."""
    record.beat()  # /healthz reads its age: the scheduler and a worker are alive
    recovery.recover_stale()
    if poller.has_work():
        poller.ensure_running()


def sync_wallets() -> None:
    for wallet_id in Wallet.objects.values_list("pk", flat=True):
        try:
            sync_wallet(wallet_id)
        except (errors.VeniceError, SecretUnreadable) as exc:
            log.warning("syncing wallet %s failed: %s", wallet_id, exc)


# What one step of the sync may fail with: Venice, the chain RPC (both VeniceErrors), the
# wallet's key, or the top-up policy. Anything else is a bug and keeps its traceback.
STEP_ERRORS = (
    errors.VeniceError,
    SecretUnreadable,
    payments.TopUpPending,
    payments.WalletBusy,
    payments.TopUpFailed,
)


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


CHAIN_STEPS = frozenset({"usdc balance", "receipts"})


def _step(report: SyncReport, wallet: Wallet, name: str, action) -> None:
    """Run one step on its own: its failure is logged once, in a line, and the others run."""
    try:
        action()
    except STEP_ERRORS as exc:
        report.failed[name] = str(exc)
        log.warning("wallet %s: %s skipped this sync: %s", wallet.name, name, exc)


def sync_wallet(wallet_id: int) -> SyncReport:
    """Balances, Venice's ledger, receipts, unknown submissions and leftover upstream media.

    Every step runs on its own: the chain RPC being down never stops the Venice side (the
    ledger, the charges it settles, the jobs it reviews, the media it deletes), and a receipt
    that could not be checked stays unchecked until a later sync checks it.
    """
    wallet = Wallet.objects.get(pk=wallet_id)
    report = SyncReport()
    client = client_for(wallet, pace_wait_s=WORKER_PACE_WAIT_S)
    with client, logs.bound(wallet=wallet.name):
        if wallet.is_evm:
            _step(report, wallet, "open top-ups", lambda: _settle_topups(wallet, client))
            _step(report, wallet, "credit", lambda: payments.refresh_credit(wallet, client))
            _step(report, wallet, "usdc balance", lambda: payments.refresh_usdc(wallet))

            def read_ledger() -> None:
                report.ledger_rows = ledger.sync(wallet, client)

            _step(report, wallet, "ledger", read_ledger)
            _step(report, wallet, "charges", lambda: accounting.apply_ledger(wallet))
            _step(report, wallet, "review", lambda: recovery.review_unknown_submissions(wallet))
            _step(report, wallet, "receipts", lambda: _check_receipts(wallet, report))
        for job in Job.objects.filter(
            wallet=wallet, state=Job.State.COMPLETED, media_deleted_at__isnull=True
        ):
            with logs.bound(job_id=job.pk):
                retrieval.delete_upstream_media(job, client)
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
