"""Reconciliation: Studio's records against Venice's ledger and against the chain.

For each x402 wallet: read Venice's whole ledger once (every page), copy what is new into
LedgerEntry and apply it to jobs and budgets (the same ``ledger.sync`` and ``apply_ledger`` the
worker runs), check the top-ups' receipts on chain, then list every difference that remains
(the checks: review.checks).

Differences are stored idempotently (``Difference.key`` names the difference and its amounts, so
finding it again touches the same row); one no longer found is marked cleared; an admin resolves
one with a note. Only one reconciliation runs at a time (a lease, as the poll loop's).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable

from django.dispatch import Signal
from django.utils import timezone

from ops.leases import drop_lease, take_lease
from venice import errors
from wallets import audit
from wallets.crypto import SecretUnreadable
from wallets.models import AuditEntry, Wallet

from . import spend
from .checks import Found, Kind, check_budgets, check_wallet
from .models import Difference, ReconcileRun

log = logging.getLogger(__name__)

# A run found differences not seen before: sent with run_id and new (how many) after the run,
# for the layer above (alerts) to enqueue its evaluation.
differences_found = Signal()

LEASE_NAME = "reconcile"
LEASE_FOR = datetime.timedelta(minutes=30)


class ReconcileBusy(Exception):
    """Another reconciliation is running."""


# --- storing ------------------------------------------------------------------------------------


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store(
    found: list[Found], *, wallet: Wallet | None, kinds: Iterable[str], since: datetime.datetime
) -> tuple[int, int]:
    """Save what a check found: new differences are created, known ones touched (and reopened
    if they had cleared); open ones of the checked kinds not found again since `since` are
    cleared. Returns (new, cleared)."""
    now = timezone.now()
    by_key = {item.key: item for item in found}
    keys = list(by_key)
    existing: set[str] = set()
    for chunk in _chunks(keys):
        existing.update(Difference.objects.filter(key__in=chunk).values_list("key", flat=True))
    new = [
        Difference(
            kind=item.kind,
            key=item.key,
            wallet=wallet,
            job_id=item.job_id,
            topup_id=item.topup_id,
            ledger_entry_id=item.ledger_entry_id,
            budget_id=item.budget_id,
            venice_id=item.venice_id,
            expected_usd=item.expected,
            actual_usd=item.actual,
            detail=item.detail,
            last_seen_at=now,
        )
        for key, item in by_key.items()
        if key not in existing
    ]
    Difference.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    for chunk in _chunks(sorted(existing)):
        Difference.objects.filter(key__in=chunk).update(last_seen_at=now, cleared_at=None)
    stale = Difference.objects.filter(
        kind__in=list(kinds),
        resolved_at__isnull=True,
        cleared_at__isnull=True,
        last_seen_at__lt=since,
    )
    stale = stale.filter(wallet=wallet) if wallet is not None else stale.filter(wallet__isnull=True)
    return len(new), stale.update(cleared_at=now)


# --- running it ---------------------------------------------------------------------------------


def run(
    *,
    started_by=None,
    wallets: Iterable[Wallet] | None = None,
    all_receipts: bool = False,
    check_summary: bool = True,
) -> ReconcileRun:
    """Reconcile every x402 wallet (or those given) and the budgets; raises ReconcileBusy if
    another reconciliation holds the lease."""
    holder = f"reconcile-{uuid.uuid4().hex[:12]}"
    if not take_lease(LEASE_NAME, holder, LEASE_FOR):
        raise ReconcileBusy("A reconciliation is already running; try again in a minute.")
    try:
        record = ReconcileRun.objects.create(
            started_by=started_by if getattr(started_by, "pk", None) else None
        )
        problems: list[str] = []
        found = new = cleared = rows_read = 0
        chain_down = venice_failed = False
        targets = list(wallets) if wallets is not None else Wallet.objects.order_by("pk")
        evm = [wallet for wallet in targets if wallet.is_evm]
        for wallet in evm:
            since = timezone.now()
            try:
                result = check_wallet(wallet, all_receipts=all_receipts)
            except (errors.VeniceError, SecretUnreadable) as exc:
                log.warning("reconciling wallet %s failed: %s", wallet.name, exc)
                problems.append(f"{wallet.name}: not reconciled ({exc})")
                venice_failed = True
                continue
            rows_read += result.rows_read
            chain_down = chain_down or result.chain_down
            venice_failed = venice_failed or len(result.errors) > (1 if result.chain_down else 0)
            added, gone = store(result.found, wallet=wallet, kinds=result.checked, since=since)
            found, new, cleared = found + len(result.found), new + added, cleared + gone
            problems += result.errors
        since = timezone.now()
        budget_found = check_budgets()
        added, gone = store(budget_found, wallet=None, kinds=[Kind.BUDGET_MISMATCH], since=since)
        found, new, cleared = found + len(budget_found), new + added, cleared + gone
        if check_summary and spend.rollup_drift():
            log.warning("the spend summary had drifted from the ledger; rebuilding it")
            spend.rebuild_rollup()
            problems.append("The spend summary had drifted from the ledger and was rebuilt.")
        ReconcileRun.objects.filter(pk=record.pk).update(
            finished_at=timezone.now(),
            wallets=len(evm),
            found=found,
            new=new,
            cleared=cleared,
            errors="\n".join(problems),
        )
        record.refresh_from_db()
        # What this run saw, for the command line (not stored: the run's errors say it).
        record.ledger_rows_read = rows_read
        record.chain_down = chain_down
        record.venice_failed = venice_failed
    finally:
        drop_lease(LEASE_NAME, holder)
    if record.new:
        differences_found.send(sender=ReconcileRun, run_id=record.pk, new=record.new)
    if record.started_by_id:
        audit.record(
            started_by,
            AuditEntry.Action.RECONCILE,
            record,
            after={"found": found, "new": new, "cleared": cleared},
            note=record.errors,
        )
    return record


def resolve(difference: Difference, user, note: str) -> bool:
    """Mark a difference resolved with the admin's note; False if it already was."""
    note = (note or "").strip()
    if not note:
        raise ValueError("Say how the difference was resolved.")
    now = timezone.now()
    updated = Difference.objects.filter(pk=difference.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=user, note=note
    )
    if not updated:
        return False
    before = audit.snapshot(difference)
    difference.refresh_from_db()
    audit.record(
        user,
        AuditEntry.Action.DIFFERENCE_RESOLVE,
        difference,
        before=before,
        after=audit.snapshot(difference),
        note=note,
    )
    return True
