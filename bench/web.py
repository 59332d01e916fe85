"""How fast the member pages answer: the live-status poll and the jobs page with 10,000 jobs.

    .venv/bin/python bench/web.py [--jobs 10000] [--running 20] [--json]

Builds a scratch SQLite database in a temporary folder (never the configured one), fills it with
bulk_create, and times requests through Django's full middleware stack (test client, a signed-in
member, database sessions) with DEBUG off. Prints the median and p95 of each, the SQL queries
per live-status request, and each figure as a ratio of its budget (the issue's: live status
under 5 ms median with at most 3 queries, the jobs page under 50 ms). It asserts nothing: the
figures are for people to read and compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIVE_BUDGET_MS = 5.0
LIVE_QUERY_BUDGET = 3
PAGE_BUDGET_MS = 50.0


def setup_django(db_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DEBUG", "false")
    os.environ["CACHE_URL"] = "locmemcache://bench"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()


def fill(job_count: int, running: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from jobs.models import Job
    from wallets.models import Wallet

    call_command("migrate", verbosity=0)
    users = get_user_model()
    # No passwords (the client signs in with force_login) and no secret: nothing is paid here.
    member = users.objects.create_user("member")
    team = [users.objects.create_user(f"teammate{n}") for n in range(19)]
    wallet = Wallet(name="team", kind=Wallet.Kind.EVM, address="0x" + "ab" * 20, is_default=True)
    wallet.save()
    owners = [member, *team]
    done = [Job.State.COMPLETED] * 8 + [Job.State.FAILED, Job.State.CANCELLED]
    jobs = [
        Job(
            user=owners[n % len(owners)],
            wallet=wallet,
            private=n % 7 == 0,
            model_id="elevenlabs-music",
            model_name="ElevenLabs Music",
            prompt=f"bench tune {n}: warm lo-fi beat with soft piano and vinyl crackle",
            duration_seconds=30,
            state=done[n % len(done)],
            quoted_usd=Decimal("0.5"),
            settled_usd=Decimal("0.5"),
            budget_month="2025-01-01",
            audio_duration_s=30.0,
            audio="audio/bench.wav",
            error_message="Venice returned an error." if n % 10 == 8 else "",
        )
        for n in range(job_count)
    ]
    Job.objects.bulk_create(jobs, batch_size=2000)
    # The member's newest jobs are running, as on a busy page.
    newest = list(Job.objects.filter(user=member).values_list("pk", flat=True)[:running])
    Job.objects.filter(pk__in=newest).update(
        state=Job.State.PROCESSING, execution_duration_ms=1000, average_execution_time_ms=30_000
    )
    return member, newest


def timed(client, url: str, params: dict, rounds: int, expect: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url, params)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == expect, (url, response.status_code)
    return times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "rounds": len(ordered),
    }


def run(job_count: int, running: int, rounds: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from jobs.models import Job

    member, running_ids = fill(job_count, running)
    client = Client()
    client.force_login(member)
    live = reverse("jobs:live")
    # What the page shows of its running jobs; then the same jobs as they were a poll ago.
    shown = [job.signature for job in Job.objects.filter(pk__in=running_ids)]
    unchanged = {"s": ",".join(shown)}
    changed = {"s": ",".join(sig.replace(":processing:", ":queued:") for sig in shown)}

    timed(client, live, unchanged, 20, 204)  # warm up caches and connections
    results = {"jobs_in_db": Job.objects.count(), "running_ids": len(running_ids)}
    # Counted right away: every request resets Django's query log (request_started).
    with CaptureQueriesContext(connection) as queries:
        client.get(live, unchanged)
    unchanged_queries = len(queries)
    with CaptureQueriesContext(connection) as queries:
        client.get(live, changed)
    changed_queries = len(queries)
    results["live_unchanged"] = {
        **summary(timed(client, live, unchanged, rounds, 204)),
        "queries": unchanged_queries,
    }
    results["live_changed"] = {
        **summary(timed(client, live, changed, rounds // 4, 200)),
        "queries": changed_queries,
    }

    page = reverse("jobs:list")
    timed(client, page, {}, 5, 200)
    results["jobs_page_mine"] = summary(timed(client, page, {}, rounds // 10, 200))
    results["jobs_page_team"] = summary(timed(client, page, {"who": "team"}, rounds // 10, 200))
    results["jobs_page_team_last"] = summary(
        timed(client, page, {"who": "team", "page": "last"}, rounds // 10, 200)
    )
    return results


def report(results: dict) -> None:
    print(
        f"{results['jobs_in_db']:,} jobs in the database; the page polls for "
        f"{results['running_ids']} running jobs"
    )
    print(f"{'':34} {'median':>9} {'p95':>9} {'budget':>8} {'median/budget':>14} {'SQL':>4}")
    rows = [
        ("live status, nothing changed (204)", "live_unchanged", LIVE_BUDGET_MS),
        ("live status, all rows changed", "live_changed", LIVE_BUDGET_MS),
        ("jobs page, mine", "jobs_page_mine", PAGE_BUDGET_MS),
        ("jobs page, the team's", "jobs_page_team", PAGE_BUDGET_MS),
        ("jobs page, the team's, last page", "jobs_page_team_last", PAGE_BUDGET_MS),
    ]
    for label, key, budget in rows:
        r = results[key]
        queries = f"{r['queries']:>4}" if "queries" in r else ""
        print(
            f"{label:34} {r['median_ms']:>7.2f}ms {r['p95_ms']:>7.2f}ms {budget:>6.0f}ms "
            f"{r['median_ms'] / budget:>13.2f}x {queries}"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Load average during the run: {load} on {os.cpu_count()} cores (others' work skews it).")
    print(
        f"SQL queries per live-status request: {results['live_unchanged']['queries']} "
        f"unchanged, {results['live_changed']['queries']} changed "
        f"(budget {LIVE_QUERY_BUDGET})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as scratch:
        setup_django(Path(scratch) / "bench.sqlite3")
        results = run(args.jobs, args.running, args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)


if __name__ == "__main__":
    main()
