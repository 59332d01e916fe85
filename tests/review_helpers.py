"""Jobs whose queue answer was lost (NEEDS_REVIEW), made on purpose against the sandbox: the
review's tests, the reliability scenarios and the admin's Resolve page in the browser start
from them. And ledger rows written straight into Venice's ledger copy, for the spend figures."""

from __future__ import annotations

import datetime
import itertools
import time
from decimal import Decimal

from jobs import pipeline, recovery
from jobs.models import Job
from wallets import ledger
from wallets.models import LedgerEntry
from wallets.venice import client_for

SCALE = 0.005  # the session sandbox's time scale
FIELDS = {"prompt": "a private lullaby for my daughter", "duration_seconds": 30}


def job_for(user, prompt: str, seconds: int, model_id: str = "elevenlabs-music") -> Job:
    """A member's job, priced by its model and duration as the generate form makes it."""
    return pipeline.create_job(
        user=user, model_id=model_id, fields={"prompt": prompt, "duration_seconds": seconds}
    )


def lose_the_answer(job: Job, venice, settings) -> Job:
    """Venice accepts the job, but its answer arrives after the worker has given up."""
    settings.VENICE_TIMEOUT_S = 0.5
    venice.set_fault("queue", delay_ms=int(1.5 / SCALE * 1000), count=1)
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.NEEDS_REVIEW and "ReadTimeout" in job.events.last().note
    time.sleep(1.3)  # the delayed call lands at Venice, and is charged
    settings.VENICE_TIMEOUT_S = 30  # the default again, for whatever the test calls next
    return job


def never_accepted(job: Job, venice) -> Job:
    """Venice answers 500 and never takes the job (an injected fault charges nothing)."""
    venice.set_fault("queue", status=500, count=1)
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.NEEDS_REVIEW
    return job


def review(wallet) -> None:
    ledger.sync(wallet, client_for(wallet))
    recovery.review_unknown_submissions(wallet)


def two_jobs_one_charge(wallet, member, venice, settings, django_user_model) -> tuple[Job, Job]:
    """Another member's private job Venice charged, and the member's it never took: same model,
    same price, a few seconds apart. Returns (accepted, refused), both still NEEDS_REVIEW."""
    other = django_user_model.objects.create_user("other", password="other-pass-123")
    accepted = lose_the_answer(
        pipeline.create_job(user=other, model_id="elevenlabs-music", fields=FIELDS, private=True),
        venice,
        settings,
    )
    refused = never_accepted(
        pipeline.create_job(user=member, model_id="elevenlabs-music", fields=dict(FIELDS)),
        venice,
    )
    review(wallet)
    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.state == refused.state == Job.State.NEEDS_REVIEW  # nothing tells them apart
    return accepted, refused


_row_ids = itertools.count(1)


def ledger_row(wallet, kind: str, usd: str, at: datetime.datetime, **fields) -> LedgerEntry:
    """One row of Venice's ledger as the sync would have copied it (CHARGE, REFUND, TOP_UP)."""
    return LedgerEntry.objects.create(
        wallet=wallet,
        venice_id=f"row-{next(_row_ids)}",
        type=kind,
        amount_usd=Decimal(usd),
        created_at=at,
        **fields,
    )
