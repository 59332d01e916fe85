"""The job's state changes, the one way a job moves (design.md, "The path of one job").

Every change is a conditional UPDATE on the state the caller expects, plus a timeline entry, so
two workers that race for the same job cannot both act on it: the loser's UPDATE matches no row.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from venice import errors
from wallets import budgets, payments

from . import schedule
from .models import Job, JobEvent

State = Job.State


def move(job: Job, from_states, to_state: str, note: str = "", **fields) -> bool:
    """The one way a job changes state: conditional on where it is now, with a timeline entry."""
    moved = Job.objects.filter(pk=job.pk, state__in=list(from_states)).update(
        state=to_state, updated_at=timezone.now(), **fields
    )
    if moved:
        JobEvent.objects.create(job_id=job.pk, state=to_state, note=note[:2000])
        job.refresh_from_db()
    return bool(moved)


def queued(job: Job, queue_id: str) -> Job:
    now = timezone.now()
    move(
        job,
        [State.SUBMITTING, State.NEEDS_REVIEW],
        State.QUEUED,
        note=f"Venice queue id {queue_id}",
        queue_id=queue_id,
        queued_at=now,
        lease_until=None,
        next_attempt_at=None,
        next_poll_at=now + schedule.first_poll_delay(job),
    )
    payments.note_spent(job.wallet, job.quoted_usd)
    return job


def needs_review(job: Job, why: str) -> Job:
    move(
        job,
        [State.SUBMITTING],
        State.NEEDS_REVIEW,
        note=f"{why} It will be matched against Venice's ledger, not sent again.",
        lease_until=None,
    )
    return job


_PLAIN_WORDS = {
    errors.ContentPolicy: (
        "content_policy",
        "Venice refused this prompt under its content policy.",
    ),
    errors.InvalidRequest: ("invalid_request", "Venice rejected the request."),
    errors.InsufficientBalance: ("insufficient_credit", "The wallet ran out of credit."),
    errors.AuthFailed: ("auth_failed", "Venice did not accept the wallet's credentials."),
    errors.Forbidden: ("forbidden", "Venice refused this request (region or privacy rules)."),
    errors.NotFound: ("not_found", "Venice no longer has this job or its audio."),
    errors.UpstreamUnavailable: ("unavailable", "Venice could not run this job."),
}


def fail_from(job: Job, exc: errors.VeniceError) -> Job:
    code, words = next(
        (value for kind, value in _PLAIN_WORDS.items() if isinstance(exc, kind)),
        ("upstream_error", "Venice returned an error."),
    )
    return fail(
        job,
        code,
        f"{words} {exc.message}".strip(),
        status=exc.status,
        upstream_code=exc.code or "",
        suggested_prompt=getattr(exc, "suggested_prompt", None) or "",
    )


def fail(
    job: Job,
    code: str,
    message: str,
    *,
    status: int | None = None,
    upstream_code: str = "",
    suggested_prompt: str = "",
) -> Job:
    """End a job as FAILED and release its reservation (any charge comes from the ledger)."""
    with transaction.atomic():
        moved = move(
            job,
            [State.PENDING, State.SUBMITTING, State.QUEUED, State.PROCESSING, State.NEEDS_REVIEW],
            State.FAILED,
            note=message,
            error_status=status,
            error_code=(upstream_code or code)[:60],
            error_message=message,
            suggested_prompt=suggested_prompt,
            finished_at=timezone.now(),
            lease_until=None,
            next_poll_at=None,
            next_attempt_at=None,
            reserved_usd=Decimal("0"),
        )
        if moved:  # every state it can leave holds exactly the quote
            budgets.release(job.user_id, job.budget_month, job.quoted_usd)
    return job


def cancel(job: Job, by_user) -> bool:
    """Only a job the worker has not picked up yet can be cancelled: Venice has no cancel call."""
    with transaction.atomic():
        moved = move(
            job,
            [State.PENDING],
            State.CANCELLED,
            note=f"Cancelled by {by_user}",
            finished_at=timezone.now(),
            reserved_usd=Decimal("0"),
        )
        if moved:
            budgets.release(job.user_id, job.budget_month, job.quoted_usd)
    return moved
