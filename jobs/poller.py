"""The poll loop: one process at a time polls every running job, within each wallet's limits.

django-q2's scheduler wakes only every 30 s, far too coarse to notice a finished job within a
second or two, so polling is not a Schedule per job. Instead one long task, `run`, holds a lease
and loops for POLL_LOOP_SECONDS: each pass it polls the jobs whose `next_poll_at` has come (set
from Venice's own time estimate), sleeps until the next one is due (at most half a second), and
before it ends it hands over to a successor task if work remains. The minute Schedule only
restarts the loop after a crash. See README, "How polling works".
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from ops import leases, logs
from ops.leases import drop_lease, take_lease
from venice import VeniceClient
from wallets.throttle import take_rate_slot
from wallets.venice import client_for

from . import enqueue, recovery, retrieval, schedule
from .models import Job
from .signals import poll_dispatched, poll_postponed

log = logging.getLogger(__name__)

LEASE_NAME = "poll-loop"
# The loop renews its lease every pass (at most a second apart): a dead loop's lease runs out
# this soon, and a restarted worker takes over.
LEASE_FOR = datetime.timedelta(seconds=10)
# A claimed poll is held for leases.TERM, renewed by the heartbeat for at most this long: should
# its process die mid-download, the job is due again within the TERM.
POLL_CLAIM = datetime.timedelta(seconds=120)
IDLE_EXIT_S = 3.0
# Stale submissions are rare (a worker died): looking for them every pass would only slow it.
RECOVER_EVERY_S = 1.0
# Leave one of the wallet's five in-flight slots for submissions and top-ups.
POLL_THREADS = 4

POLLED = [Job.State.QUEUED, Job.State.PROCESSING]
LIVE = [Job.State.PENDING, Job.State.SUBMITTING, *POLLED]


def has_work() -> bool:
    return Job.objects.filter(state__in=LIVE).exists()


class Loop:
    def __init__(self) -> None:
        self.holder = uuid.uuid4().hex
        self.clients: dict[int, VeniceClient] = {}
        self.busy: set[int] = set()
        self.dispatched: dict[tuple[int, datetime.datetime | None], float] = {}
        # Since when each due poll has waited for a free thread (all POLL_THREADS busy).
        self.thread_wait_since: dict[int, float] = {}
        # Since when each due poll has been passed over, for a thread or a rate-window row.
        self.passed_over_since: dict[int, float] = {}
        self.polls = 0
        self.recovered_at = -1e9

    def run(self, seconds: float) -> int:
        if not take_lease(LEASE_NAME, self.holder, LEASE_FOR):
            return 0
        deadline = time.monotonic() + seconds
        idle_since: float | None = None
        try:
            with ThreadPoolExecutor(max_workers=POLL_THREADS, thread_name_prefix="poll") as pool:
                while time.monotonic() < deadline:
                    if not take_lease(LEASE_NAME, self.holder, LEASE_FOR):
                        log.warning("poll loop lost its lease; stopping")
                        break
                    if time.monotonic() - self.recovered_at > RECOVER_EVERY_S:
                        recovery.recover_stale()
                        self.recovered_at = time.monotonic()
                    self.dispatch_submissions()
                    self.poll_due(pool)
                    if self.busy or has_work():
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > IDLE_EXIT_S:
                        break
                    time.sleep(self.sleep_time())
        finally:
            drop_lease(LEASE_NAME, self.holder)
            for client in self.clients.values():
                client.close()
        return self.polls

    def poll_due(self, pool: ThreadPoolExecutor) -> None:
        now = timezone.now()
        due = schedule.likeliest_done_first(
            list(
                Job.objects.filter(state__in=POLLED, next_poll_at__lte=now)
                .exclude(pk__in=self.busy)
                .order_by("next_poll_at")
                .only(
                    "pk",
                    "wallet_id",
                    "next_poll_at",
                    "model_id",
                    "duration_seconds",
                    "queued_at",
                    "average_execution_time_ms",
                )[:50]
            ),
            now,
            self.passed_over_since,
        )
        waits: dict[int, float] = {}  # wallets out of calls for this pass
        for index, job in enumerate(due):
            if len(self.busy) >= POLL_THREADS:
                for waiting in due[index:]:
                    self.thread_wait_since.setdefault(waiting.pk, time.monotonic())
                    self.passed_over_since.setdefault(waiting.pk, time.monotonic())
                return
            wait = waits.get(job.wallet_id) or take_rate_slot(
                job.wallet_id, "retrieve", settings.RETRIEVE_PER_MINUTE
            )
            if wait:
                waits[job.wallet_id] = wait
                self.passed_over_since.setdefault(job.pk, time.monotonic())
                Job.objects.filter(pk=job.pk, next_poll_at=job.next_poll_at).update(
                    next_poll_at=now + datetime.timedelta(seconds=wait)
                )
                poll_postponed.send(Loop, job_id=job.pk, seconds=wait)
                continue
            # Claim the poll: should this process die mid-download, it is due again later.
            until = leases.term_from(now)
            claimed = Job.objects.filter(pk=job.pk, next_poll_at=job.next_poll_at).update(
                next_poll_at=until
            )
            waited_since = self.thread_wait_since.pop(job.pk, None)
            self.passed_over_since.pop(job.pk, None)
            if claimed:
                poll_dispatched.send(
                    Loop,
                    job_id=job.pk,
                    due_at=job.next_poll_at,
                    waited_for_thread_s=time.monotonic() - waited_since if waited_since else 0.0,
                )
                self.busy.add(job.pk)
                claim = leases.hold(Job, {"pk": job.pk}, "next_poll_at", until, POLL_CLAIM)
                pool.submit(self.poll_one, job.pk, claim)

    def poll_one(self, job_id: int, claim: leases.Lease | None = None) -> None:
        try:
            job = Job.objects.select_related("wallet").get(pk=job_id)
            if job.state in POLLED:
                if job.wallet_id not in self.clients:
                    self.clients[job.wallet_id] = client_for(job.wallet, max_retries=0)
                with logs.bound(job_id=job.pk, wallet=job.wallet.name):
                    retrieval.poll(job, self.clients[job.wallet_id])
                self.polls += 1
        except Exception:
            log.exception("polling job %s failed", job_id)
            Job.objects.filter(pk=job_id).update(
                next_poll_at=timezone.now() + datetime.timedelta(seconds=5)
            )
        finally:
            if claim is not None:
                claim.forget()  # the poll has set the job's next poll time (or will be retried)
            self.busy.discard(job_id)
            connection.close()

    def dispatch_submissions(self) -> None:
        """Re-enqueue PENDING jobs whose retry time came, or whose first enqueue was lost."""
        now = timezone.now()
        due = Job.objects.filter(state=Job.State.PENDING).filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, created_at__lt=now - datetime.timedelta(seconds=10))
        )
        for job_id, due_at in due.values_list("pk", "next_attempt_at")[:100]:
            # Once per retry time; again after 30 s in case that enqueue was lost.
            key = (job_id, due_at)
            if time.monotonic() - self.dispatched.get(key, -1e9) > 30:
                self.dispatched[key] = time.monotonic()
                enqueue.submit(job_id)

    def sleep_time(self) -> float:
        upcoming = (
            Job.objects.filter(state__in=POLLED, next_poll_at__isnull=False)
            .exclude(pk__in=self.busy)
            .order_by("next_poll_at")
            .values_list("next_poll_at", flat=True)
            .first()
        )
        # Wake often enough to pick up new jobs, and well within a detection step.
        longest = min(0.5, schedule.detect_s() / 3)
        if upcoming is None:
            return longest
        return min(longest, max(0.02, (upcoming - timezone.now()).total_seconds()))


def run(seconds: float) -> int:
    """Run the loop; hand over to a successor when time is up and jobs are still running."""
    polls = Loop().run(seconds)
    if has_work():
        ensure_running()
    return polls


def ensure_running() -> None:
    """Start the loop as a task, unless one is running (holds the lease)."""
    if leases.lease_free(LEASE_NAME):
        async_task("jobs.tasks.poll_loop", group="poll")
