"""A job's happy path, step by step: PENDING → SUBMITTING → QUEUED → PROCESSING → COMPLETED."""

import datetime
from decimal import Decimal

import httpx
import mutagen
import pytest
from django.utils import timezone

from jobs import pipeline, retrieval, tasks
from jobs.models import Job
from tests.jobs_helpers import MUSIC, run_to_end, submit_once, submit_several
from wallets import budgets, sync
from wallets.models import TopUp
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


def test_a_sync_deletes_only_leftover_upstream_media_never_racing_the_poll(wallet, member, venice):
    venice.set_fault("complete", mode="delete_failed", count=1)  # the poll's delete fails
    job = run_to_end(submit_once(member))
    assert job.state == Job.State.COMPLETED and job.media_deleted_at is None
    completes = venice.stats(wallet.address)["calls"]["complete"]

    # Just finished: the poll that saved it may still be deleting Venice's copy. The sync waits.
    sync.sync_wallet(wallet.pk)
    assert venice.stats(wallet.address)["calls"]["complete"] == completes
    assert Job.objects.get(pk=job.pk).media_deleted_at is None

    Job.objects.filter(pk=job.pk).update(
        finished_at=timezone.now() - tasks.LEFTOVER_AFTER - datetime.timedelta(seconds=1)
    )
    sync.sync_wallet(wallet.pk)
    assert venice.stats(wallet.address)["calls"]["complete"] == completes + 1
    assert venice.stats(wallet.address)["statuses"]["complete"].get("404") is None
    assert Job.objects.get(pk=job.pk).media_deleted_at is not None


def test_create_prices_reserves_and_saves_a_pending_job(wallet, member):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    assert job.state == Job.State.PENDING
    assert job.quoted_usd > 0 and job.reserved_usd == job.quoted_usd
    budget = budgets.member_budget(member.pk, job.budget_month)
    assert budget.reserved_usd == job.quoted_usd
    assert [e.state for e in job.events.all()] == [Job.State.PENDING]


def test_submit_tops_up_under_policy_then_queues(wallet, member):
    job = submit_once(member)
    assert job.state == Job.State.QUEUED and job.queue_id
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.CREDITED
    assert topup.amount_usd == wallet.topup_amount_usd
    assert topup.tx_hash and topup.payment_id


def test_a_second_submit_of_the_same_job_does_nothing(wallet, member):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    pipeline.submit(job.pk)
    assert pipeline.submit(job.pk) is None
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_full_path_saves_playable_audio_deletes_it_upstream_and_settles(wallet, member, venice):
    job = submit_once(member)
    retrieval.poll(job, client_for(wallet))  # at once, while Venice is still generating
    job.refresh_from_db()
    assert job.state == Job.State.PROCESSING
    assert job.average_execution_time_ms > 0 and job.next_poll_at > job.progress_at
    job = run_to_end(job)
    assert job.state == Job.State.COMPLETED, job.error_message
    states = [e.state for e in job.events.all()]
    assert states == ["pending", "submitting", "queued", "processing", "completed"]
    assert job.execution_duration_ms is not None and job.average_execution_time_ms > 0

    with job.audio.open("rb") as audio:
        seconds = mutagen.File(audio).info.length  # music is MP3 (§8)
    assert abs(seconds - 30) < 1 and abs(job.audio_duration_s - seconds) < 0.01
    assert job.audio_bytes == job.audio.size and job.audio_format == "mp3"

    # Venice's copy is gone: retrieve now answers 404.
    assert job.media_deleted_at is not None
    response = httpx.post(
        f"{venice.api_url}/audio/retrieve",
        json={"model": job.model_id, "queue_id": job.queue_id},
        headers={"Authorization": "Bearer nobody"},
    )
    assert response.status_code in (401, 404)

    budget = budgets.member_budget(member.pk, job.budget_month)
    assert budget.reserved_usd == 0 and budget.spent_usd == job.quoted_usd == job.settled_usd


@pytest.mark.parametrize(
    "model_id, fields",
    [
        ("minimax-music-v25", {"prompt": "an upbeat synth-pop song", "lyrics_optimizer": True}),
        (
            "elevenlabs-sound-effects-v2",
            {"prompt": "a heavy wooden door creaking", "duration_seconds": 3, "loop": True},
        ),
        ("elevenlabs-tts-v4", {"prompt": "Welcome to the studio, everyone."}),
    ],
)
def test_every_pricing_shape_runs_to_completion(wallet, member, model_id, fields):
    job = pipeline.create_job(user=member, model_id=model_id, fields=fields)
    assert job.quoted_usd > Decimal("0")
    assert run_to_end(job).state == Job.State.COMPLETED


def test_a_burst_beyond_the_queue_rate_waits_its_turn_without_a_call(
    wallet, member, venice, settings
):
    settings.QUEUE_PER_MINUTE = 2
    jobs = submit_several(member, 3)
    assert venice.stats(wallet.address)["calls"]["queue"] == 2
    third = Job.objects.get(pk=jobs[2].pk)
    assert third.state == Job.State.PENDING and third.attempts == 0
    assert 50 < (third.next_attempt_at - timezone.now()).total_seconds() <= 60
    assert "queue calls a minute are taken" in third.events.last().note
    assert pipeline.submit(third.pk) is None, "not before its time"
