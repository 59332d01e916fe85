"""django-q2 tasks: thin wrappers that take ids (never secrets) and call the pipeline."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django_q.tasks import async_task

from ops import logs, record
from venice import errors
from wallets import ledger, payments
from wallets.models import TopUp, Wallet
from wallets.venice import client_for

from . import accounting, pipeline, poller
from .models import Job

log = logging.getLogger(__name__)


def enqueue_submit(job_id: int) -> None:
    async_task("jobs.tasks.submit_job", job_id, group="submit")


def submit_job(job_id: int) -> None:
    wallet = Job.objects.filter(pk=job_id).values_list("wallet__name", flat=True).first()
    with logs.bound(job_id=job_id, wallet=wallet):
        pipeline.submit(job_id)
    ensure_poll_loop()


def ensure_poll_loop() -> None:
    if poller.lease_free():
        async_task("jobs.tasks.poll_loop", group="poll")


def poll_loop() -> int:
    return poller.run(settings.POLL_LOOP_SECONDS)


def enqueue_credit_check(wallet_id: int) -> None:
    async_task("jobs.tasks.top_up_if_needed", wallet_id, group="wallet")


def top_up_if_needed(wallet_id: int) -> None:
    payments.ensure_credit(Wallet.objects.get(pk=wallet_id), Decimal("0"))


def sweep() -> None:
    """Every minute: recover what a dead worker left, and make sure the poll loop runs."""
    record.beat()  # /healthz reads its age: the scheduler and a worker are alive
    pipeline.recover_stale()
    if poller.has_work():
        ensure_poll_loop()


def sync_wallets() -> None:
    for wallet_id in Wallet.objects.values_list("pk", flat=True):
        try:
            sync_wallet(wallet_id)
        except errors.VeniceError as exc:
            log.warning("syncing wallet %s failed: %s", wallet_id, exc)


def sync_wallet(wallet_id: int) -> None:
    """Balances, Venice's ledger, receipts, unknown submissions and leftover upstream media."""
    wallet = Wallet.objects.get(pk=wallet_id)
    client = client_for(wallet)
    with client, logs.bound(wallet=wallet.name):
        if wallet.is_evm:
            try:  # a payment whose settlement timed out gets its definite answer here
                with payments.topup_lease(wallet, wait_s=0):
                    payments.settle_open_topups(wallet, client)
            except (payments.WalletBusy, payments.TopUpPending):
                pass  # a worker is topping up right now, or it is still settling
            payments.refresh_credit(wallet, client)
            payments.refresh_usdc(wallet)
            ledger.sync(wallet, client)
            accounting.apply_ledger(wallet)
            pipeline.review_unknown_submissions(wallet)
            for topup in wallet.topups.filter(
                status=TopUp.Status.CREDITED, receipt=TopUp.Receipt.UNCHECKED
            ):
                payments.verify_receipt(topup)
        for job in Job.objects.filter(
            wallet=wallet, state=Job.State.COMPLETED, media_deleted_at__isnull=True
        ):
            with logs.bound(job_id=job.pk):
                pipeline.delete_upstream_media(job, client)
