"""Issue 17, item 1: a Venice outage never fails a job Venice has already charged.

No answer (a refused connection, a gateway's 502/503/504) says nothing about the job: it is
polled through the outage with a backoff capped near a minute, the member is told Venice is
unreachable, and it completes once Venice is back. Only Venice's own answer about the job (here
a 500 with its error body: the inference failure of reference section 8) ends it.
"""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import pipeline, retrieval
from jobs.models import Job
from tests.jobs_helpers import MUSIC, run_to_end
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


def queued_job(member, prompt: str = MUSIC["prompt"]) -> Job:
    job = pipeline.create_job(
        user=member, model_id="elevenlabs-music", fields={**MUSIC, "prompt": prompt}
    )
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    return job


def poll_now(job: Job, client) -> Job:
    job.refresh_from_db()
    retrieval.poll(job, client)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_for_longer_than_six_polls_do_not_fail_the_job(
    wallet, member, venice, status
):
    job = queued_job(member)
    venice.set_fault("retrieve", status=status)
    client = client_for(wallet, max_retries=0)
    delays = []
    for _ in range(12):
        before = timezone.now()
        job = poll_now(job, client)
        delays.append((job.next_poll_at - before).total_seconds())
    assert job.state == Job.State.QUEUED, job.error_message
    assert job.venice_unreachable_since is not None and job.poll_errors == 12
    # The backoff grows, and stops near a minute.
    assert delays[-1] > delays[0]
    assert max(delays) <= retrieval.OUTAGE_BACKOFF_CAP_S + 1
    notes = [e.note for e in job.events.all()]
    assert sum("Venice is unreachable, still waiting" in note for note in notes) == 1
    venice.clear_faults()
    Job.objects.filter(pk=job.pk).update(next_poll_at=timezone.now())
    job = run_to_end(job, timeout=30)
    assert job.state == Job.State.COMPLETED
    assert job.venice_unreachable_since is None and job.poll_errors == 0


def test_a_refused_connection_is_an_outage_not_the_jobs_failure(wallet, member, settings):
    job = queued_job(member)
    real_base = settings.VENICE_API_BASE
    settings.VENICE_API_BASE = "http://127.0.0.1:9/api/v1"  # nothing listens on the discard port
    down = client_for(wallet, max_retries=0)
    for _ in range(8):
        job = poll_now(job, down)
    assert job.state == Job.State.QUEUED
    assert job.venice_unreachable_since is not None
    settings.VENICE_API_BASE = real_base
    Job.objects.filter(pk=job.pk).update(next_poll_at=timezone.now())
    assert run_to_end(job, timeout=30).state == Job.State.COMPLETED


def test_the_member_is_told_venice_is_unreachable(wallet, member, venice, client):
    job = queued_job(member)
    venice.set_fault("retrieve", status=503)
    poll_now(job, client_for(wallet, max_retries=0))
    client.force_login(member)
    page = client.get(reverse("jobs:detail", args=[job.pk]))
    assert page.status_code == 200
    assert "Venice is unreachable, still waiting (since" in page.content.decode()
    venice.clear_faults()
    Job.objects.filter(pk=job.pk).update(next_poll_at=timezone.now())
    job = poll_now(job, client_for(wallet, max_retries=0))
    assert job.venice_unreachable_since is None
    page = client.get(reverse("jobs:detail", args=[job.pk]))
    # Only the timeline remembers it now.
    assert "Venice is unreachable, still waiting (since" not in page.content.decode()


def test_venices_own_500_about_the_job_ends_it_at_once(wallet, member):
    job = queued_job(member, "kaboom drum solo")
    job = run_to_end(job, timeout=30)
    assert job.state == Job.State.FAILED
    assert job.error_status == 500 and "failed" in job.error_message.lower()
    assert job.poll_errors == 0  # no outage backoff on the way: Venice's answer was definite


def test_an_outage_longer_than_the_media_retention_ends_the_job(wallet, member, venice, settings):
    job = queued_job(member)
    settings.VENICE_MEDIA_RETENTION_S = 60
    venice.set_fault("retrieve", status=502)
    Job.objects.filter(pk=job.pk).update(
        venice_unreachable_since=timezone.now() - datetime.timedelta(seconds=61)
    )
    job = poll_now(job, client_for(wallet, max_retries=0))
    assert job.state == Job.State.FAILED and job.error_code == "venice_unreachable"
    assert job.reserved_usd == 0


@pytest.mark.parametrize(
    ("status", "body", "about_the_job"),
    [
        (500, {"error": "Audio generation failed. The charge has been refunded."}, True),
        (500, None, False),  # a proxy's HTML page, not Venice's answer
        (502, {"error": "Bad gateway"}, False),
        (503, {"error": "The model is at capacity. Please try again later."}, False),
        (504, None, False),
        (404, {"error": "Media not found: it has expired or was deleted"}, True),
        (422, {"error": "Content policy", "suggested_prompt": "a calm song"}, True),
        (400, {"error": "Provider validation failed"}, True),
        (429, {"error": "Rate limit exceeded. Please try again later."}, False),
    ],
)
def test_which_retrieve_errors_are_venices_answer_about_the_job(status, body, about_the_job):
    from venice import errors

    exc = errors.error_from_response(status, body)
    assert retrieval.answers_for_the_job(exc) is about_the_job
