"""200 jobs from 10 members while the sandbox fails a fifth of the calls (issue 6, "Faults").

For the first part of the run every route Studio's worker uses (queue, retrieve, complete,
balance, transactions, top-up) answers 20 % of its calls with a fault, the kind rotating every
second and a half: 429, 500, 503, a response slower than the worker's timeout (a timeout), a
merely slow one, and, on top-up, settlement timeouts. Issue 11 added Venice's refusals: top-up
400 PAYMENT_VERIFICATION_FAILED, 402 SETTLEMENT_FAILED, 409 PAYMENT_IN_PROGRESS (also for a
payment already credited), 503 X402_NOT_CONFIGURED; retrieve 402; balance and ledger 403; and
the chain RPC cut off for part of the run. Then the faults stop and the cluster drains.
Bounded: STUDIO_SOAK_JOBS jobs (default 200) and SOAK_BOUND_S seconds in all.

Afterwards every job must have ended COMPLETED, FAILED with a reason, or NEEDS_REVIEW (nothing
stuck), and the invariants of reliability_helpers.check_invariants must hold: top-ups credited
once, no job queued twice, every charge matched, audio intact and each job's own, budgets equal
to their jobs, and a reconciliation with no difference it cannot name.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django_q.tasks import async_task, fetch

from jobs import pipeline, tasks
from jobs.models import Job
from tests.reliability_helpers import (
    TENFOLD_LIMITS,
    TENFOLD_PACING,
    WITH_PROCESSES,
    Cluster,
    SwitchableRpc,
    adopted_jobs,
    create_members,
    drive_to_the_end,
    find_violations,
    record,
    states,
    team_wallet,
)
from wallets import payments, sync
from wallets.models import TopUp

pytestmark = [
    *WITH_PROCESSES,
    pytest.mark.timeout(400),
]

JOBS = int(os.environ.get("STUDIO_SOAK_JOBS", "200"))
MEMBERS = 10
FAULT_RATE = 0.2
FAULT_WINDOW_S = 60.0
SOAK_BOUND_S = 180.0
ROTATE_EVERY_S = 1.5
WORKER_TIMEOUT_S = 1.5
TIME_SCALE = 0.005  # the session sandbox's

# What each route may suffer. "timeout": slower than the worker's client timeout; "slow": slow
# but within it; "settle": the top-up's settlement times out (504, lands later).
FAULTS = {
    "queue": ["429", "503", "500", "timeout", "slow"],
    # Not 500: from retrieve that is Venice's answer that the generation failed (reference
    # section 8), which ends the job; a gateway's 502 is the outage.
    "retrieve": ["502", "429", "timeout", "503", "slow", "402"],
    "complete": ["503", "timeout", "429", "500"],
    "balance": ["timeout", "500", "429", "503", "403"],
    "transactions": ["429", "503", "500", "slow", "403"],
    "top-up": ["settle", "503", "402", "slow", "429", "400", "settle", "409", "500", "conflict"],
}
# The chain RPC is cut off for this part of the fault window (seconds after it starts).
CHAIN_DOWN_S = (10.0, 40.0)


def fault_rule(kind: str) -> dict:
    simulated_ms = int(1000 / TIME_SCALE)  # one real second, in the sandbox's simulated ms
    if kind == "timeout":
        return {"delay_ms": int(simulated_ms * WORKER_TIMEOUT_S * 1.6)}
    if kind == "slow":
        return {"delay_ms": int(simulated_ms * 0.3)}
    if kind == "settle":
        return {"settlement_timeout": True}
    if kind == "conflict":  # a resend of an already credited payment answers 409
        return {"mode": "credited_conflict"}
    return {"status": int(kind)}


class FaultConductor(threading.Thread):
    """Keeps a 20 % fault on every route, rotating its kind, until stopped."""

    def __init__(self, sandbox):
        super().__init__(daemon=True, name="faults")
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self.rules_set: Counter = Counter()
        self.timeouts_before = sandbox.stats()["statuses"].get("top-up", {}).get("504", 0)

    def run(self) -> None:
        # The run's first top-up (the wallet starts with no credit) always meets a settlement
        # timeout, so that every run re-sends a payment whose outcome was unknown; then the
        # rotation, where settlement timeouts come at the same 20 % as the rest.
        self.sandbox.set_fault("top-up", settlement_timeout=True, count=1)
        self.rules_set["top-up:settle (first top-up)"] += 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self.stopping.is_set():
            if (
                self.sandbox.stats()["statuses"].get("top-up", {}).get("504", 0)
                > self.timeouts_before
            ):
                break
            time.sleep(0.1)
        for turn in itertools.count():
            for offset, (route, kinds) in enumerate(FAULTS.items()):
                kind = kinds[(turn + offset) % len(kinds)]
                self.sandbox.set_fault(route, rate=FAULT_RATE, **fault_rule(kind))
                self.rules_set[f"{route}:{kind}"] += 1
            if self.stopping.wait(ROTATE_EVERY_S):
                break
        self.sandbox.clear_faults()

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def _payments_left_behind(wallet) -> tuple[TopUp, TopUp]:
    """Before the run: a payment Venice refuses (its signature altered: a 400 with the code in
    `error`), and one Venice credited whose answer never reached Studio (left SIGNED)."""
    import base64
    import json

    from wallets.venice import client_for

    with client_for(wallet) as client:
        refused = payments._sign(wallet, client, Decimal("5"), reason="soak: refused")
        payload = json.loads(base64.b64decode(refused.payment_header))
        signature = payload["payload"]["signature"]
        payload["payload"]["signature"] = signature[:-1] + ("1" if signature[-1] == "0" else "0")
        TopUp.objects.filter(pk=refused.pk).update(
            payment_header=base64.b64encode(json.dumps(payload).encode()).decode()
        )
        refused.refresh_from_db()
        payments.send(refused, client)
        unrecorded = payments._sign(wallet, client, Decimal("5"), reason="soak: answer lost")
        client.send_payment(unrecorded.payment_header)
    assert refused.status == TopUp.Status.FAILED
    return refused, unrecorded


class LockoutCounter:
    """Counts the requests the sandbox answers 429 because the error budget is spent (more
    than 50 failed 4xx in 30 s): the soak must never get there. The sandbox runs in this
    process, so its budget check is wrapped, not changed."""

    def __init__(self, sandbox):
        self._budget = sandbox.budget
        self._real = self._budget.exhausted
        self.count = 0

        def counted(*args, **kwargs):
            exhausted = self._real(*args, **kwargs)
            self.count += bool(exhausted)
            return exhausted

        self._budget.exhausted = counted

    def stop(self) -> None:
        self._budget.exhausted = self._real


def _first_job(problem: str) -> int | None:
    match = re.search(r"\b[Jj]ob (\d+)", problem)
    return int(match.group(1)) if match else None


def job_mix(count: int) -> list[tuple[str, dict]]:
    """Mixed models and lengths, a few prompts Venice refuses (content policy) or fails on."""
    chooser = random.Random(6)
    mix = []
    for n in range(count):
        roll = chooser.random()
        trouble = ""
        if n % 20 == 7:
            trouble = " with contraband"  # refused under the content policy, refunded
        elif n % 25 == 11:
            trouble = " kaboom"  # the generation fails, refunded
        if roll < 0.35:
            mix.append(
                (
                    "elevenlabs-music",
                    {
                        "prompt": f"warm lo-fi beat number {n}{trouble}",
                        "duration_seconds": chooser.choice([10, 15, 20]),
                    },
                )
            )
        elif roll < 0.65:
            mix.append(
                (
                    "elevenlabs-sound-effects-v2",
                    {
                        "prompt": f"door creaks open, take {n}{trouble}",
                        "duration_seconds": chooser.randint(1, 4),
                    },
                )
            )
        elif roll < 0.90:
            mix.append(
                (
                    "elevenlabs-tts-v4",
                    {
                        "prompt": f"Render {n} is ready for review, team.{trouble}",
                        "voice": chooser.choice(["Rachel", "Adam", "Bella"]),
                    },
                )
            )
        elif roll < 0.96:
            mix.append(
                (
                    "ace-step-15",
                    {
                        "prompt": f"folk ballad about harbour lights {n}{trouble}",
                        "lyrics_prompt": "lights on the water, boats coming home",
                        "duration_seconds": 30,
                    },
                )
            )
        else:
            mix.append(
                (
                    "minimax-music-v25",
                    {"prompt": f"upbeat synth pop chorus {n}{trouble}", "force_instrumental": True},
                )
            )
    return mix


def test_200_jobs_under_a_20_percent_fault_rate_end_well_and_reconcile(
    venice, media_root, tmp_path, django_user_model
):
    started = time.monotonic()
    venice.configure(**TENFOLD_LIMITS)
    # Venice's smallest top-up, so that the run needs several (and meets the top-up faults).
    wallet = team_wallet(
        venice, "5000", topup_amount_usd="5", max_topup_per_day_usd="1000", topup_below_usd="2"
    )
    members = create_members(django_user_model, MEMBERS)
    mix = job_mix(JOBS)
    refused, unrecorded = _payments_left_behind(wallet)
    answers_before = {route: dict(codes) for route, codes in venice.stats()["statuses"].items()}
    topup_answers_before = answers_before.get("top-up", {})
    lockouts = LockoutCounter(venice)

    rpc = SwitchableRpc(venice.rpc_url).start()
    cluster = Cluster(
        venice,
        media_root,
        tmp_path / "qcluster.log",
        workers=4,
        env={
            "VENICE_TIMEOUT_S": str(WORKER_TIMEOUT_S),
            "CHAIN_RPC_URL": rpc.url,
            # A refused payment pauses automatic top-ups; seconds here, not minutes.
            "TOPUP_REFUSAL_PAUSE_S": "3",
            "TOPUP_SETTLEMENT_FAILED_PAUSE_S": "1",
            **TENFOLD_PACING,
        },
    ).start()
    conductor = FaultConductor(venice)
    conductor.start()
    faults_from = time.monotonic()
    fault_until = faults_from + FAULT_WINDOW_S

    def submit(member_index: int) -> list[int]:
        created = []
        try:
            for model_id, fields in mix[member_index::MEMBERS]:
                job = pipeline.create_job(
                    user=members[member_index], model_id=model_id, fields=fields
                )
                created.append(job.pk)
        finally:
            connection.close()
        return created

    try:
        with ThreadPoolExecutor(MEMBERS) as pool:
            job_ids = [pk for ids in pool.map(submit, range(MEMBERS)) for pk in ids]
        submitted_s = time.monotonic() - started
        assert len(job_ids) == JOBS

        # Stand in for the periodic tasks: the minute sweep, and the wallet sync (every 5
        # minutes in production) that settles jobs whose queue answer was lost. The syncs run
        # in the cluster, through the switchable chain.
        syncs: list[str] = []
        last_sync = 0.0
        deadline = started + SOAK_BOUND_S
        while time.monotonic() < deadline:
            if conductor.is_alive() and time.monotonic() > fault_until:
                conductor.stop()
            rpc.down = CHAIN_DOWN_S[0] <= time.monotonic() - faults_from < CHAIN_DOWN_S[1]
            count = states(job_ids)
            if not set(count) & set(Job.RUNNING):
                break
            if time.monotonic() - last_sync > 5:
                syncs.append(async_task("wallets.sync.sync_wallets", group="wallet"))
                last_sync = time.monotonic()
            tasks.sweep()
            time.sleep(1.0)
        if conductor.is_alive():
            conductor.stop()
        venice.clear_faults()
        rpc.down = False
        # A sync still in the cluster's queue may adopt a job under review after the end is
        # counted (it did, in a CI run): every one has run before the count that decides.
        for task_id in syncs:
            fetch(task_id, wait=int(max(1.0, deadline - time.monotonic()) * 1000))
        # The faults are over: more wallet syncs settle what they can of the lost queue answers,
        # and the jobs they adopt run to the end (within the bound), until the count holds
        # still for a round: a sync adopts none, and no queue answer was still on its way.
        count = drive_to_the_end(
            job_ids, timeout=max(5.0, deadline - time.monotonic()), review_final=True
        )
        while time.monotonic() < deadline:
            if Job.State.NEEDS_REVIEW in count:
                sync.sync_wallets()
            time.sleep(2 * WORKER_TIMEOUT_S)
            settled = drive_to_the_end(
                job_ids, timeout=max(5.0, deadline - time.monotonic()), review_final=True
            )
            if settled == count:
                break
            count = settled
        ran_s = time.monotonic() - started
    finally:
        if conductor.is_alive():
            conductor.stop()
        venice.clear_faults()
        cluster.stop()
        rpc.stop()
        lockouts.stop()
    count = states(job_ids)  # with the cluster gone, nothing moves them any more

    stuck = {state: n for state, n in count.items() if state in Job.RUNNING}
    assert not stuck, f"jobs still running after {SOAK_BOUND_S:.0f} s: {dict(count)}"
    failed = Job.objects.filter(pk__in=job_ids, state=Job.State.FAILED)
    assert not failed.filter(error_message="").exists(), "a job failed without a reason"
    assert not failed.filter(error_code="").exists()
    figures, problems = find_violations(wallet, venice, job_ids)
    # The one known bug this run meets (tests/reliability/test_reliability_review.py pins it
    # down): a job whose queue answer was lost adopts a charge another such job owns, and with it
    # that job's audio. Its symptoms concern adopted jobs only; anything else fails the test as
    # usual.
    adopted = adopted_jobs(job_ids)
    known = [p for p in problems if _first_job(p) in adopted]
    others = [p for p in problems if p not in known]
    assert not others, "\n".join(others)
    # What the faults cost: a job written to fail ends FAILED with Venice's reason (or under
    # review, if its queue answer was lost); the others complete, or wait under review for a
    # lost queue answer, or fail uncharged (Venice never took them). No fault of an answer
    # about a charged job fails it (issue 17).
    reasons = Counter(failed.values_list("error_code", flat=True))
    for job in Job.objects.filter(pk__in=job_ids):
        doomed = "contraband" in job.prompt or "kaboom" in job.prompt
        if doomed and job.state == Job.State.FAILED:
            assert job.error_code in ("content_policy", "unavailable", "not_accepted"), (
                job.pk,
                job.error_code,
            )
            if job.error_code == "not_accepted":
                # Its queue answer was lost and Venice's ledger shows no charge for it (a
                # contraband prompt refused at queue, or a call that never got through):
                # failed uncharged, like any job Venice never took.
                assert job.queue_id is None and not job.charged_usd, job.pk
        else:
            ending = Job.State.FAILED if doomed else Job.State.COMPLETED
            assert job.state in (ending, Job.State.NEEDS_REVIEW, Job.State.FAILED), job.pk
            if job.state == Job.State.FAILED and not doomed:
                assert job.queue_id is None, (job.pk, job.error_code, job.error_message)
    # A fifth of the queue calls meet a fault, and an unanswered one waits in NEEDS_REVIEW for
    # the ledger: most jobs, not all, complete within the run.
    assert figures["states"].get(Job.State.COMPLETED, 0) >= JOBS * 0.7

    work = Job.objects.filter(pk__in=job_ids).aggregate(
        attempts=Sum("attempts"), polls=Sum("polls")
    )
    topup_sends = TopUp.objects.aggregate(sends=Sum("attempts"))["sends"] or 0
    topup_answers = {
        status: n - topup_answers_before.get(status, 0)
        for status, n in venice.stats()["statuses"].get("top-up", {}).items()
        if n - topup_answers_before.get(status, 0)
    }
    assert topup_answers.get("504", 0) >= 1, "no settlement timed out in this run"
    assert topup_sends > figures["topups_signed"], "no payment was re-sent"
    # Venice's refusals are final: a refused payment was sent once, never again.
    refused.refresh_from_db()
    assert refused.status == TopUp.Status.FAILED and refused.attempts == 1
    assert refused.last_error_code == "PAYMENT_VERIFICATION_FAILED"
    all_refused = TopUp.objects.filter(status=TopUp.Status.FAILED).exclude(
        last_error_code="EXPIRED_UNUSED"
    )
    assert not all_refused.filter(attempts__gt=1).exists(), "a refused payment was sent again"
    # A payment Venice credited whose answer was lost is settled by the worker, not re-signed.
    unrecorded.refresh_from_db()
    assert unrecorded.status == TopUp.Status.CREDITED
    assert (
        not TopUp.objects.filter(status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT])
        .exclude(settled_from__contains="later sync")
        .filter(valid_before__lt=timezone.now() - payments.EXPIRY_MARGIN)
    ), "a payment left open"
    assert rpc.refused > 0, "the chain RPC was never down"
    failures = {  # this run's, by route
        route: {
            code: n - answers_before.get(route, {}).get(code, 0)
            for code, n in codes.items()
            if code.startswith("4") and code != "429"
        }
        for route, codes in venice.stats()["statuses"].items()
    }
    assert lockouts.count == 0, (
        f"the worker tripped Venice's error budget ({lockouts.count} requests locked out); "
        f"4xx answers by route: {failures}"
    )
    stats = venice.stats(wallet.address)
    injected = {
        route: sum(n for status, n in by_status.items() if status != "200")
        for route, by_status in stats["statuses"].items()
    }
    record(
        "200 jobs, 10 members, 20 % faults",
        "429/500/503/timeouts/slow answers on queue, retrieve, complete, balance, transactions "
        "and top-up (502 for 500 on retrieve, where a 500 is Venice's answer that the job "
        "failed), plus settlement timeouts; Venice's refusals (top-up 400/402/409/503, 409 for "
        "a credited payment, retrieve 402, balance and ledger 403) and the chain RPC cut off for "
        "30 s; every job COMPLETED, FAILED with a reason (a charged one only by Venice's answer) "
        "or NEEDS_REVIEW; invariants as for the kill points; a refused payment sent once; the "
        "error budget never tripped; "
        "reconciliation names every difference",
        result=f"known bug: {len(known)} charges adopted by the wrong job" if known else "pass",
        jobs=JOBS,
        members=MEMBERS,
        states=figures["states"],
        failure_reasons=dict(reasons),
        submit_attempts=work["attempts"],
        submit_retries=work["attempts"] - JOBS,
        polls=work["polls"],
        calls=figures["calls"],
        non_200_answers=injected,
        fault_rules_set=sum(conductor.rules_set.values()),
        topups=figures["topups_credited"],
        topup_sends=topup_sends,
        topup_answers=topup_answers,
        topups_refused=all_refused.count(),
        chain_rpc_calls_refused=rpc.refused,
        error_budget_lockouts=lockouts.count,
        charges_under_review=figures["charges_under_review"],
        peak_in_flight=figures["peak_in_flight"],
        submitted_s=round(submitted_s, 1),
        seconds=round(ran_s, 1),
    )
    if known:
        pytest.xfail(
            f"known bug, jobs/recovery.py review_unknown_submissions (issue-6 report: a "
            f"rival still SUBMITTING is not considered): "
            f"{len(known)} symptoms of charges adopted by the wrong job: {known[0][:300]}"
        )
