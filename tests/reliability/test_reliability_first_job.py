"""The first job on a fresh wallet (issue 11, item 8): its credit is bought before its queue
call, so no member sees "Payment required" because the credit was not known yet."""

from __future__ import annotations

import pytest

from jobs import pipeline
from jobs.models import Job, JobEvent
from tests.jobs_helpers import MUSIC, run_to_end
from tests.reliability_helpers import record
from wallets.models import TopUp

pytestmark = pytest.mark.django_db


def test_the_first_job_on_a_fresh_wallet_tops_up_before_queueing(wallet, member, venice):
    assert wallet.credit_usd is None and wallet.credit_checked_at is None
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    assert job.state == Job.State.COMPLETED
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.CREDITED
    assert topup.settled_at <= job.queued_at, "credited before the job was queued"
    notes = " ".join(JobEvent.objects.filter(job=job).values_list("note", flat=True))
    assert "Payment required" not in notes and "too little credit" not in notes
    assert job.attempts == 1, "queued at the first attempt"
    assert venice.stats(wallet.address)["calls"]["queue"] == 1
    record(
        "The first job on a fresh wallet (issue 11)",
        "credit unknown: the worker tops up before the queue call; one queue call, no 'Payment "
        "required' in the timeline",
    )
