"""When to poll a running job: rarely while it cannot be done, every couple of seconds once it can.

Venice reports `average_execution_time`, a P80 estimate for the job, and `execution_duration`,
the time since it was queued. Jobs of a model finish within a band around that estimate; the
band is learned from this model's recent completed jobs (how long each ran, as a fraction of its
estimate: Venice's own `x-venice-inference-time` where it sent one, else when it was found
ready). Until `execution_duration` reaches the band's lower edge one poll suffices; inside it the
job is polled every POLL_DETECT_SECONDS, so a finished job is noticed within about that long.
The first poll inside comes one step after the edge, not at it: a poll at the edge could only
find a job that beat every earlier one, and one a step later finds it too, within the step.
With no history yet, the band starts at 0: poll every POLL_DETECT_SECONDS from the start, which
is the safe (if costly) answer.
"""

from __future__ import annotations

import datetime
import threading
import time

from django.conf import settings
from django.db.models import Q

from .models import Job

HISTORY = 50  # recent completed jobs per model that define its band
MIN_HISTORY = 5
CACHE_S = 30.0
# A due poll passed over this many detection steps is taken before likelier ones.
FAIR_AFTER_STEPS = 2

_cache: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()


def detect_s() -> float:
    return settings.POLL_DETECT_SECONDS


def earliest_ratio(model_id: str) -> float:
    """The fraction of its estimate before which no job of this model is expected to be ready."""
    with _lock:
        cached = _cache.get(model_id)
        if cached and time.monotonic() - cached[1] < CACHE_S:
            return cached[0]
    rows = list(
        Job.objects.filter(
            model_id=model_id,
            state=Job.State.COMPLETED,
            queued_at__isnull=False,
            finished_at__isnull=False,
        )
        .filter(Q(average_execution_time_ms__gt=0) | Q(inference_time_s__gt=0))
        .order_by("-finished_at")
        .values_list(
            "queued_at",
            "finished_at",
            "average_execution_time_ms",
            "inference_time_s",
            "duration_seconds",
        )[:HISTORY]
    )
    ready = []
    estimates: dict[int | None, int | None] = {}
    for queued, finished, average, inference_s, duration in rows:
        # A job found ready at its first poll never reported Venice's estimate. Leaving it out
        # would keep only the jobs that outran their first poll: the band would learn from the
        # slow ones alone and creep later with every job. Its model's estimate for its length
        # stands in (Venice's estimate depends on the model and the length alone).
        if not average:
            if duration not in estimates:
                estimates[duration] = estimate_ms(model_id, duration)
            average = estimates[duration]
        if not average:
            continue
        # Venice's x-venice-inference-time says how long the job ran. Without it, a job found
        # ready at finished_at was ready at most one detection step before: count it so.
        ran_s = inference_s or (finished - queued).total_seconds() - detect_s()
        ready.append(ran_s * 1000 / average)
    ratio = 0.0
    if len(ready) >= MIN_HISTORY:
        # The earliest of n jobs is later than the earliest possible: reach below it by the
        # spread seen over n - 1 (the unbiased lower end of an even spread). A job that still
        # beats the edge is found by the first poll, one step after it.
        lowest, highest = min(ready), max(ready)
        ratio = max(0.0, lowest - (highest - lowest) / (len(ready) - 1))
    with _lock:
        _cache[model_id] = (ratio, time.monotonic())
    return ratio


def forget() -> None:
    with _lock:
        _cache.clear()


def estimate_ms(model_id: str, duration_seconds: int | None) -> int | None:
    """Venice's estimate for a job of this model and length, from an earlier job's progress
    report. Venice's estimate grows with the length asked for, so an earlier job of this length,
    or else the longest shorter one, gives an estimate no later than this job's own."""
    if not duration_seconds:
        return None
    return (
        Job.objects.filter(
            model_id=model_id,
            duration_seconds__lte=duration_seconds,
            average_execution_time_ms__isnull=False,
        )
        .order_by("-duration_seconds", "-queued_at")
        .values_list("average_execution_time_ms", flat=True)
        .first()
    )


def first_poll_delay(job: Job) -> datetime.timedelta:
    """Before the first answer the job's own estimate is unknown: its model's for its length
    stands in (see `estimate_ms`)."""
    if previous := estimate_ms(job.model_id, job.duration_seconds):
        band_starts_s = previous * earliest_ratio(job.model_id) / 1000
        return datetime.timedelta(seconds=detect_s() + band_starts_s)
    return datetime.timedelta(seconds=detect_s())


def likeliest_done_first(
    due: list[Job], now: datetime.datetime, passed_over_since: dict[int, float] | None = None
) -> list[Job]:
    """Due polls ordered by how far each job is through Venice's estimate for it, furthest first.

    When the wallet's retrieves a minute or its in-flight slots cannot take every due poll at
    once, the first ones go now and the rest wait. A poll that finds its job still running
    delays nothing by waiting, while one that would find it ready delays the member: so the
    slots go to the jobs likeliest to be done (in a band of even spread, the later a job is
    in it, the likelier), not to those due longest.

    Except that under a lasting shortage the job with the least progress (or none known) would
    lose every pass and never be polled: a poll passed over (`passed_over_since`, monotonic
    times by job) for longer than FAIR_AFTER_STEPS detection steps goes first, longest first.
    """
    if len(due) < 2:  # the loop's usual pass: nothing to order, so no estimate to look up
        return due
    passed_over_since = passed_over_since or {}
    overdue_from = time.monotonic() - FAIR_AFTER_STEPS * detect_s()
    estimates: dict[tuple[str, int | None], int | None] = {}

    def progress(job: Job) -> float:
        estimate = job.average_execution_time_ms
        if not estimate:  # not polled yet: its model's estimate for its length stands in
            key = (job.model_id, job.duration_seconds)
            if key not in estimates:
                estimates[key] = estimate_ms(*key)
            estimate = estimates[key]
        if not estimate or job.queued_at is None:
            return 0.0
        return (now - job.queued_at).total_seconds() * 1000 / estimate

    def order(job: Job) -> tuple[int, float]:
        since = passed_over_since.get(job.pk)
        if since is not None and since < overdue_from:
            return (0, since)
        return (1, -progress(job))

    return sorted(due, key=order)


def next_poll_delay(model_id: str, execution_ms: float, average_ms: float) -> float:
    """Seconds until the next poll, given Venice's latest progress report."""
    band_starts_s = (average_ms * earliest_ratio(model_id) - execution_ms) / 1000
    return detect_s() + max(0.0, band_starts_s)
