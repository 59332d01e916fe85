"""Several workers never take the same job or run two poll loops."""

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone

from jobs import pipeline, poller, states
from jobs.models import Job
from ops import leases
from tests.jobs_helpers import MUSIC, race, submit_several

pytestmark = pytest.mark.django_db(transaction=True)


def test_six_workers_submitting_one_job_queue_it_once(wallet, member, venice):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    results = race(lambda: pipeline.submit(job.pk))
    assert sum(result is not None for result in results) == 1
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and job.attempts == 1
    assert venice.stats(wallet.address)["calls"]["queue"] == 1


def test_only_one_poll_loop_holds_the_lease(db):
    holders = race(
        lambda: leases.take_lease(
            poller.LEASE_NAME, threading.current_thread().name, poller.LEASE_FOR
        )
    )
    assert holders.count(True) == 1


def test_cancel_only_before_the_worker_takes_it(wallet, member):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    assert states.cancel(job, member)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.reserved_usd == 0
    assert pipeline.submit(job.pk) is None

    other = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    pipeline.submit(other.pk)
    assert not states.cancel(Job.objects.get(pk=other.pk), member)


def test_the_poll_loop_keeps_to_the_wallets_retrieve_rate_across_a_handover(
    wallet, member, venice, settings
):
    settings.RETRIEVE_PER_MINUTE = 3
    submit_several(member, 5)
    Job.objects.update(next_poll_at=timezone.now())
    with ThreadPoolExecutor(max_workers=poller.POLL_THREADS) as pool:
        first = poller.Loop()
        first.poll_due(pool)
    assert venice.stats(wallet.address)["calls"]["retrieve"] == 3
    # Its successor starts with the window as the first one left it.
    Job.objects.update(next_poll_at=timezone.now())
    with ThreadPoolExecutor(max_workers=poller.POLL_THREADS) as pool:
        poller.Loop().poll_due(pool)
    assert venice.stats(wallet.address)["calls"]["retrieve"] == 3
    later = Job.objects.filter(next_poll_at__gt=timezone.now() + datetime.timedelta(seconds=50))
    # A job the first loop found finished is done (the sandbox's jobs take under a second);
    # every other one, at least the two it could not poll, waits for the window.
    running = Job.objects.filter(state__in=poller.POLLED)
    assert running.count() >= 2
    assert later.count() == running.count(), "every job waits for the window, none is dropped"
