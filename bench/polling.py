"""1. Polling cost and latency: Studio's scheduler and a naive 3-second poller, side by side.

Each poller gets its own wallet and the same mix of jobs (Venice estimates from about 10 s to
3 min) in one sandbox that runs SCALE times as fast as life. Every duration is scaled alike (the
naive poller's 3 s, Studio's detection step, the rate-limit minute), so call counts are those
of an unscaled run. A delay from "audio ready" to "job complete" has two parts: the wait for
the poll that finds it (simulated time, scaled back by 1/SCALE) and the work after it
(download, storage, database: real time, not scaled); each delay is their sum. The sandbox's
rate limits are lifted so that the naive poller runs at its best; Studio keeps within Venice's
limits by itself, which the peak figures show.

    .venv/bin/python bench/polling.py [--quick]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAIVE_INTERVAL_S = 3.0  # what the public SDKs do
FASTEST_RUN = 0.85  # sandbox spread: 0.85 .. 1.04 x the P80 estimate
# (model, durations) with Venice-style estimates from ~10 s to ~3 min in the sandbox.
MIX = [
    ("elevenlabs-sound-effects-v2", [2, 5, 10, 15, 20], 35),
    ("ace-step-v15", [30, 60], 25),
    ("elevenlabs-music", [10, 30, 60], 30),
    ("elevenlabs-music", [150, 200, 300], 10),
]
WORDS = [
    "warm",
    "bright",
    "dusty",
    "slow",
    "rolling",
    "distant",
    "neon",
    "glass",
    "river",
    "brass",
    "hollow",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _peak_per_window(times: list[float], window: float) -> int:
    times, peak, start = sorted(times), 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def _fields(model: str, duration: int, prompt: str) -> dict:
    fields = {"prompt": prompt, "duration_seconds": duration}
    if model == "ace-step-v15":  # a lyrics-required model
        fields["lyrics_prompt"] = "la la la, the night is long"
    return fields


def _jobs(count: int, seed: int) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    weighted = [(model, durations) for model, durations, weight in MIX for _ in range(weight)]
    jobs = []
    for n in range(count):
        model, durations = rng.choice(weighted)
        prompt = " ".join(rng.sample(WORDS, 4)) + f" take {n}"
        jobs.append((model, _fields(model, rng.choice(durations), prompt)))
    return jobs


def _setup(scale: float, workdir: Path):
    os.environ.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        MEDIA_ROOT=str(workdir / "media"),
        POLL_DETECT_SECONDS=str(2.0 * scale),
        VENICE_RATE_WINDOW_S=str(60 * scale),
        LOG_LEVEL="WARNING",
    )
    from sandbox.server import SandboxServer

    sandbox = SandboxServer(time_scale=scale)
    sandbox.start()
    os.environ["VENICE_API_BASE"] = sandbox.api_url
    os.environ["CHAIN_RPC_URL"] = sandbox.rpc_url
    # Lift the limits so the naive poller runs at its best; Studio limits itself.
    sandbox.configure(
        queue_per_minute=100_000,
        retrieve_per_minute=100_000,
        wallet_max_in_flight=1_000,
        fastest_run=FASTEST_RUN,
    )

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return sandbox


def _run_studio(jobs, member, wallet, scale: float, retrieve_log: list) -> list[dict]:
    from jobs import pipeline, poller
    from jobs.models import Job

    created = []
    # Polling goes on while jobs are still being submitted, as in the worker. The loop exits
    # by itself a few seconds after the last job is done.
    loop = threading.Thread(target=poller.Loop().run, args=(400 * scale + 30,), daemon=True)
    loop.start()
    for model, fields in jobs:
        job = pipeline.create_job(user=member, model_id=model, wallet=wallet, fields=fields)
        pipeline.submit(job.pk)
        created.append(job.pk)
    deadline = time.monotonic() + 400 * scale + 30
    while time.monotonic() < deadline:
        if not Job.objects.filter(pk__in=created, state__in=Job.RUNNING).exists():
            break
        time.sleep(0.1)
    loop.join(timeout=15)
    return list(Job.objects.filter(pk__in=created).values("queue_id", "state", "finished_at"))


def _run_naive(jobs, client, scale: float, retrieve_log: list, done: dict) -> None:
    from venice import AudioResult

    def one(model: str, fields: dict) -> None:
        queue_id = client.queue(model, **fields)
        while True:
            time.sleep(NAIVE_INTERVAL_S * scale)
            asked = time.monotonic()
            retrieve_log.append((asked, queue_id))
            result = client.retrieve(model, queue_id)
            if isinstance(result, AudioResult):
                with result:
                    for _ in result.iter_bytes():
                        pass
                client.complete(model, queue_id)
                done[queue_id] = (asked, time.monotonic())
                return

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for job in jobs:
            pool.submit(one, *job)


def _figures(
    calls: dict[str, int],
    delays: list[float],
    times: list[float],
    scale: float,
    peak_in_flight: int,
) -> dict:
    per_job = list(calls.values())
    return {
        "jobs": len(per_job),
        "retrieve_calls": sum(per_job),
        "calls_per_job_median": statistics.median(per_job),
        "calls_per_job_p95": _percentile(per_job, 0.95),
        "delay_median_s": round(statistics.median(delays), 2),
        "delay_p95_s": round(_percentile(delays, 0.95), 2),
        "peak_calls_per_min": _peak_per_window(times, 60 * scale),
        "peak_in_flight": peak_in_flight,
    }


def run(quick: bool = False) -> dict:
    scale = 0.1 if quick else 0.25
    count = 30 if quick else 100
    memory = Path("/dev/shm")  # noqa: S108 - a private temporary folder inside it, for speed
    with tempfile.TemporaryDirectory(dir=memory if memory.is_dir() else None) as tmp:
        sandbox = _setup(scale, Path(tmp))
        try:
            return _measure(sandbox, scale, count)
        finally:
            sandbox.stop()


def _measure(sandbox, scale: float, count: int) -> dict:
    from django.contrib.auth import get_user_model
    from eth_account import Account

    from jobs import schedule
    from venice import AudioResult, VeniceClient, WalletAuth
    from wallets import keys
    from wallets.venice import client_for

    member = get_user_model().objects.create_user("bench")
    from wallets.models import Budget

    studio_wallet = keys.create_evm_wallet("studio", make_default=True)
    studio_wallet.topup_amount_usd = studio_wallet.max_topup_per_day_usd = 1000
    studio_wallet.save()
    sandbox.faucet(studio_wallet.address, "5000")
    naive_key = Account.create()
    sandbox.faucet(naive_key.address, "5000")
    naive = VeniceClient(sandbox.api_url, auth=WalletAuth(naive_key.key.hex()))
    from venice import TopUpPolicy

    payment = naive.top_up(1000, TopUpPolicy(max_per_topup_usd=1000, max_per_day_usd=1000))
    naive.send_payment(payment.header)
    Budget.objects.all().delete()

    from django.conf import settings

    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = settings.STUDIO_DEFAULT_TEAM_BUDGET_USD = "100000"

    # Record every retrieve Studio makes (the naive poller records its own).
    studio_log: list[tuple[float, str]] = []
    real_retrieve = VeniceClient.retrieve

    found: dict[str, float] = {}

    def counted(self, model, queue_id, *args, **kwargs):
        asked = time.monotonic()
        result = real_retrieve(self, model, queue_id, *args, **kwargs)
        if self.auth is not None and getattr(self.auth, "address", None) == studio_wallet.address:
            studio_log.append((asked, queue_id))
            if isinstance(result, AudioResult):
                found[queue_id] = asked
        return result

    VeniceClient.retrieve = counted
    # Warm-up: the scheduler learns each model's spread from completed jobs, as it would
    # have in a team's steady state.
    warm = [
        (model, _fields(model, durations[0], f"warm up {model} {n}"))
        for model, durations, _ in MIX
        for n in range(6)
    ]
    _run_studio(warm, member, studio_wallet, scale, studio_log)
    schedule.forget()
    studio_log.clear()
    client_for(studio_wallet).close()

    jobs = _jobs(count, seed=7)
    naive_log: list[tuple[float, str]] = []
    naive_done: dict[str, float] = {}
    naive_thread = threading.Thread(
        target=_run_naive, args=(jobs, naive, scale, naive_log, naive_done)
    )
    started = time.monotonic()
    naive_thread.start()
    studio_rows = _run_studio(jobs, member, studio_wallet, scale, studio_log)
    naive_thread.join(timeout=400 * scale + 60)
    elapsed = time.monotonic() - started

    offset = time.time() - time.monotonic()
    state = sandbox.app.state

    def ready(queue_id: str) -> float:
        return state._jobs[queue_id].finished_at  # noqa: SLF001 - the sandbox's own truth

    def summary(log, finished: dict[str, tuple[float, float]], wallet: str) -> dict:
        """`finished`: queue id -> (when the poll that found it was sent, when it completed)."""
        calls: dict[str, int] = {queue_id: 0 for queue_id in finished}
        for _, queue_id in log:
            if queue_id in calls:
                calls[queue_id] += 1
        delays = [
            max(0.0, asked - ready(q)) / scale + (completed - asked)
            for q, (asked, completed) in finished.items()
        ]
        peak_in_flight = sandbox.stats(wallet)["peak_in_flight"]
        return _figures(calls, delays, [t for t, _ in log], scale, peak_in_flight)

    studio_done = {
        row["queue_id"]: (found[row["queue_id"]], row["finished_at"].timestamp() - offset)
        for row in studio_rows
        if row["state"] == "completed" and row["queue_id"] in found
    }
    studio = summary(studio_log, studio_done, studio_wallet.address)
    naive_figures = summary(naive_log, naive_done, naive_key.address)
    VeniceClient.retrieve = real_retrieve
    return {
        "scale": scale,
        "jobs_each": count,
        "elapsed_s": round(elapsed, 1),
        "studio_completed": len(studio_done),
        "studio": studio,
        "naive": naive_figures,
        "poll_call_ratio": round(
            naive_figures["retrieve_calls"] / max(1, studio["retrieve_calls"]), 2
        ),
        "poll_p95_delay_s": studio["delay_p95_s"],
        "naive_p95_delay_s": naive_figures["delay_p95_s"],
        "peak_calls_per_min": studio["peak_calls_per_min"],
        "peak_in_flight": studio["peak_in_flight"],
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
