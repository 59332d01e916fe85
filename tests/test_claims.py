"""Several workers never take the same job or run two poll loops."""

import threading

import pytest
from django.db import connection

from jobs import pipeline, poller
from jobs.models import Job

from .jobs_helpers import MUSIC

pytestmark = pytest.mark.django_db(transaction=True)


def race(target, n=6):
    results, barrier = [], threading.Barrier(n)

    def run():
        barrier.wait()
        try:
            results.append(target())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_six_workers_submitting_one_job_queue_it_once(wallet, member, venice):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    results = race(lambda: pipeline.submit(job.pk))
    assert sum(result is not None for result in results) == 1
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and job.attempts == 1
    assert venice.stats(wallet.address)["calls"]["queue"] == 1


def test_only_one_poll_loop_holds_the_lease(db):
    holders = race(
        lambda: poller.take_lease(
            poller.LEASE_NAME, threading.current_thread().name, poller.LEASE_FOR
        )
    )
    assert holders.count(True) == 1


def test_cancel_only_before_the_worker_takes_it(wallet, member):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    assert pipeline.cancel(job, member)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.reserved_usd == 0
    assert pipeline.submit(job.pk) is None

    other = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    pipeline.submit(other.pk)
    assert not pipeline.cancel(Job.objects.get(pk=other.pk), member)
