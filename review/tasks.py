"""django-q2 tasks of the admin spend review (scheduled in review/apps.py)."""

from __future__ import annotations

import logging

from . import reconcile

log = logging.getLogger(__name__)


def reconcile_wallets() -> int | None:
    """Periodically: compare every x402 wallet's records with Venice's ledger and the chain.

    Returns the ReconcileRun's id, or None when another reconciliation (an admin's button, or a
    redelivered task) holds the lease.
    """
    try:
        run = reconcile.run()
    except reconcile.ReconcileBusy:
        log.info("reconciliation skipped: another one is running")
        return None
    if run.errors:
        log.warning("reconciliation %s: %s", run.pk, run.errors)
    return run.pk
