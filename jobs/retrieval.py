"""Polling a queued job and saving its audio: one retrieve call and what follows from its answer.

The poll loop (jobs.poller) calls `poll` for each job whose time has come; the answer moves the
job on (jobs.states), schedules its next poll, or streams the finished audio to storage.
"""

from __future__ import annotations

import datetime
import logging
import mimetypes
import posixpath
import random
import tempfile
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from venice import AudioResult, Processing, VeniceClient, errors
from wallets import budgets, throttle

from . import audio_file, enqueue, schedule, states, waveform
from .audio_file import AudioFacts
from .models import Job, JobEvent

log = logging.getLogger(__name__)

State = Job.State
# Polls through an outage back off up to this.
OUTAGE_BACKOFF_CAP_S = 60.0
# How long Venice keeps a finished job's media (settings.VENICE_MEDIA_RETENTION_S may say).
DEFAULT_MEDIA_RETENTION_S = 24 * 3600.0


def poll(job: Job, client: VeniceClient) -> Job:
    """One retrieve call for a QUEUED/PROCESSING job, and what follows from its answer.

    Venice has been paid for this job, so only Venice's own answer about it ends it (see
    `answers_for_the_job`). No answer at all (a dropped connection, a gateway's 502/503/504, a
    429) is an outage: the job waits it out, polled with a backoff up to a minute, for as long
    as Venice keeps the media (VENICE_MEDIA_RETENTION_S).
    """
    try:
        result = client.retrieve(job.model_id, job.queue_id)
    except throttle.NoSlot:  # nothing was sent: our own in-flight slots are busy
        return _poll_again(job, 1.0, error=False)
    except (errors.RateLimited, errors.ConcurrencyLimit) as exc:
        return _poll_again(job, float(getattr(exc, "retry_after", None) or 2.0), error=False)
    except errors.InsufficientBalance:
        # Venice serves only wallets above its floor, even for retrieving paid results.
        enqueue.credit_check(job.wallet_id)
        # Backing off: a 402 that a top-up does not fix (DIEM, a refused payment) answers the
        # same every time, and each one counts against Venice's error budget.
        return _poll_again(job, _error_backoff(job), error=True)
    except errors.VeniceError as exc:
        if answers_for_the_job(exc):
            return states.fail_from(job, exc)
        return _wait_out_outage(job, exc)
    if isinstance(result, Processing):
        return _progress(job, result)
    with result:
        return _finish(job, result, client)


def answers_for_the_job(exc: errors.VeniceError) -> bool:
    """Whether a retrieve error is Venice's answer about this job (reference section 8: 400
    provider validation, 422 content policy, 404 media expired or deleted, 500 inference
    failure with its error body), rather than about Venice or the way to it."""
    if isinstance(exc, errors.MalformedResponse) or exc.status is None:
        return False  # a dropped connection or a cut-off answer
    if exc.status == 500:
        return isinstance(exc.body, dict) and bool(exc.body.get("error"))
    return exc.status in (400, 404, 422)


def _wait_out_outage(job: Job, exc: errors.VeniceError) -> Job:
    now = timezone.now()
    since = job.venice_unreachable_since or now
    retention = datetime.timedelta(
        seconds=getattr(settings, "VENICE_MEDIA_RETENTION_S", DEFAULT_MEDIA_RETENTION_S)
    )
    if now - since > retention:
        return states.fail(
            job,
            "venice_unreachable",
            f"Venice did not answer for longer than it keeps a job's audio "
            f"({retention.total_seconds() / 3600:.0f} h); the last error: {exc}",
            status=exc.status,
        )
    if job.venice_unreachable_since is None:
        Job.objects.filter(pk=job.pk, venice_unreachable_since__isnull=True).update(
            venice_unreachable_since=now
        )
        JobEvent.objects.create(
            job_id=job.pk, state=job.state, note=f"Venice is unreachable, still waiting ({exc})."
        )
        log.warning("job %s: Venice unreachable (%s); polling on", job.pk, exc)
    return _poll_again(job, _error_backoff(job), error=True)


def _error_backoff(job: Job) -> float:
    """Doubling from a tenth of the job's own expected duration (seconds for a short job), up to
    a minute with a little jitter, so that jobs waiting out one outage do not poll in step."""
    expected_ms = job.average_execution_time_ms or schedule.detect_s() * 1000
    base = expected_ms / 1000 * 0.1
    delay = min(OUTAGE_BACKOFF_CAP_S, max(0.25, base * 2 ** min(job.poll_errors, 20)))
    return delay * random.uniform(0.8, 1.0)


def _poll_again(job: Job, delay_s: float, *, error: bool) -> Job:
    fields = {} if error else {"venice_unreachable_since": None}
    Job.objects.filter(pk=job.pk).update(
        next_poll_at=timezone.now() + datetime.timedelta(seconds=delay_s),
        polls=F("polls") + 1,
        poll_errors=F("poll_errors") + 1 if error else 0,
        **fields,
    )
    return job


def _progress(job: Job, status: Processing) -> Job:
    now = timezone.now()
    fields = {
        "execution_duration_ms": int(status.execution_duration_ms),
        "average_execution_time_ms": int(status.average_execution_time_ms),
        "progress_at": now,
        "polls": F("polls") + 1,
        "poll_errors": 0,
        "venice_unreachable_since": None,
        "next_poll_at": now
        + datetime.timedelta(
            seconds=schedule.next_poll_delay(
                job.model_id, status.execution_duration_ms, status.average_execution_time_ms
            )
        ),
    }
    if job.state == State.QUEUED:
        states.move(job, [State.QUEUED], State.PROCESSING, note="Venice is generating", **fields)
    else:
        Job.objects.filter(pk=job.pk, state=State.PROCESSING).update(**fields)
    return job


def _extension(result: AudioResult, facts: AudioFacts) -> str:
    if facts.format:  # the file itself says what it is
        return facts.format
    if result.audio_format:
        return result.audio_format.lower().strip(".")[:8]
    guessed = mimetypes.guess_extension(result.content_type or "") or ".bin"
    return guessed.lstrip(".")


def _finish(job: Job, result: AudioResult, client: VeniceClient) -> Job:
    """Stream the audio to storage (never whole in memory), delete it upstream, settle the money."""
    with tempfile.TemporaryFile() as spool:
        size = 0
        for chunk in result.iter_bytes(64 * 1024):
            spool.write(chunk)
            size += len(chunk)
        facts = audio_file.inspect(spool)
        peaks = _peaks(job, spool, facts)
        name = job.audio.field.generate_filename(job, f"job-{job.pk}.{_extension(result, facts)}")
        stored = default_storage.save(name, File(spool, name=name))

    try:
        moved = _record_audio(job, stored, size, result, facts, peaks)
    except Exception:
        _discard_unless_recorded(job, stored)  # the next poll saves the audio anew
        raise
    if not moved:
        default_storage.delete(stored)  # someone else finished it first
        return job
    if stored != name:
        _remove_leftovers(job, stored)
    delete_upstream_media(job, client)
    return job


def _peaks(job: Job, spool: BinaryIO, facts: AudioFacts) -> list[float]:
    """The waveform, or [] for a file that cannot be decoded. A waveform is for the eyes:
    whatever goes wrong computing it, the paid job still completes, so no error of the decoder
    may stop it."""
    try:
        return waveform.peaks(spool, facts) or []
    except Exception:
        log.exception("job %s: no waveform", job.pk)
        spool.seek(0)
        return []


def _record_audio(
    job: Job,
    stored: str,
    size: int,
    result: AudioResult,
    facts: AudioFacts,
    peaks: list[float],
) -> bool:
    """COMPLETED, pointing at the stored audio with its waveform, and the money settled: all or
    nothing. Format and length are the file's own (Venice's headers only when the file cannot
    say)."""
    audio_format = facts.format or (result.audio_format or "").lower().strip(".")[:20]
    seconds = facts.seconds or result.audio_duration_s
    length = f", {seconds:.1f} s" if seconds else ""
    with transaction.atomic():
        moved = states.move(
            job,
            [State.QUEUED, State.PROCESSING],
            State.COMPLETED,
            note=f"Saved {size:,} bytes of {audio_format or result.content_type}{length}",
            audio=stored,
            audio_bytes=size,
            audio_content_type=facts.content_type or result.content_type or "",
            audio_format=audio_format,
            audio_duration_s=seconds,
            audio_peaks=peaks,
            inference_time_s=result.inference_time_s,
            finished_at=timezone.now(),
            next_poll_at=None,
            polls=F("polls") + 1,
            poll_errors=0,
            venice_unreachable_since=None,
            reserved_usd=Decimal("0"),
            settled_usd=job.quoted_usd,
        )
        if moved:
            budgets.settle(job.user_id, job.budget_month, job.quoted_usd, job.quoted_usd)
    return moved


def _discard_unless_recorded(job: Job, stored: str) -> None:
    """Recording the audio failed; a COMMIT whose answer was lost may still have gone through,
    so the file goes only if the job does not point at it (if the database cannot say, it stays:
    a stray file is better than a job without its audio)."""
    try:
        recorded = Job.objects.filter(pk=job.pk, audio=stored).exists()
    except DatabaseError:
        return
    if not recorded:
        default_storage.delete(stored)


def _remove_leftovers(job: Job, stored: str) -> None:
    """Storage gave the audio another name because this job's own was taken: by the file of an
    attempt whose worker died between saving it and recording it (whole or half written). No
    job points at such a file and none ever will: this job now points at `stored`."""
    folder = posixpath.dirname(stored)
    stem = f"job-{job.pk}"
    for file in default_storage.listdir(folder)[1]:
        path = posixpath.join(folder, file)
        if path != stored and (file.startswith(f"{stem}.") or file.startswith(f"{stem}_")):
            default_storage.delete(path)
            log.info("removed %s, left by an earlier attempt at job %s", path, job.pk)


def delete_upstream_media(job: Job, client: VeniceClient) -> None:
    """Ask Venice to delete its copy; a failure is retried later by a wallet sync."""
    try:
        deleted = client.complete(job.model_id, job.queue_id)
    except errors.NotFound:
        deleted = True  # already gone
    except errors.VeniceError as exc:
        log.warning("complete for job %s failed, will retry: %s", job.pk, exc)
        return
    if not deleted:  # {"success": false}: Venice still holds the audio (reference section 8)
        log.warning("Venice did not delete job %s's media; will retry", job.pk)
        return
    Job.objects.filter(pk=job.pk).update(media_deleted_at=timezone.now())
