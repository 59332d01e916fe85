"""Drive a job through the pipeline in the test process, as the worker would."""

from __future__ import annotations

import io
import threading
import time
import wave

from django.db import connection
from django.utils import timezone

from jobs import pipeline, retrieval
from jobs.models import Job
from wallets.venice import client_for

MUSIC = {"prompt": "warm lo-fi beat with soft piano", "duration_seconds": 30}


def run_to_end(job: Job, timeout: float = 20.0) -> Job:
    """Submit and poll, at the times the pipeline schedules, until the job stops running."""
    deadline = time.monotonic() + timeout
    job.refresh_from_db()
    client = client_for(job.wallet, max_retries=0)
    while job.is_running and time.monotonic() < deadline:
        if job.state == Job.State.PENDING:
            job.next_attempt_at = None
            Job.objects.filter(pk=job.pk).update(next_attempt_at=None)
            pipeline.submit(job.pk)
        elif job.state in (Job.State.QUEUED, Job.State.PROCESSING):
            wait = (job.next_poll_at - timezone.now()).total_seconds()
            if wait > 0:
                time.sleep(min(wait, 0.5))
            else:
                retrieval.poll(job, client)
        job.refresh_from_db()
    return job


def submit_once(user) -> Job:
    """A MUSIC job for ``user``, submitted once: as the worker left it."""
    job = pipeline.create_job(user=user, model_id="elevenlabs-music", fields=MUSIC)
    pipeline.submit(job.pk)
    job.refresh_from_db()
    return job


def submit_several(user, count: int) -> list[Job]:
    """``count`` of MUSIC's jobs for ``user``, each submitted once in turn."""
    jobs = [
        pipeline.create_job(user=user, model_id="elevenlabs-music", fields=MUSIC)
        for _ in range(count)
    ]
    for job in jobs:
        pipeline.submit(job.pk)
    return jobs


def race(target, n=6) -> list:
    """Run `target` in n threads released at once; each thread's answer."""
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


def raise_after(
    monkeypatch, owner, name: str, error: BaseException, *, before: bool = False, times: int = 1
) -> None:
    """Make ``owner.name`` raise ``error`` right after its real call (or instead of it, with
    ``before``), the next ``times`` times: a crash at that point, as the database sees it."""
    real = getattr(owner, name)
    left = {"n": times}

    def dying(*args, **kwargs):
        if left["n"] <= 0:
            return real(*args, **kwargs)
        left["n"] -= 1
        if not before:
            real(*args, **kwargs)
        raise error

    monkeypatch.setattr(owner, name, dying)


def wav_file(pcm: bytes, rate: int, channels: int = 1) -> io.BytesIO:
    """16-bit PCM frames as a WAV file, read from its start."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    buffer.seek(0)
    return buffer
