"""What the reliability tests share: real worker clusters they can kill, the invariants that
must hold afterwards, and the figures they report (docs/reliability.md).

A cluster here is `manage.py qcluster` in its own session (process group), exactly as the
`worker` fixture starts it, so a test can SIGKILL all of it at once, as a dead machine would,
or stop it the way a deploy does (SIGTERM to the main process only: django-q2 stops cleanly on
that, but not when every process of the group gets SIGTERM).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent
KILLPOINT_WORKER = Path(__file__).resolve().parent / "reliability" / "killpoint_worker.py"
# Venice's per-minute limits raised tenfold, so that hundreds of jobs fit a bounded CI run, and
# the worker's own pacing raised with them (pacing under the real limits is
# tests/sandbox/test_sandbox_limits.py's, test_rate_limiter.py's and the poll loop's own tests'
# business).
TENFOLD_LIMITS = {
    "queue_per_minute": 400,
    "retrieve_per_minute": 1200,
    "balance_per_minute": 300,
    "transactions_per_minute": 200,
    "top_up_per_minute": 100,
}
TENFOLD_PACING = {
    "RETRIEVE_PER_MINUTE": "1100",
    "QUEUE_PER_MINUTE": "380",
    "BALANCE_PER_MINUTE": "280",
    "TRANSACTIONS_PER_MINUTE": "180",
}


# What a test that starts real worker or web processes on the test database is: slow, and on
# committed data (the other processes cannot see a test's open transaction).
WITH_PROCESSES = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    """The test database as a DATABASE_URL, for the processes a test starts."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = f"{db['USER']}:{db['PASSWORD']}@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    """``manage.py <args>`` in a process of its own with ``env``, its output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def broker() -> str:
    return "redis" if os.environ.get("REDIS_URL") else "orm"


class Cluster:
    """One `manage.py qcluster` (optionally with a kill point armed) on the test database.

    Every one started is listed in `started`: tests/conftest.py kills any still running when
    its test ends, however it ended."""

    started: ClassVar[list[Cluster]] = []

    def __init__(
        self,
        sandbox,
        media_root: Path,
        log_path: Path,
        *,
        workers: int = 2,
        killpoint: str | None = None,
        marker: Path | None = None,
        env: dict | None = None,
    ):
        self.log_path = log_path
        self.killpoint = killpoint
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "VENICE_API_BASE": sandbox.api_url,
            "CHAIN_RPC_URL": sandbox.rpc_url,
            "Q_WORKERS": str(workers),
            "POLL_LOOP_SECONDS": "5",
            "MEDIA_ROOT": str(media_root),
            **(env or {}),
        }
        if killpoint:
            assert marker is not None
            self.env.update(STUDIO_KILLPOINT=killpoint, STUDIO_KILLPOINT_MARKER=str(marker))
        self.process: subprocess.Popen | None = None

    def start(self, settle_s: float = 1.0) -> Cluster:
        command = [sys.executable, str(KILLPOINT_WORKER)] if self.killpoint else []
        command = command or [sys.executable, "manage.py", "qcluster"]
        self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        Cluster.started.append(self)
        time.sleep(settle_s)
        return self

    def wait_running(self, timeout: float = 30.0) -> Cluster:
        """Until django-q2 reports the cluster running (its signal handlers are in place: a
        SIGTERM before that kills the process outright, ungracefully)."""

        def running() -> bool:
            with open(self.log_path, errors="replace") as log:
                log.seek(self._log_from)
                return " running." in log.read()

        wait_until(running, timeout, step=0.1, what="the cluster to start")
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_dead(self, timeout: float) -> bool:
        """True once the whole cluster has gone (e.g. a kill point fired)."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return _group_gone(self.process.pid, timeout=5)

    def kill(self) -> None:
        """SIGKILL every process of the cluster at once: what a dead machine leaves behind."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        _group_gone(self.process.pid, timeout=5)

    def stop(self, timeout: float = 30.0) -> float:
        """A graceful stop (SIGTERM to the main process); returns how long it took."""
        if self.process is None:
            return 0.0
        if self.process.poll() is None:
            self.wait_running()
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        took = time.monotonic() - started
        if not _group_gone(self.process.pid, timeout=0.5):
            self.kill()
        return took

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# --- the team -----------------------------------------------------------------------------------


def team_wallet(sandbox, usdc: str, **topup_policy: str):
    """The team's default wallet holding ``usdc`` test USDC, with this top-up policy (USD)."""
    from wallets import keys

    wallet = keys.create_evm_wallet("team", make_default=True)
    for field, usd in topup_policy.items():
        setattr(wallet, field, Decimal(usd))
    wallet.save()
    sandbox.faucet(wallet.address, usdc)
    return wallet


def create_members(django_user_model, count: int) -> list:
    return [
        django_user_model.objects.create_user(f"member{n}", password="member-pass-123")
        for n in range(count)
    ]


# --- waiting ------------------------------------------------------------------------------------


def wait_until(predicate, timeout: float, step: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def answers(url: str, **headers: str):
    """A `wait_until` predicate: true once anything at all answers at ``url``."""

    def up() -> bool:
        try:
            httpx.get(url, headers=headers, timeout=2)
            return True
        except httpx.HTTPError:
            return False

    return up


# The CSRF token a page's form carries, for a client that posts it back.
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def gunicorn_command(port: int, workers: int = 2, *options: str) -> list[str]:
    """gunicorn serving Studio on a loopback port, as production does."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "studio.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        *options,
    ]


class WebServer:
    """gunicorn serving Studio on loopback, in its own session so it can be killed whole."""

    def __init__(self, port: int, env: dict, log: Path, *options: str, workers: int = 2):
        self.port, self.env, self.log = port, env, log
        self.command = gunicorn_command(port, workers, *options)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(answers(f"http://127.0.0.1:{self.port}/login/"), 30, step=0.1)
        except AssertionError:
            raise AssertionError(
                "gunicorn did not start: " + self.log.read_text()[-2000:]
            ) from None

    def stop(self) -> None:
        """Graceful: SIGTERM to the master, which lets requests in progress finish."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def states(job_ids: Iterable[int]) -> Counter:
    from jobs.models import Job

    return Counter(Job.objects.filter(pk__in=list(job_ids)).values_list("state", flat=True))


def wait_for_jobs(
    job_ids: Iterable[int], timeout: float, *, settled=None, meanwhile=None, every: float = 0.25
) -> Counter:
    """Wait until every job is in a ``settled`` state (by default: finished or under review),
    calling ``meanwhile(count)`` between looks; returns the count per final state."""
    from jobs.models import Job

    ids = list(job_ids)
    final = set(settled or (*Job.FINISHED, Job.State.NEEDS_REVIEW))
    deadline = time.monotonic() + timeout
    while True:
        count = states(ids)
        if set(count) <= final:
            return count
        if time.monotonic() > deadline:
            raise AssertionError(
                f"jobs unfinished after {timeout:.0f} s: {dict(count)}\n" + describe(ids)
            )
        if meanwhile is not None:
            meanwhile(count)
        time.sleep(every)


def drive_to_the_end(job_ids: Iterable[int], timeout: float, *, review_final: bool = False):
    """Stand in for the periodic tasks while a cluster works: the minute sweep, and the
    wallet sync (every 5 minutes in production) that settles jobs whose queue answer was lost.
    Until every job has finished (or, with `review_final`, is at least under review)."""
    from jobs import tasks
    from jobs.models import Job
    from wallets import sync

    last_sync = 0.0

    def periodic_tasks(count: Counter) -> None:
        nonlocal last_sync
        if Job.State.NEEDS_REVIEW in count and time.monotonic() - last_sync > 1.0:
            sync.sync_wallets()
            last_sync = time.monotonic()
        tasks.sweep()

    final = set(Job.FINISHED) | ({Job.State.NEEDS_REVIEW} if review_final else set())
    return wait_for_jobs(job_ids, timeout, settled=final, meanwhile=periodic_tasks, every=0.5)


def describe(job_ids: Iterable[int], limit: int = 8) -> str:
    """The unfinished jobs, their bookkeeping and timelines: what a stuck run left."""
    from jobs.models import Job

    lines = []
    running = Job.objects.filter(pk__in=list(job_ids), state__in=Job.RUNNING).order_by("pk")
    for job in running[:limit]:
        events = " | ".join(f"{e.at:%H:%M:%S.%f} {e.state}: {e.note}" for e in job.events.all())
        lines.append(
            f"job {job.pk} {job.state} attempts={job.attempts} created={job.created_at:%H:%M:%S} "
            f"next_attempt={job.next_attempt_at} lease={job.lease_until} "
            f"sent={job.queue_sent_at} next_poll={job.next_poll_at}: {events}"
        )
    return "\n".join(lines)


def leases_run_out() -> None:
    """The database as the dead worker left it, once its leases ran out.

    A killed worker leaves its claims behind: a SUBMITTING job's lease, a polled job's claimed
    `next_poll_at`, the wallet's top-up lease, the poll loop's lease and its in-flight slots.
    Each runs out within ops.leases.TERM (12 s) of its holder's last heartbeat; the tests
    move the clock of those rows instead of waiting (tests/wallets/test_slots_and_leases.py and the
    outage soak wait for real).
    """
    from jobs.models import Job
    from ops.models import WorkerLease
    from wallets.models import InFlightSlot, Wallet

    past = timezone.now() - datetime.timedelta(seconds=1)
    Job.objects.filter(lease_until__isnull=False).update(lease_until=past)
    Job.objects.filter(
        state__in=[Job.State.QUEUED, Job.State.PROCESSING], next_poll_at__gt=timezone.now()
    ).update(next_poll_at=past)
    Wallet.objects.filter(topup_lease_until__isnull=False).update(topup_lease_until=past)
    WorkerLease.objects.filter(until__isnull=False).update(until=past)
    InFlightSlot.objects.filter(until__isnull=False).update(until=past)


# --- invariants ---------------------------------------------------------------------------------


def audio_files(media: Path) -> set[Path]:
    """Every file under the media folder's audio tree."""
    return {path for path in (Path(media) / "audio").rglob("*") if path.is_file()}


def audio_problem(path: str, expected_bytes: int | None, duration_s: float | None) -> str | None:
    """None if the file is complete, playable audio (WAV or MP3) of the stated size and length."""
    if not path.endswith(".mp3"):
        return wav_problem(path, expected_bytes, duration_s)
    import mutagen.mp3

    size = os.path.getsize(path)
    if expected_bytes is not None and size != expected_bytes:
        return f"{size} bytes on disk, {expected_bytes} recorded"
    try:
        length = mutagen.mp3.MP3(path).info.length
    except mutagen.MutagenError as exc:
        return f"not a readable MP3: {exc}"
    if length <= 0:
        return "no audio"
    if duration_s is not None and abs(length - duration_s) > 0.05:
        return f"{length:.2f} s of audio, {duration_s} s recorded"
    return None


def wav_problem(path: str, expected_bytes: int | None, duration_s: float | None) -> str | None:
    """None if the file is a complete, playable PCM WAV of the stated size and length."""
    size = os.path.getsize(path)
    if expected_bytes is not None and size != expected_bytes:
        return f"{size} bytes on disk, {expected_bytes} recorded"
    try:
        with wave.open(path, "rb") as audio:
            frames = audio.getnframes()
            rate = audio.getframerate()
            block = audio.getnchannels() * audio.getsampwidth()
            data = audio.readframes(frames)
    except (wave.Error, EOFError) as exc:
        return f"not a readable WAV: {exc}"
    if len(data) != frames * block or size != 44 + frames * block:
        return f"truncated: {len(data)} of {frames * block} bytes of samples"
    if frames == 0 or rate <= 0:
        return "no audio"
    if duration_s is not None and abs(frames / rate - duration_s) > 0.05:
        return f"{frames / rate:.2f} s of audio, {duration_s} s announced"
    return None


def expected_audio_digest(job) -> str:
    """The SHA-256 of the WAV the sandbox makes for this job's own request (its audio is
    seeded by model, prompt, lyrics, voice and length): a file that matches is this job's audio,
    not another job's."""
    import hashlib

    from sandbox import catalogue
    from sandbox.audio import WavStream
    from sandbox.mp3 import Mp3Stream

    entry = next(e for e in catalogue.MUSIC_MODELS if e["id"] == job.model_id)
    spec, run = entry["model_spec"], entry["sandbox"]
    voice = job.voice or (spec.get("default_voice") if spec.get("voices") else None)
    speed = float(job.speed) if job.speed is not None else None
    seconds = catalogue.audio_seconds(entry, job.duration_seconds, job.prompt, speed)
    seed = "\n".join((entry["id"], job.prompt, job.lyrics_prompt, str(voice), str(seconds)))
    digest = hashlib.sha256()
    stream = Mp3Stream if spec.get("default_format") == "mp3" else WavStream
    for chunk in stream(seed, seconds, run["sample_rate"], run["channels"]).chunks():
        digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def venice_rows(wallet) -> list:
    from wallets.venice import client_for

    with client_for(wallet) as client:
        return client.transactions()


def sync_and_reconcile(wallets=None):
    """What the periodic tasks do: sync every wallet (ledger, jobs, receipts, review, leftover
    media), then the admin's reconciliation. Returns the ReconcileRun."""
    from ops import leases
    from review import reconcile
    from wallets import sync

    sync.sync_wallets()
    # A cluster just stopped may have been killed mid-reconciliation: its lease is no longer
    # renewed and runs out within leases.TERM, as it would for an operator.
    deadline = time.monotonic() + leases.TERM.total_seconds() + 5
    while True:
        try:
            return reconcile.run(wallets=wallets)
        except reconcile.ReconcileBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def check_invariants(wallet, sandbox, job_ids: Iterable[int], *, allow_review: bool = True):
    """The promises of issue 6, asserted after a run (see `find_violations`); the figures."""
    figures, problems = find_violations(wallet, sandbox, job_ids, allow_review=allow_review)
    assert not problems, "\n".join(problems)
    return figures


def find_violations(wallet, sandbox, job_ids: Iterable[int], *, allow_review: bool = True):
    """The promises of issue 6, checked after a run; returns (figures, problems).

    - every top-up Venice credited is one we signed, credited once; none is left open;
    - no job was queued twice: Venice accepted as many queue calls as jobs hold a queue id;
    - every Venice CHARGE is matched to a job, at the job's quote;
    - every finished audio file is intact, playable, and the audio made for that job;
    - every budget equals the sum of its jobs' charges (net of refunds) and reservations;
    - the reconciliation has no open difference it cannot name.

    With `allow_review`, a charge (and its refund) that a NEEDS_REVIEW job may still adopt
    (same model, within its queue call's window) is not yet a job's: the pipeline's review and
    the reconciliation leave it alone until then, and so does this check. Every violation found
    is reported together.
    """
    from jobs.models import Job
    from review import checks, spend
    from wallets.models import Budget, LedgerEntry, TopUp

    ids = list(job_ids)
    run = sync_and_reconcile()
    jobs = list(Job.objects.filter(pk__in=ids))
    rows = venice_rows(wallet)
    stats = sandbox.stats(wallet.address)
    problems: list[str] = []

    def timeline(job) -> str:
        return " | ".join(f"{e.state}: {e.note}" for e in job.events.all())

    # Top-ups: as many credited by Venice as we signed and recorded credited, no more.
    topups = list(TopUp.objects.filter(wallet=wallet))
    credited = [t for t in topups if t.status == TopUp.Status.CREDITED]
    venice_topups = [r for r in rows if r.type == "TOP_UP"]
    if [t.pk for t in topups if t.is_open]:
        problems.append(f"top-ups left without an answer: {[t.pk for t in topups if t.is_open]}")
    if len(venice_topups) != len(credited) or sum(
        (abs(r.amount) for r in venice_topups), Decimal(0)
    ) != sum((t.amount_usd for t in credited), Decimal(0)):
        problems.append(
            f"Venice credited {len(venice_topups)} top-ups, Studio recorded {len(credited)}"
        )
    if len({t.nonce for t in topups}) != len(topups):
        problems.append("two top-ups share a nonce")

    # Charges: each Venice CHARGE belongs to a job, at its quote.
    charges: dict[str, Decimal] = {}
    charged_at: dict[str, tuple] = {}
    for row in rows:
        if row.type == "CHARGE":
            charges[row.request_id] = charges.get(row.request_id, Decimal(0)) + abs(row.amount)
            charged_at[row.request_id] = (row.model_id, row.created_at)
    queued = [j for j in jobs if j.queue_id]
    by_queue_id = {j.queue_id: j for j in queued}
    review = [j for j in jobs if j.state == Job.State.NEEDS_REVIEW and not j.queue_id]

    def awaiting_review(request_id: str) -> bool:
        model_id, at = charged_at[request_id]
        return allow_review and any(
            j.model_id == model_id
            and j.queue_sent_at - datetime.timedelta(seconds=5)
            <= at
            <= j.queue_sent_at + datetime.timedelta(minutes=5)
            for j in review
        )

    orphans = set(charges) - set(by_queue_id)
    unexplained = {rid: charged_at[rid] for rid in orphans if not awaiting_review(rid)}
    if unexplained:
        problems.append(f"Venice charged requests no job holds: {unexplained}")
    for queue_id, job in by_queue_id.items():
        if charges.get(queue_id) != job.quoted_usd:
            problems.append(
                f"job {job.pk} ({job.model_id}, quoted {job.quoted_usd}) holds queue id "
                f"{queue_id}, charged {charges.get(queue_id)} at {charged_at.get(queue_id)}: "
                f"{timeline(job)}"
            )
    unlinked = set(
        LedgerEntry.objects.filter(
            wallet=wallet, type__in=["CHARGE", "REFUND"], job__isnull=True
        ).values_list("request_id", flat=True)
    )
    if not unlinked <= orphans:
        problems.append(f"ledger rows linked to no job: {unlinked - orphans}")

    # Queue: Venice accepted one call per job holding a queue id (plus those under review);
    # no queue id is shared.
    accepted = int(stats["statuses"].get("queue", {}).get("200", 0))
    if accepted != len(queued) + len(orphans):
        problems.append(
            f"{accepted} queue calls accepted for {len(queued)} jobs and {len(orphans)} "
            f"charges under review"
        )

    # Audio: every completed job's file is whole, playable, and its own.
    expected = {j.pk: expected_audio_digest(j) for j in jobs}
    owner_of = {digest: pk for pk, digest in expected.items()}
    for job in jobs:
        if job.state != Job.State.COMPLETED:
            continue
        problem = audio_problem(job.audio.path, job.audio_bytes, job.audio_duration_s)
        if not problem:
            digest = file_digest(job.audio.path)
            if digest != expected[job.pk]:
                problem = f"a playable file, but job {owner_of.get(digest)}'s audio, not its own"
        if problem:
            problems.append(f"job {job.pk} ({job.model_id}): {problem}: {timeline(job)}")

    # Money per job and per budget.
    for job in jobs:
        if job.state in Job.FINISHED and job.queue_id:
            net = (job.charged_usd or 0) - job.refunded_usd
            if job.settled_usd != net or job.reserved_usd:
                problems.append(
                    f"job {job.pk} {job.state}: settled {job.settled_usd}, reserved "
                    f"{job.reserved_usd}, Venice's net charge {net}"
                )
    problems += [f"{f.kind}: {f.detail}" for f in checks.check_budgets()]
    for budget in Budget.objects.filter(user__isnull=False):
        sums = Job.objects.filter(user=budget.user, budget_month=budget.month).aggregate(
            settled=Sum("settled_usd"), reserved=Sum("reserved_usd")
        )
        if (budget.spent_usd, budget.reserved_usd) != (
            sums["settled"] or 0,
            sums["reserved"] or 0,
        ) or budget.spent_usd + budget.reserved_usd > budget.limit_usd:
            problems.append(
                f"budget {budget}: spent {budget.spent_usd} reserved {budget.reserved_usd} "
                f"of {budget.limit_usd}; its jobs: {sums}"
            )

    # The reconciliation: nothing open, except what concerns jobs still under review.
    open_differences = list(spend.open_differences())
    reviewing = {j.pk for j in review}
    under_review = {rid for rid in orphans if awaiting_review(rid)}
    named = [
        d
        for d in open_differences
        if allow_review
        and ((d.job_id and d.job_id in reviewing) or _names_request(d, under_review))
    ]
    problems += [
        f"open difference {d.kind}: {d.detail}" for d in open_differences if d not in named
    ]
    if run.errors:
        problems.append(f"reconciliation errors: {run.errors}")

    count = Counter(j.state for j in jobs)
    figures = {
        "jobs": len(jobs),
        "states": dict(sorted(count.items())),
        "topups_signed": len(topups),
        "topups_credited": len(credited),
        "queue_calls_accepted": accepted,
        "venice_charges": len(charges),
        "charges_under_review": len(orphans),
        "differences_open": len(open_differences),
        "differences_about_review": len(named),
        "calls": dict(sorted(stats["calls"].items())),
        "peak_in_flight": stats["peak_in_flight"],
    }
    return figures, problems


def adopted_jobs(job_ids: Iterable[int]) -> set[int]:
    """Jobs that went from NEEDS_REVIEW to QUEUED: they adopted a charge from the ledger."""
    from jobs.models import JobEvent

    adopted = set()
    last: dict[int, str] = {}
    for job_id, state in (
        JobEvent.objects.filter(job_id__in=list(job_ids))
        .order_by("at", "id")
        .values_list("job_id", "state")
    ):
        if state == "queued" and last.get(job_id) == "needs_review":
            adopted.add(job_id)
        last[job_id] = state
    return adopted


def _names_request(difference, request_ids: set[str]) -> bool:
    """Whether a difference is about one of these Venice requests (its ledger row's)."""
    entry = difference.ledger_entry
    return entry is not None and entry.request_id in request_ids


# --- the report ---------------------------------------------------------------------------------


def record(scenario: str, checked: str, *, result: str = "pass", **figures) -> None:
    """Print a scenario's figures, and add them to the report when STUDIO_RELIABILITY_REPORT
    names a file (scripts/reliability-report turns it into docs/reliability.md). Call it after
    the test's assertions: a run recorded as "pass" is one that passed them all."""
    line = {
        "scenario": scenario,
        "checked": checked,
        "result": result,
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
        "database": connection.vendor,
        "broker": broker(),
        "at": timezone.now().isoformat(timespec="seconds"),
        "figures": figures,
    }
    print(f"\n[reliability] {scenario} ({result}): {json.dumps(figures, default=str)}")
    path = os.environ.get("STUDIO_RELIABILITY_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(line, default=str) + "\n")


class SwitchableRpc:
    """A loopback proxy in front of the sandbox's chain RPC that can be cut off, as an RPC
    provider's outage would be: while down, every connection is dropped unanswered."""

    def __init__(self, target: str):
        import http.server
        import threading

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.down:
                    proxy.refused += 1
                    self.close_connection = True
                    return  # no answer at all
                answer = httpx.post(
                    target, content=body, headers={"Content-Type": "application/json"}
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format, *args):
                pass

        self.down = False
        self.refused = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/rpc"

    def start(self) -> SwitchableRpc:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
