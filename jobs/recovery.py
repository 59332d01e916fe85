"""Recovery: what a dead worker left behind, and submissions whose outcome is unknown.

A worker that stopped mid-submission leaves its job SUBMITTING with a lease that runs out;
`recover_stale` sends it on from where it safely can. A queue call whose answer was lost leaves
the job NEEDS_REVIEW; `review_unknown_submissions` settles it from Venice's ledger.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from wallets.models import LedgerEntry, Wallet

from . import accounting, states
from .models import Job

State = Job.State
# How long after the queue call a missing CHARGE proves that Venice never accepted the job.
UNKNOWN_OUTCOME_GRACE = datetime.timedelta(minutes=2)


def recover_stale() -> int:
    """Return jobs whose worker died to where they can safely go on from."""
    now = timezone.now()
    count = 0
    stale = Job.objects.filter(state=State.SUBMITTING, lease_until__lt=now)
    for job in stale.filter(queue_sent_at__isnull=True):
        # The worker stopped before sending anything: submitting again is safe.
        count += states.move(
            job,
            [State.SUBMITTING],
            State.PENDING,
            lease_until=None,
            note="The worker stopped before sending the job; trying again.",
        )
    for job in stale.filter(queue_sent_at__isnull=False, queue_id__isnull=True):
        count += states.move(
            job,
            [State.SUBMITTING],
            State.NEEDS_REVIEW,
            lease_until=None,
            note="The worker stopped after sending the queue call; matching it "
            "against Venice's ledger instead of sending it again.",
        )
    return count


def review_unknown_submissions(wallet: Wallet) -> None:
    """Settle NEEDS_REVIEW jobs from Venice's ledger (synced just before).

    A job's candidates are the unclaimed charges for its model, of its price, at the time of its
    queue call. One queue call makes at most one charge, and every such charge was made by one of
    the jobs whose call was unanswered or is in flight. So a charge only one job could have made
    is that job's, and a job with a single candidate no other job could also own has it; each
    match takes that charge away from the others, which may tell the next one apart. A job with
    no candidate left, well after its call, was never accepted and fails uncharged. What is
    still ambiguous is left for an admin (jobs.resolution, the Job admin's "Resolve" page).
    """
    if not wallet.is_evm or wallet.ledger_synced_at is None:
        return
    unknown = list(
        Job.objects.filter(
            wallet=wallet,
            state=State.NEEDS_REVIEW,
            queue_id__isnull=True,
            queue_sent_at__isnull=False,
        )
    )
    # A job whose queue call is in flight right now may own a fresh charge too: a rival.
    in_flight = Job.objects.filter(
        wallet=wallet,
        state=State.SUBMITTING,
        queue_id__isnull=True,
        queue_sent_at__isnull=False,
    )
    candidates = {job.pk: candidate_charges(wallet, job) for job in [*unknown, *in_flight]}
    for job, queue_id in match_charges(candidates, [job.pk for job in unknown], unknown):
        states.queued(job, queue_id)
        LedgerEntry.objects.filter(wallet=wallet, request_id=queue_id).update(job=job)
        accounting.apply_ledger(wallet, {job.pk})
    for job in unknown:
        mine = candidates[job.pk]
        if not mine and wallet.ledger_synced_at > job.queue_sent_at + UNKNOWN_OUTCOME_GRACE:
            states.fail(
                job,
                "not_accepted",
                "Venice never accepted this job (no charge in its ledger); nothing was spent.",
            )


def match_charges(candidates: dict[int, set[str]], matchable: list[int], jobs: list[Job]):
    """Yield (job, charge) for every match the candidates prove (see review_unknown_submissions).

    `candidates` maps every job that may own a charge to its candidates and is narrowed in place;
    only `matchable` jobs are matched (a job still in flight is a rival, never matched here)."""
    by_pk = {job.pk: job for job in jobs}
    open_jobs = set(matchable)
    progress = True
    while progress:
        progress = False
        owners: dict[str, set[int]] = {}
        for pk, charges in candidates.items():
            for charge in charges:
                owners.setdefault(charge, set()).add(pk)
        for pk in sorted(open_jobs):
            mine = candidates[pk]
            exclusive = {charge for charge in mine if owners[charge] == {pk}}
            if len(exclusive) != 1:
                continue  # nothing proves it, or two charges only it could own: ambiguous
            (charge,) = exclusive
            open_jobs.discard(pk)
            candidates[pk] = {charge}
            for other in candidates:
                if other != pk:
                    candidates[other].discard(charge)
            yield by_pk[pk], charge
            progress = True
            break  # the owners changed: look again


def candidate_charges(wallet: Wallet, job: Job) -> set[str]:
    claimed = Job.objects.filter(queue_id__isnull=False).values("queue_id")
    window = (
        job.queue_sent_at - datetime.timedelta(seconds=5),
        job.queue_sent_at + datetime.timedelta(minutes=5),
    )
    charges = (
        LedgerEntry.objects.filter(
            wallet=wallet,
            type=LedgerEntry.Type.CHARGE,
            job__isnull=True,
            model_id=job.model_id,
            created_at__range=window,
        )
        .exclude(request_id__in=claimed)
        .values("request_id")
        .annotate(total=Sum("amount_usd"))
    )
    price = job.quoted_usd.quantize(Decimal("0.000001"))
    return {
        row["request_id"]
        for row in charges
        if Decimal(row["total"]).quantize(Decimal("0.000001")) == price
    }
