"""An admin's way out for a job under review that Venice's ledger cannot settle by itself.

Two unanswered queue calls for one model and price within minutes share their candidate charges
(recovery.review_unknown_submissions matches only what it can tell apart). An admin, who can ask
the team or compare the audio, then either adopts one of the candidate charges (the job is
polled under that queue id like any other) or closes the job as never accepted, releasing its
budget reservation. Each step is in the audit log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Min, Sum

from wallets import audit
from wallets.models import AuditEntry, LedgerEntry

from . import accounting, poller, recovery, states
from .models import Job


class CannotResolve(Exception):
    """The job or the charge is not (or no longer) one this action applies to."""


@dataclass(frozen=True)
class Candidate:
    request_id: str
    amount_usd: Decimal
    charged_at: object
    rivals: tuple[int, ...]  # other jobs under review that could own it too


def open_for_review(job: Job) -> bool:
    return job.state == Job.State.NEEDS_REVIEW and not job.queue_id and bool(job.queue_sent_at)


def candidates(job: Job) -> list[Candidate]:
    """The unclaimed charges this job may own, oldest first, with the jobs that share them."""
    if not open_for_review(job):
        return []
    mine = recovery.candidate_charges(job.wallet, job)
    others = Job.objects.filter(
        wallet=job.wallet,
        state__in=[Job.State.NEEDS_REVIEW, Job.State.SUBMITTING],
        queue_id__isnull=True,
        queue_sent_at__isnull=False,
    ).exclude(pk=job.pk)
    shared = {other.pk: recovery.candidate_charges(job.wallet, other) & mine for other in others}
    rows = (
        LedgerEntry.objects.filter(
            wallet=job.wallet, type=LedgerEntry.Type.CHARGE, request_id__in=mine
        )
        .values("request_id")
        .annotate(total=Sum("amount_usd"), at=Min("created_at"))
        .order_by("at")
    )
    return [
        Candidate(
            row["request_id"],
            abs(Decimal(row["total"])),
            row["at"],
            tuple(sorted(pk for pk, theirs in shared.items() if row["request_id"] in theirs)),
        )
        for row in rows
    ]


def _facts(job: Job) -> dict:
    return {
        "state": job.state,
        "queue_id": job.queue_id,
        "reserved_usd": str(job.reserved_usd),
        "model_id": job.model_id,
        "quoted_usd": str(job.quoted_usd),
    }


@contextlib.contextmanager
def _resolving(job: Job, actor, action: str, note: str) -> Iterator[Job]:
    """The job locked and still waiting for review; what the step changed is audited on the way
    out, in the same transaction, so that a step is either done and logged or neither."""
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("wallet").get(pk=job.pk)
        if not open_for_review(job):
            raise CannotResolve(f"Job {job.pk} is no longer waiting for review.")
        before = _facts(job)
        yield job
        job.refresh_from_db()
        audit.record(actor, action, job, before=before, after=_facts(job), note=note)


def adopt_charge(job: Job, request_id: str, *, actor, note: str = "") -> Job:
    """The job owns this charge: take its request id as the queue id and poll it from now on."""
    note = note or f"Adopted Venice charge {request_id}; the job is polled under it."
    with _resolving(job, actor, AuditEntry.Action.JOB_ADOPT, note) as job:
        if request_id not in {c.request_id for c in candidates(job)}:
            raise CannotResolve(
                f"{request_id} is not an unclaimed charge this job could own (model "
                f"{job.model_id}, {job.quoted_usd} USD, near its queue call)."
            )
        states.queued(job, request_id)
        LedgerEntry.objects.filter(wallet=job.wallet, request_id=request_id).update(job=job)
        accounting.apply_ledger(job.wallet, {job.pk})
    transaction.on_commit(poller.ensure_running)
    return job


def close_never_accepted(job: Job, *, actor, note: str = "") -> Job:
    """Venice never accepted this job: FAILED, nothing charged, its reservation released."""
    note = note or "Closed as never accepted; reservation released."
    with _resolving(job, actor, AuditEntry.Action.JOB_CLOSE, note) as job:
        who = getattr(actor, "username", "") or "an admin"
        states.fail(
            job,
            "not_accepted",
            f"Closed by {who}: Venice never accepted this job; nothing was spent and the "
            f"budget reservation is released.",
        )
    return job
