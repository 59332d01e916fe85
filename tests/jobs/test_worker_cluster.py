"""The real django-q2 cluster, in its own processes, takes jobs from submit to saved audio."""

import time

import pytest

from jobs import pipeline
from jobs.models import Job
from tests.jobs_helpers import MUSIC
from tests.reliability_helpers import describe

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(jobs, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = set(
            Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)
        )
        if not states & set(Job.RUNNING):
            return
        time.sleep(0.2)
    raise AssertionError(f"jobs still running: {states}\n" + describe([j.pk for j in jobs]))


def test_the_cluster_completes_jobs_from_several_members(
    worker, wallet, member, admin_user, venice
):
    jobs = [
        pipeline.create_job(user=user, model_id=model, fields=fields)
        for user in (member, admin_user)
        for model, fields in (
            ("elevenlabs-music", MUSIC),
            ("elevenlabs-tts-v4", {"prompt": "Good morning, team. The render is ready."}),
            (
                "elevenlabs-sound-effects-v2",
                {"prompt": "rain on a tin roof", "duration_seconds": 4},
            ),
        )
    ]
    wait_for(jobs)
    for job in Job.objects.filter(pk__in=[j.pk for j in jobs]):
        assert job.state == Job.State.COMPLETED, (job.pk, job.error_message)
        assert job.audio and job.audio.size == job.audio_bytes
    stats = venice.stats(wallet.address)
    assert stats["calls"]["queue"] == len(jobs), "each job queued exactly once"
    assert stats["peak_in_flight"] <= 5
    # Polls were scheduled from Venice's estimate, not hammered.
    assert stats["calls"]["retrieve"] <= len(jobs) * 6
