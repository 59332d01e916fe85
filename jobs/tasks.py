"""django-q2 tasks: thin wrappers that take ids (never secrets) and call the pipeline."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from ops import logs, record
from venice import VeniceClient
from wallets import payments
from wallets.models import Wallet
from wallets.sync import STEP_ERRORS, SyncReport, step

from . import accounting, keepers, pipeline, poller, recovery, retrieval
from .models import Job

log = logging.getLogger(__name__)

# When a completed job's media still at Venice counts as left over (its poll's delete failed).
LEFTOVER_AFTER = datetime.timedelta(minutes=2)


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
    """Every minute: recover what a dead worker left, make sure the poll loop runs, and delete
    the audio of takes discarded longer ago than the retention."""
    record.beat()  # /healthz reads its age: the scheduler and a worker are alive
    recovery.recover_stale()
    if poller.has_work():
        poller.ensure_running()
    # Last: a storage outage here must not keep the poll loop from being restarted.
    keepers.delete_discarded_audio()


def sync_jobs_of_wallet(
    sender, wallet: Wallet, client: VeniceClient, report: SyncReport, **kw
) -> None:
    """The jobs' part of every wallet sync (wallets.sync.ledger_synced): settle charges from the
    fresh ledger copy, review unknown submissions, and delete leftover upstream media."""
    if wallet.is_evm:
        step(report, wallet, "charges", lambda: accounting.apply_ledger(wallet))
        step(report, wallet, "review", lambda: recovery.review_unknown_submissions(wallet))
    # Only leftovers: the poll that saved a job's audio deletes Venice's copy itself, a moment
    # later. A sync in that moment would delete it too, and one of the two would get a 404, a
    # failed request in Venice's error budget (reference section 8).
    for job in Job.objects.filter(
        wallet=wallet,
        state=Job.State.COMPLETED,
        media_deleted_at__isnull=True,
        finished_at__lt=timezone.now() - LEFTOVER_AFTER,
    ):
        with logs.bound(job_id=job.pk):
            retrieval.delete_upstream_media(job, client)
