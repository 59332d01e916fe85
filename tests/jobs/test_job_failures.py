"""Each upstream error ends in an outcome a member understands, and the money follows it."""

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs import pipeline
from jobs.models import Job
from tests.jobs_helpers import MUSIC, run_to_end, submit_once
from venice import Processing
from wallets import budgets

pytestmark = pytest.mark.django_db


def budget_of(job):
    return budgets.member_budget(job.user_id, job.budget_month)


def test_content_policy_fails_with_the_suggested_prompt_and_releases_the_budget(wallet, member):
    job = pipeline.create_job(
        user=member,
        model_id="elevenlabs-music",
        fields={**MUSIC, "prompt": "a ballad about smuggling contraband at night"},
    )
    job = run_to_end(job)
    assert job.state == Job.State.FAILED
    assert job.error_status == 422
    assert "content policy" in job.error_message
    assert job.suggested_prompt and "contraband" not in job.suggested_prompt.lower()
    budget = budget_of(job)
    assert budget.reserved_usd == 0 and budget.spent_usd == 0


def test_a_generation_that_keeps_failing_ends_failed(wallet, member):
    job = pipeline.create_job(
        user=member, model_id="elevenlabs-music", fields={**MUSIC, "prompt": "kaboom drum solo"}
    )
    job = run_to_end(job, timeout=30)
    assert job.state == Job.State.FAILED
    # Venice's 500 with its error body is its answer about the job: no waiting it out.
    assert job.error_status == 500 and job.poll_errors == 0
    assert budget_of(job).reserved_usd == 0


def test_a_rate_limited_submission_goes_back_to_pending_with_a_retry_time(wallet, member, venice):
    venice.set_fault("queue", status=429, count=20)
    job = submit_once(member)
    assert job.state == Job.State.PENDING
    assert job.next_attempt_at is not None and job.queue_sent_at is None
    assert "slow down" in job.events.last().note
    venice.clear_faults()
    assert run_to_end(job).state == Job.State.COMPLETED


def test_capacity_is_retried_then_gives_up_with_a_reason(wallet, member, monkeypatch):
    monkeypatch.setattr(pipeline, "MAX_SUBMIT_ATTEMPTS", 2)
    job = pipeline.create_job(
        user=member, model_id="elevenlabs-music", fields={**MUSIC, "prompt": "stampede of horses"}
    )
    job = run_to_end(job)
    assert job.state == Job.State.FAILED and job.error_code == "unavailable"
    assert job.attempts == 2
    assert budget_of(job).reserved_usd == 0


def test_credit_beyond_the_policy_fails_without_any_paid_call(wallet, member, venice):
    wallet.max_topup_per_day_usd = Decimal("0")
    wallet.save()
    job = submit_once(member)
    assert job.state == Job.State.FAILED and job.error_code == "insufficient_credit"
    assert "top-up policy" in job.error_message
    assert venice.stats(wallet.address)["calls"].get("queue", 0) == 0
    assert not wallet.topups.exists()
    assert budget_of(job).reserved_usd == 0


def test_a_500_on_the_queue_call_is_never_resent_blindly(wallet, member, venice):
    venice.set_fault("queue", status=500, count=1)
    job = submit_once(member)
    assert job.state == Job.State.NEEDS_REVIEW
    assert venice.stats(wallet.address)["calls"]["queue"] == 1
    assert budget_of(job).reserved_usd == job.quoted_usd  # held until the ledger decides


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"prompt": "short"}, "prompt"),
        ({**MUSIC, "lyrics_prompt": "la la la"}, "lyrics_prompt"),
        ({**MUSIC, "duration_seconds": 100000}, "duration_seconds"),
        ({**MUSIC, "voice": "Aria"}, "voice"),
    ],
)
def test_a_body_the_model_rejects_is_refused_before_anything_is_saved_or_paid(
    wallet, member, venice, fields, field
):
    with pytest.raises(pipeline.JobRejected) as refused:
        pipeline.create_job(user=member, model_id="elevenlabs-music", fields=fields)
    assert refused.value.field == field and str(refused.value)
    assert not Job.objects.exists()
    assert venice.stats(wallet.address)["calls"].get("queue", 0) == 0


def test_a_forged_model_id_is_refused(wallet, member):
    with pytest.raises(pipeline.JobRejected, match="not a model") as refused:
        pipeline.create_job(user=member, model_id="elevenlabs-voice-changer", fields=MUSIC)
    assert refused.value.field == "model"
    assert not Job.objects.exists()


def test_an_over_budget_job_is_refused_and_creates_nothing(wallet, member, settings):
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "0.05"
    with pytest.raises(pipeline.JobRejected, match="budget"):
        pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    assert not Job.objects.exists()
    assert budgets.member_budget(member.pk, budgets.month_of(timezone.now())).reserved_usd == 0


def test_a_400_from_venice_itself_fails_with_its_details(wallet, member):
    """A custom voice id passes local checks (any string may be one); Venice refuses it."""
    job = pipeline.create_job(
        user=member,
        model_id="elevenlabs-tts-v4",
        fields={"prompt": "Read this aloud, please.", "voice": "Morgan"},
    )
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error_status == 400
    assert "Venice rejected the request" in job.error_message
    assert budget_of(job).reserved_usd == 0


def test_audio_that_expired_before_download_fails_the_job(wallet, member):
    from wallets.venice import client_for

    job = submit_once(member)
    client = client_for(wallet)
    while isinstance(result := client.retrieve(job.model_id, job.queue_id), Processing):
        time.sleep(0.1)
    result.close()
    client.complete(job.model_id, job.queue_id)  # someone else deleted Venice's copy
    job = run_to_end(job)
    assert job.state == Job.State.FAILED and job.error_status == 404
    assert "no longer has" in job.error_message


def test_an_option_venice_does_not_have_is_refused_by_name(wallet, member):
    with pytest.raises(pipeline.JobRejected, match="no option tempo") as refused:
        pipeline.create_job(
            user=member, model_id="elevenlabs-music", fields={**MUSIC, "tempo": 120}
        )
    assert refused.value.field == "tempo"
    assert not Job.objects.exists()
