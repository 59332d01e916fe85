"""When jobs are polled: once until they can be done, then every POLL_DETECT_SECONDS."""

import datetime
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.utils import timezone

from jobs import poller, schedule
from jobs.models import Job
from tests.jobs_helpers import submit_several

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def detect(settings, venice):  # after `venice`, which sets a faster step
    settings.POLL_DETECT_SECONDS = 1.5
    schedule.forget()


def completed(
    user,
    wallet,
    *,
    ready_after_s,
    estimate_ms,
    n=5,
    model="elevenlabs-music",
    ran_s=None,
    duration=30,
):
    now = timezone.now()
    for _ in range(n):
        Job.objects.create(
            user=user,
            wallet=wallet,
            model_id=model,
            prompt="x" * 12,
            quoted_usd=1,
            budget_month=now.date().replace(day=1),
            state=Job.State.COMPLETED,
            duration_seconds=duration,
            queued_at=now - datetime.timedelta(seconds=ready_after_s),
            finished_at=now,
            average_execution_time_ms=estimate_ms,
            inference_time_s=ran_s,
        )


def test_without_history_a_job_is_polled_every_detection_step(member, wallet):
    assert schedule.earliest_ratio("elevenlabs-music") == 0
    assert schedule.next_poll_delay("elevenlabs-music", 1_000, 60_000) == 1.5


def test_too_little_history_is_not_trusted(member, wallet):
    completed(member, wallet, ready_after_s=60, estimate_ms=60_000, n=4)
    assert schedule.earliest_ratio("elevenlabs-music") == 0


def test_history_moves_the_next_poll_to_where_jobs_start_finishing(member, wallet):
    # Found ready 55.5 s into a 60 s estimate: ready by 54 s at the latest, so the band starts
    # at 0.9 of the estimate. The first poll inside it comes one detection step after the edge.
    completed(member, wallet, ready_after_s=55.5, estimate_ms=60_000)
    ratio = schedule.earliest_ratio("elevenlabs-music")
    assert ratio == pytest.approx(0.9)
    assert schedule.next_poll_delay("elevenlabs-music", 2_000, 100_000) == pytest.approx(89.5)
    # Just short of the edge: one step past it. Inside the band: every detection step.
    assert schedule.next_poll_delay("elevenlabs-music", 88_000, 100_000) == pytest.approx(3.5)
    assert schedule.next_poll_delay("elevenlabs-music", 91_000, 100_000) == 1.5
    # Running late, far past the estimate: still every step.
    assert schedule.next_poll_delay("elevenlabs-music", 150_000, 100_000) == 1.5
    # Other models keep their own (empty) history.
    assert schedule.next_poll_delay("elevenlabs-tts-v4", 2_000, 100_000) == 1.5


def test_venices_own_run_time_places_the_band_more_tightly(member, wallet):
    # Found 55.5 s in, but Venice says the job ran 55 s: the band starts at 55/60 of the
    # estimate, not at the 54/60 that finding it allows.
    completed(member, wallet, ready_after_s=55.5, estimate_ms=60_000, ran_s=55.0)
    assert schedule.earliest_ratio("elevenlabs-music") == pytest.approx(55 / 60)


def test_a_band_learned_from_few_jobs_reaches_below_the_earliest(member, wallet):
    # Five jobs ran 0.90 .. 0.98 of their estimate: the lower edge is 0.90 - 0.08 / 4.
    for ran in (54.0, 55.2, 56.4, 57.6, 58.8):
        completed(member, wallet, ready_after_s=60, estimate_ms=60_000, ran_s=ran, n=1)
    assert schedule.earliest_ratio("elevenlabs-music") == pytest.approx(0.88)


def test_the_first_poll_uses_an_estimate_for_this_length_or_a_shorter_one(member, wallet):
    completed(member, wallet, ready_after_s=55.5, estimate_ms=60_000)
    job = Job(model_id="elevenlabs-music", duration_seconds=30)
    assert schedule.first_poll_delay(job).total_seconds() == pytest.approx(60 * 0.9 + 1.5)
    longer = Job(model_id="elevenlabs-music", duration_seconds=90)
    shorter = Job(model_id="elevenlabs-music", duration_seconds=10)
    # A longer track takes no less time: the 30 s track's estimate is a safe floor for 90 s.
    assert schedule.first_poll_delay(longer).total_seconds() == pytest.approx(60 * 0.9 + 1.5)
    # Nothing known at or below 10 s: poll after one step, to learn the estimate.
    assert schedule.first_poll_delay(shorter).total_seconds() == 1.5


def test_jobs_found_ready_at_their_first_poll_keep_the_band_from_creeping_later(member, wallet):
    # Five jobs were seen running, then ran 0.95 of their estimate. Five more were ready at
    # their first poll, so they never reported an estimate of their own; Venice says they ran
    # 0.80. Left out, the band would start at 0.95 and every job like them would wait for it.
    completed(member, wallet, ready_after_s=60, estimate_ms=60_000, ran_s=57.0)
    completed(member, wallet, ready_after_s=60, estimate_ms=None, ran_s=48.0)
    # Their model's estimate for their length (or a shorter one) stands in for theirs.
    assert schedule.earliest_ratio("elevenlabs-music") == pytest.approx(0.80 - 0.15 / 9)


def test_without_an_estimate_for_its_length_a_job_teaches_the_band_nothing(member, wallet):
    completed(member, wallet, ready_after_s=60, estimate_ms=60_000, ran_s=57.0, duration=60)
    # Shorter than every job with an estimate: no estimate no later than its own is known.
    completed(member, wallet, ready_after_s=60, estimate_ms=None, ran_s=10.0, duration=10)
    assert schedule.earliest_ratio("elevenlabs-music") == pytest.approx(0.95)


def test_due_polls_go_furthest_through_their_estimate_first(member, wallet):
    completed(member, wallet, ready_after_s=60, estimate_ms=60_000, duration=30)
    now = timezone.now()

    def running(queued_s_ago, estimate_ms, **fields):
        queued_at = now - datetime.timedelta(seconds=queued_s_ago)
        fields = {"model_id": "elevenlabs-music", "duration_seconds": 30, **fields}
        return Job(queued_at=queued_at, average_execution_time_ms=estimate_ms, **fields)

    early_in_a_long_band = running(50, 100_000)  # 0.5 of its estimate
    past_its_estimate = running(30, 20_000)  # 1.5
    never_polled = running(40, None)  # its length's estimate from history, 60 s: 0.67
    unknown = running(40, None, duration_seconds=10)  # nothing known at or below 10 s
    ordered = schedule.likeliest_done_first(
        [unknown, early_in_a_long_band, never_polled, past_its_estimate], now
    )
    assert ordered == [past_its_estimate, never_polled, early_in_a_long_band, unknown]


def test_a_poll_passed_over_for_long_goes_first_so_no_job_starves(member, wallet):
    now = timezone.now()
    queued_at = now - datetime.timedelta(seconds=30)
    nearly_done = Job(pk=1, model_id="elevenlabs-music", queued_at=queued_at)
    nearly_done.average_execution_time_ms = 31_000
    unknown = Job(pk=2, model_id="elevenlabs-tts-v4", queued_at=queued_at)  # no estimate: last
    also_unknown = Job(pk=3, model_id="elevenlabs-tts-v4", queued_at=queued_at)
    long_ago = time.monotonic() - schedule.FAIR_AFTER_STEPS * schedule.detect_s() - 1
    just_now = time.monotonic()
    due = [unknown, also_unknown, nearly_done]
    assert schedule.likeliest_done_first(due, now, {2: just_now})[0] == nearly_done
    ordered = schedule.likeliest_done_first(due, now, {2: long_ago, 3: long_ago - 1})
    assert ordered == [also_unknown, unknown, nearly_done]


@pytest.mark.django_db(transaction=True)
def test_under_a_lasting_shortage_every_due_job_is_polled(member, wallet):
    """One retrieve a pass for three jobs due every pass: the two likelier done cannot keep the
    third, the least far through its estimate, waiting for ever."""
    jobs = [
        Job.objects.create(
            user=member,
            wallet=wallet,
            model_id="elevenlabs-music",
            prompt="x" * 12,
            quoted_usd=1,
            budget_month=timezone.now().date().replace(day=1),
            duration_seconds=30,
        )
        for _ in range(3)
    ]
    loop = poller.Loop()
    polled: list[int] = []
    slots = iter([])

    def poll(job, client):
        polled.append(job.pk)

    def one_slot_a_pass(*args):
        return next(slots, 1.0)

    with (
        mock.patch.object(poller.retrieval, "poll", poll),
        mock.patch.object(poller, "take_rate_slot", one_slot_a_pass),
        ThreadPoolExecutor(max_workers=poller.POLL_THREADS) as pool,
    ):
        for _ in range(8):
            now = timezone.now()
            for job, estimate_ms in zip(jobs, (1_000, 2_000, 600_000), strict=True):
                Job.objects.filter(pk=job.pk).update(
                    state=Job.State.PROCESSING,
                    queued_at=now - datetime.timedelta(seconds=1),
                    next_poll_at=now,
                    average_execution_time_ms=estimate_ms,
                )
            slots = iter([0.0])
            loop.poll_due(pool)
            while loop.busy:
                time.sleep(0.01)
            time.sleep(schedule.detect_s() / 2)
    assert len(polled) == 8, "one poll a pass"
    assert polled[0] == jobs[0].pk, "the likeliest done first"
    assert jobs[2].pk in polled, polled


@pytest.mark.django_db(transaction=True)
def test_a_scarce_retrieve_goes_to_the_job_likeliest_done(member, wallet, venice, settings):
    settings.RETRIEVE_PER_MINUTE = 1
    first, second = submit_several(member, 2)
    now = timezone.now()
    # Both are due; the second, submitted later, is further through its (shorter) estimate.
    Job.objects.filter(pk=first.pk).update(
        next_poll_at=now - datetime.timedelta(seconds=5), average_execution_time_ms=600_000
    )
    Job.objects.filter(pk=second.pk).update(next_poll_at=now, average_execution_time_ms=1_000)
    with ThreadPoolExecutor(max_workers=poller.POLL_THREADS) as pool:
        poller.Loop().poll_due(pool)
    assert venice.stats(wallet.address)["calls"]["retrieve"] == 1
    assert Job.objects.get(pk=second.pk).polls == 1
    assert Job.objects.get(pk=first.pk).polls == 0
    assert Job.objects.get(pk=first.pk).next_poll_at > now, "it waits for the window"
