"""Submission overhead (issue 7, part 2): from a member's submit to Venice accepting the queue
call, with a warm worker, against a bare client making the same queue request, side by side.

    .venv/bin/python bench/submit.py [--quick] [--json]

Studio's path is the web form's: `jobs.pipeline.create_job` (validate, quote, reserve the
budget, commit, enqueue) in this process, then a real `manage.py qcluster` subprocess claims the
job, checks the wallet's credit and sends the queue call. The bare path is one
`VeniceClient.queue` call with a warm client and its own funded wallet. Both end at the same
instant: the sandbox (in this process, so on the same monotonic clock) accepting the job.
Studio and bare submissions alternate, in random order within each pair, so machine noise hits
both alike. The headline `submit_overhead_ms` is the difference of the medians.

Run with each django-q2 broker Studio supports: the ORM broker (the default: the worker polls
the task table every 0.1 s) and, when Redis answers at $BENCH_REDIS, the Redis broker (a
blocking pop). The headline is the default broker's. Target: under 300 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

TARGET_MS = 300
MODEL = "elevenlabs-sound-effects-v2"
DURATION_S = 2
# Simulated run times shrink 100-fold: a 2 s effect runs ~0.1 s, so the poll loop that follows
# each submission works alongside the next one, as it would on a busy team's worker.
TIME_SCALE = 0.01


def redis_available() -> bool:
    try:
        import redis  # noqa: PLC0415

        return bool(redis.Redis.from_url(common.REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


def _watch_acceptances(server) -> queue.Queue:
    """Every job the sandbox accepts, as (owner, queue_id, monotonic time of acceptance)."""
    accepted: queue.Queue = queue.Queue()
    state = server.state
    original = state.accept

    def accept(job, installments, now):
        original(job, installments, now)
        accepted.put((job.owner.lower(), job.queue_id, job.queued_at))

    state.accept = accept
    return accepted


def _bare_client(server):
    from eth_account import Account  # noqa: PLC0415

    from venice import TopUpPolicy, VeniceClient, WalletAuth  # noqa: PLC0415

    auth = WalletAuth(Account.create().key)
    server.faucet(auth.address, "10000")
    client = VeniceClient(server.api_url, auth=auth)
    policy = TopUpPolicy(max_per_topup_usd=Decimal(500), max_per_day_usd=Decimal(1000))
    client.send_payment(client.top_up(Decimal(200), policy).header)
    return client, auth.address.lower()


def measure(broker: str, pairs: int, warm_up: int = 3) -> dict:
    """One broker's run, in this process (Django is configured here for its scratch database)."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(common.sandbox(TIME_SCALE))
        # Venice's queue limit (40/min per wallet) is not what is measured: lift it.
        server.configure(queue_per_minute=100_000)
        database = stack.enter_context(common.scratch_postgres("studio_bench_submit"))
        media = stack.enter_context(tempfile.TemporaryDirectory(prefix="studio-bench-media-"))
        extra = {"POLL_LOOP_SECONDS": 20, "QUEUE_PER_MINUTE": 1000}
        if broker == "redis":
            extra["REDIS_URL"] = common.REDIS_URL
        env = common.studio_env(database, server, media, **extra)
        common.setup_django(env)
        stack.callback(_close_connections)

        from django.contrib.auth import get_user_model  # noqa: PLC0415

        from jobs import pipeline  # noqa: PLC0415
        from jobs.models import Job, JobEvent  # noqa: PLC0415
        from venice import QueueOptions  # noqa: PLC0415

        member = get_user_model().objects.create_user("member")
        wallet = common.funded_wallet(server)
        studio_owner = wallet.address.lower()
        accepted = _watch_acceptances(server)
        bare, bare_owner = _bare_client(server)
        stack.callback(bare.close)
        worker, worker_log = stack.enter_context(
            common.process([common.PY, "manage.py", "qcluster"], env, f"submit-{broker}")
        )

        def wait_accepted(owner: str, timeout_s: float = 60.0) -> tuple[str, float]:
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or worker.poll() is not None:
                    raise RuntimeError(
                        f"the worker did not queue a job in {timeout_s:.0f} s; its log:\n"
                        + common.log_tail(worker_log)
                    )
                with contextlib.suppress(queue.Empty):
                    who, queue_id, at = accepted.get(timeout=min(left, 0.5))
                    if who == owner:
                        return queue_id, at

        def studio_submit(n: int) -> dict:
            fields = {"prompt": f"rain on a tin roof, take {n}", "duration_seconds": DURATION_S}
            wall0, t0 = time.time(), time.monotonic()
            job = pipeline.create_job(user=member, model_id=MODEL, fields=fields)
            t_created = time.monotonic()
            queue_id, at = wait_accepted(studio_owner)
            # The worker saves the answer just after; wait for it so submissions never overlap.
            common.wait_for(
                lambda: Job.objects.filter(pk=job.pk, queue_id=queue_id).exists(),
                30,
                what="the worker to save the queue id",
            )
            job.refresh_from_db()
            claimed = (
                JobEvent.objects.filter(job=job, state=Job.State.SUBMITTING)
                .values_list("at", flat=True)
                .first()
            )

            def since_submit(moment: datetime.datetime | None) -> float | None:
                return None if moment is None else moment.timestamp() - wall0

            return {
                "total": at - t0,
                "web": t_created - t0,
                "claimed": since_submit(claimed),
                "queue_sent": since_submit(job.queue_sent_at),
            }

        def bare_submit(n: int) -> dict:
            t0 = time.monotonic()
            queue_id = bare.queue(
                MODEL, QueueOptions(f"rain on a tin roof, bare {n}", duration_seconds=DURATION_S)
            )
            t_answer = time.monotonic()
            got, at = wait_accepted(bare_owner, 10)
            assert got == queue_id
            return {"total": at - t0, "round_trip": t_answer - t0}

        # Warm up: the worker's first jobs import everything, top the wallet up and start the
        # poll loop; the bare client's first calls open its connection.
        for n in range(warm_up):
            studio_submit(-n - 1)
            bare_submit(-n - 1)

        studio, bare_runs = [], []
        for n in range(pairs):
            order = [("studio", studio_submit), ("bare", bare_submit)]
            random.shuffle(order)
            for kind, submit in order:
                # A random pause, so submissions land at every phase of the broker's polling.
                time.sleep(random.uniform(0.05, 0.25))
                (studio if kind == "studio" else bare_runs).append(submit(n))

    return {**_figures(broker, studio, bare_runs), "client_construction_ms": _client_cost()}


def _client_cost(rounds: int = 15) -> float:
    """Median cost of building an httpx client (it loads the CA bundle into a new SSL context,
    even for plain http): Studio builds one in create_job (the quote) and one in the worker for
    the queue call, plus one more when the wallet's credit must be checked."""
    import httpx  # noqa: PLC0415

    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        httpx.Client(base_url="http://127.0.0.1:9/").close()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def _close_connections() -> None:
    from django.db import connections  # noqa: PLC0415

    connections.close_all()


def _median_ms(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values) * 1000, 1) if values else None


def _figures(broker: str, studio: list[dict], bare: list[dict]) -> dict:
    s = common.summary_ms([run["total"] for run in studio])
    b = common.summary_ms([run["total"] for run in bare])
    return {
        "broker": broker,
        "pairs": len(studio),
        "studio_median_ms": s["median_ms"],
        "studio_p95_ms": s["p95_ms"],
        "bare_median_ms": b["median_ms"],
        "bare_p95_ms": b["p95_ms"],
        "overhead_median_ms": round(s["median_ms"] - b["median_ms"], 1),
        "overhead_p95_ms": round(s["p95_ms"] - b["p95_ms"], 1),
        "ratio_median": round(s["median_ms"] / b["median_ms"], 2),
        # Where Studio's time goes, median milliseconds from the member's submit.
        "studio_breakdown_ms": {
            "create_job_returned": _median_ms([run["web"] for run in studio]),
            "worker_claimed": _median_ms([run["claimed"] for run in studio]),
            "queue_call_sent": _median_ms([run["queue_sent"] for run in studio]),
            "venice_accepted": s["median_ms"],
        },
        "bare_round_trip_median_ms": _median_ms([run["round_trip"] for run in bare]),
    }


def _measure_in_child(broker: str, pairs: int) -> dict:
    """Each broker in a fresh process: Django's settings (the broker) are fixed per process."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = [common.PY, __file__, "--broker", broker, "--pairs", str(pairs), "--out", out.name]
        completed = subprocess.run(args, cwd=ROOT, timeout=200, stdout=sys.stderr)
        text = Path(out.name).read_text()
        if completed.returncode or not text:
            return {"broker": broker, "error": f"exited with status {completed.returncode}"}
        return json.loads(text)


def run(quick: bool = False) -> dict:
    pairs = 5 if quick else 30
    # The default broker here (Django is configured once per process), Redis in a child.
    variants = {"orm": _guarded(measure, "orm", pairs, 2 if quick else 3)}
    if not quick and redis_available():
        variants["redis"] = _measure_in_child("redis", 20)
    default = variants["orm"]
    return {
        "submit_overhead_ms": default.get("overhead_median_ms"),
        "target_ms": TARGET_MS,
        "model": f"{MODEL}, {DURATION_S} s",
        "by_broker": variants,
        **({"error": default["error"]} if "error" in default else {}),
    }


def _guarded(function, broker: str, *args) -> dict:
    try:
        return function(broker, *args)
    except Exception as exc:
        import traceback  # noqa: PLC0415

        traceback.print_exc()
        return {"broker": broker, "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--broker", choices=["orm", "redis"], help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=30, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.broker:  # one broker's run, for run()
        Path(args.out).write_text(json.dumps(measure(args.broker, args.pairs)))
        return
    results = run(args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for broker, r in results["by_broker"].items():
        if "error" in r:
            print(f"{broker} broker: {r['error']}")
            continue
        print(
            f"{broker} broker, {r['pairs']} pairs: submit -> accepted median "
            f"{r['studio_median_ms']} ms (p95 {r['studio_p95_ms']}), bare queue call "
            f"{r['bare_median_ms']} ms (p95 {r['bare_p95_ms']}): Studio adds "
            f"{r['overhead_median_ms']} ms median (target < {TARGET_MS}), "
            f"{r['overhead_p95_ms']} ms at p95"
        )
        print(f"   Studio's median path (ms from submit): {r['studio_breakdown_ms']}")


if __name__ == "__main__":
    main()
