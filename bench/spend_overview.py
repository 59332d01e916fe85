"""How fast the admin spend overview answers with a million ledger rows on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studio_bench \\
        .venv/bin/python bench/spend_overview.py [--rows 1000000] [--days 365] [--members 40]
                                                 [--rounds 15] [--rebuild] [--json]

`run(quick)` is bench/run.py's entry point: it does the same in a scratch database of its own
(created from the run's migrated template, dropped afterwards), 1,000,000 rows (50,000 with
--quick), and reports the overview page's median for the default range as `spend_overview_ms`.

Creates the database if it is missing (its name must contain "bench": it is emptied and refilled
with --rebuild or when it holds another number of rows), migrates it, and fills it with COPY:
jobs of `members` members on five models over `days` days ending today, their CHARGE rows
(per-second models billed in two rows, as Venice does), REFUND rows for the failed ones, TOP_UP
rows, a few charges no job explains, budgets and some open differences. The summary the overview
reads (SpendSummary) is then built the way a repair would (``spend.rebuild_rollup``); how much the
triggers that keep it exact add to ordinary ledger inserts is measured separately.

Then, with DEBUG off, it times:
- ``spend.overview()`` for the overview's default range (30 days), this month, 365 days, and
  everything; with its SQL query count;
- the overview page through Django's whole stack (test client, signed-in superuser, sessions);
- for comparison, the same totals straight from LedgerEntry, the admin's ledger and job lists,
  and a CSV export of one member's month.
It prints medians and p95s against the 300 ms budget and asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/studio_bench"
BUDGET_MS = 300.0
MODELS = [
    # id, price of one job, share of jobs, rows per charge
    ("elevenlabs-music", Decimal("0.50"), 0.40, 1),
    ("minimax-music-v25", Decimal("0.69"), 0.15, 1),
    ("elevenlabs-sound-effects-v2", Decimal("0.024"), 0.25, 2),
    ("elevenlabs-tts-v4", Decimal("0.0216"), 0.15, 1),
    ("ace-step-15", Decimal("1.20"), 0.05, 1),
]


def setup_django(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CACHE_URL"] = "locmemcache://bench"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to fill {name!r}: the benchmark database's name must contain 'bench'")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- filling --------------------------------------------------------------------------------------


def _not_null_defaults(cursor, table: str, given: list[str]) -> dict[str, str]:
    """A value for every NOT NULL column the generator does not set (Django keeps no defaults
    in the database): '' for text, 0 for numbers, false for booleans."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL",
        [table],
    )
    filler = {"boolean": "f", "integer": "0", "bigint": "0", "smallint": "0", "numeric": "0"}
    return {
        column: filler.get(kind, "")
        for column, kind in cursor.fetchall()
        if column not in given and column != "id"
    }


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    extra = _not_null_defaults(cursor, table, columns)
    names = columns + list(extra)
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([*row, *extra.values()])
            count += 1
    return count


def fill(rows_wanted: int, days: int, members: int, seed: int = 5) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from jobs.models import Job
    from review import spend
    from review.models import Difference
    from wallets.models import Budget, LedgerEntry, Wallet

    call_command("migrate", verbosity=0)
    random.seed(seed)
    tables = [
        "wallets_difference",
        "wallets_spendsummary",
        "wallets_ledgerentry",
        "wallets_topup",
        "wallets_budget",
        "jobs_jobevent",
        "jobs_job",
        "wallets_reconcilerun",
        "wallets_auditentry",
        "wallets_wallet",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM django_session")
    users = get_user_model()
    users.objects.filter(username__startswith="bench-").delete()
    team = users.objects.bulk_create(
        # "!" is Django's unusable password: nobody signs in as these members.
        # "!" is Django's unusable password: nobody signs in as them (the client uses force_login).
        [users(username=f"bench-member-{n:02d}", password="!") for n in range(members)]  # noqa: S106  # noqa: S106
    )
    users.objects.create_superuser("bench-admin", password=None)
    wallets = [
        Wallet.objects.create(
            name=f"bench-{n}",
            kind=Wallet.Kind.EVM,
            address="0x" + f"{n:02x}" * 20,
            secret_encrypted="",
            is_default=n == 0,
            credit_usd=Decimal("12.5"),
            usdc_balance=Decimal("840"),
        )
        for n in range(2)
    ]

    today = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - datetime.timedelta(days=days - 1)
    weights = [share for _, _, share, _ in MODELS]
    # Some members generate far more than others (the busiest about a tenth of all jobs).
    member_weights = [1 / (rank + 3) for rank in range(members)]
    # Rows per job: 1 or 2 charges, plus a refund for 4 % of jobs.
    rows_per_job = sum(s * r for _, _, s, r in MODELS) + 0.04
    job_count = int(rows_wanted * 0.99 / rows_per_job)
    jobs = []
    started = time.perf_counter()
    for n in range(job_count):
        model, price, _, charge_rows = random.choices(MODELS, weights)[0]
        at = first_day + datetime.timedelta(seconds=random.uniform(0, days * 86400))
        at = min(at, datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1))
        failed = random.random() < 0.04
        user = random.choices(team, member_weights)[0]
        jobs.append(
            (
                n + 1,
                user.pk,
                wallets[0 if random.random() < 0.9 else 1].pk,
                model,
                price,
                failed,
                at,
                charge_rows,
            )
        )
    state = {True: Job.State.FAILED, False: Job.State.COMPLETED}

    def job_rows():
        for pk, user, wallet, model, price, failed, at, _ in jobs:
            settled = Decimal("0") if failed else price
            yield (
                pk,
                user,
                wallet,
                model,
                "a bench prompt long enough to pass",
                state[failed],
                price,
                settled,
                price,
                price if failed else Decimal("0"),
                at.date().replace(day=1),
                f"q{pk}",
                at,
                at,
                at + datetime.timedelta(seconds=40),
            )

    def ledger_rows():
        venice_id = 0
        for pk, _, wallet, model, price, failed, at, charge_rows in jobs:
            parts = [price] if charge_rows == 1 else [price / 2, price - price / 2]
            for part in parts:
                venice_id += 1
                yield (wallet, f"v{venice_id}", "CHARGE", part, at, f"q{pk}", model, pk, at)
            if failed:
                venice_id += 1
                later = at + datetime.timedelta(seconds=30)
                yield (wallet, f"v{venice_id}", "REFUND", price, later, f"q{pk}", model, pk, later)
        produced = venice_id
        while produced < rows_wanted:  # top-ups, and charges no job explains
            produced += 1
            at = first_day + datetime.timedelta(seconds=random.uniform(0, days * 86400 - 60))
            if produced % 7:
                yield (
                    wallets[produced % 2].pk,
                    f"v{produced}",
                    "TOP_UP",
                    Decimal("500"),
                    at,
                    "",
                    "",
                    None,
                    at,
                )
            else:
                yield (
                    wallets[0].pk,
                    f"v{produced}",
                    "CHARGE",
                    Decimal("0.42"),
                    at,
                    f"stray{produced}",
                    "minimax-music-v25",
                    None,
                    at,
                )

    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        raw.execute("SET LOCAL session_replication_role = replica")  # no triggers while loading
        _copy(
            raw,
            "jobs_job",
            [
                "id",
                "user_id",
                "wallet_id",
                "model_id",
                "prompt",
                "state",
                "quoted_usd",
                "settled_usd",
                "charged_usd",
                "refunded_usd",
                "budget_month",
                "queue_id",
                "created_at",
                "updated_at",
                "finished_at",
            ],
            job_rows(),
        )
        _copy(
            raw,
            "wallets_ledgerentry",
            [
                "wallet_id",
                "venice_id",
                "type",
                "amount_usd",
                "created_at",
                "request_id",
                "model_id",
                "job_id",
                "synced_at",
            ],
            ledger_rows(),
        )
        raw.execute("SELECT setval('jobs_job_id_seq', (SELECT MAX(id) FROM jobs_job))")
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    spend.rebuild_rollup()
    rebuild_s = time.perf_counter() - started

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallets_budget (user_id, month, limit_usd, reserved_usd, spent_usd) "
            "SELECT user_id, budget_month, 40, 0, SUM(settled_usd) FROM jobs_job GROUP BY 1, 2"
        )
        cursor.execute(
            "INSERT INTO wallets_budget (user_id, month, limit_usd, reserved_usd, spent_usd) "
            "SELECT NULL, budget_month, 20000, 0, SUM(settled_usd) FROM jobs_job GROUP BY 2"
        )
    now = datetime.datetime.now(datetime.UTC)
    Difference.objects.bulk_create(
        [
            Difference(
                kind="charge_without_job",
                key=f"bench-{n}",
                wallet=wallets[0],
                detail="a bench difference",
                last_seen_at=now,
            )
            for n in range(300)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "ledger_rows": LedgerEntry.objects.count(),
        "jobs": job_count,
        "members": members,
        "days": days,
        "load_s": round(load_s, 1),
        "rebuild_rollup_s": round(rebuild_s, 2),
        "summary_rows": _count("wallets_spendsummary"),
        "budgets": Budget.objects.count(),
    }


def _count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - a constant table name
        return cursor.fetchone()[0]


def trigger_cost(batch: int = 20_000) -> dict:
    """What the summary triggers add to the ledger sync's bulk insert (rolled back after)."""
    from django.db import connection, transaction

    from jobs.models import Job
    from wallets.models import LedgerEntry, Wallet

    wallet = Wallet.objects.order_by("pk").first()
    job_ids = list(Job.objects.values_list("pk", flat=True)[:batch])
    now = datetime.datetime.now(datetime.UTC)

    def rows(tag):
        return [
            LedgerEntry(
                wallet=wallet,
                venice_id=f"{tag}{n}",
                type="CHARGE",
                amount_usd=Decimal("0.5"),
                created_at=now,
                model_id="elevenlabs-music",
                job_id=job_ids[n % len(job_ids)],
            )
            for n in range(batch)
        ]

    result = {}
    for label, role in (("with_triggers_ms", "origin"), ("without_triggers_ms", "replica")):
        entries = rows(label)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL session_replication_role = {role}")
            started = time.perf_counter()
            LedgerEntry.objects.bulk_create(entries, batch_size=1000, ignore_conflicts=True)
            result[label] = round((time.perf_counter() - started) * 1000, 1)
            transaction.set_rollback(True)
    result["rows"] = batch
    return result


# --- timing ---------------------------------------------------------------------------------------


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
        "rounds": len(ordered),
    }


def timed(fn, rounds: int) -> list[float]:
    fn()  # warm up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _staff_client(admin):
    """Signed in, with the second factor verified as entering a TOTP code does: every admin page
    asks staff for it (studio/twofactor.py)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=admin, name="bench", confirmed=True)
    client = Client()
    client.force_login(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def measure(rounds: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from review import spend
    from wallets.models import LedgerEntry

    today = spend.utc_today()
    first = LedgerEntry.objects.order_by("created_at").values_list("created_at", flat=True)[0]
    ranges = {
        "default (last 30 days)": (today - datetime.timedelta(days=29), today),
        "this month": (spend.month_start(today), today),
        "last 365 days": (today - datetime.timedelta(days=364), today),
        "everything": (first.date(), today),
    }
    client = _staff_client(get_user_model().objects.get(username="bench-admin"))
    results: dict = {"overview": {}, "page": {}, "straight_from_ledger": {}, "admin_lists": {}}
    for label, (start, end) in ranges.items():
        with CaptureQueriesContext(connection) as queries:
            overview = spend.overview(start, end)
        results["overview"][label] = {
            **summary(timed(lambda s=start, e=end: spend.overview(s, e), rounds)),
            "queries": len(queries),
            "spend_usd": str(overview.totals["range"].spend),
            "days": len(overview.days),
        }
        params = {"start": start.isoformat(), "end": end.isoformat()}

        def page(p=params):
            response = client.get("/admin/review/spend/", p)
            assert response.status_code == 200, response.status_code
            return response

        counted: list[int] = []

        def count(execute, *args, counted=counted):
            counted.append(1)
            return execute(*args)

        with connection.execute_wrapper(count):
            size = len(page().content)
        results["page"][label] = {
            **summary(timed(page, rounds)),
            "queries": len(counted),
            "bytes": size,
        }
        if label in ("default (last 30 days)", "everything"):
            exact = spend.ledger_totals(start, end)
            assert exact == overview.totals["range"], (exact, overview.totals["range"])
            results["straight_from_ledger"][label] = summary(
                timed(lambda s=start, e=end: spend.ledger_totals(s, e), max(3, rounds // 3))
            )

    member = get_user_model().objects.get(username="bench-member-00")  # the busiest
    month = spend.month_start(today)
    lists = {
        "ledger list": ("/admin/wallets/ledgerentry/", {}),
        "ledger list, busiest member's charges": (
            "/admin/wallets/ledgerentry/",
            {"member": member.pk, "type__exact": "CHARGE"},
        ),
        "ledger list, search a request id": ("/admin/wallets/ledgerentry/", {"q": "q4242"}),
        "jobs list": ("/admin/jobs/job/", {}),
        "CSV, busiest member's month": (
            "/admin/wallets/ledgerentry/export.csv",
            {"member": member.pk, "created_at__gte": f"{month} 00:00:00+00:00"},
        ),
    }
    for label, (url, params) in lists.items():

        def get(u=url, p=params):
            response = client.get(u, p)
            assert response.status_code == 200, (u, response.status_code)
            if hasattr(response, "streaming_content"):
                return sum(1 for _ in io.BytesIO(b"".join(response.streaming_content))) - 1
            return 0

        csv_rows = get()
        results["admin_lists"][label] = {
            **summary(timed(get, max(3, rounds // 3))),
            **({"csv_rows": csv_rows} if csv_rows else {}),
        }
    return results


def run(quick: bool = False) -> dict:
    """bench/run.py's entry point: fill a scratch database, time, drop it."""
    sys.path.insert(0, str(ROOT))
    from bench import common

    rows, rounds = (50_000, 5) if quick else (1_000_000, 15)
    with common.scratch_postgres("studio_bench_spend") as url:
        common.setup_django(common.studio_env(url))
        from django.db import connections

        try:
            info = fill(rows, 365, 40)
            cost = trigger_cost(2_000 if quick else 5_000)
            results = measure(rounds)
        finally:
            connections.close_all()
    default = "default (last 30 days)"
    page, function = results["page"][default], results["overview"][default]
    return {
        # What the admin waits for: the page through Django's whole stack, default range.
        "spend_overview_ms": page["median_ms"],
        "spend_overview_p95_ms": page["p95_ms"],
        "overview_function_ms": function["median_ms"],
        "target_ms": BUDGET_MS,
        "page_vs_target": round(page["median_ms"] / BUDGET_MS, 3),
        "data": info,
        "triggers": cost,
        **results,
    }


def report(info: dict, cost: dict, results: dict) -> None:
    print(
        f"{info['ledger_rows']:,} ledger rows ({info['jobs']:,} jobs of {info['members']} "
        f"members over {info['days']} days); summary: {info['summary_rows']:,} SpendSummary rows"
    )
    print(
        f"Loaded in {info['load_s']} s with COPY; summary rebuilt in "
        f"{info['rebuild_rollup_s']} s. Triggers on a {cost['rows']:,}-row bulk insert: "
        f"{cost['with_triggers_ms']:.0f} ms with, {cost['without_triggers_ms']:.0f} ms without."
    )
    print(f"\n{'spend.overview()':34} {'median':>9} {'p95':>9} {'SQL':>4}   vs {BUDGET_MS:.0f} ms")
    for label, r in results["overview"].items():
        print(
            f"  {label:32} {r['median_ms']:>7.1f}ms {r['p95_ms']:>7.1f}ms {r['queries']:>4}   "
            f"{r['median_ms'] / BUDGET_MS:.2f}x  (spend ${r['spend_usd']})"
        )
    print(f"\n{'the page, whole Django stack':34} {'median':>9} {'p95':>9} {'SQL':>4}")
    for label, r in results["page"].items():
        print(
            f"  {label:32} {r['median_ms']:>7.1f}ms {r['p95_ms']:>7.1f}ms {r['queries']:>4}   "
            f"{r['median_ms'] / BUDGET_MS:.2f}x  ({r['bytes'] // 1024} KiB)"
        )
    print("\nfor comparison: the same totals straight from LedgerEntry")
    for label, r in results["straight_from_ledger"].items():
        print(f"  {label:32} {r['median_ms']:>7.1f}ms {r['p95_ms']:>7.1f}ms")
    print("\nadmin lists")
    for label, r in results["admin_lists"].items():
        extra = f"  ({r['csv_rows']:,} rows)" if "csv_rows" in r else ""
        print(f"  {label:32} {r['median_ms']:>7.1f}ms {r['p95_ms']:>7.1f}ms{extra}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nLoad average: {load} on {os.cpu_count()} cores (others' work skews the figures).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rebuild", action="store_true", help="refill even if already filled")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("the benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…/studio_bench")
    ensure_database(url)
    setup_django(url)
    from django.core.management import call_command

    from wallets.models import LedgerEntry

    call_command("migrate", verbosity=0)
    current = LedgerEntry.objects.count()
    if args.rebuild or abs(current - args.rows) > args.rows * 0.01:
        info = fill(args.rows, args.days, args.members)
    else:
        from review.models import SpendSummary

        info = {
            "ledger_rows": current,
            "jobs": _count("jobs_job"),
            "members": args.members,
            "days": args.days,
            "load_s": "(reused)",
            "rebuild_rollup_s": "(reused)",
            "summary_rows": SpendSummary.objects.count(),
        }
    cost = trigger_cost()
    results = measure(args.rounds)
    if args.json:
        print(json.dumps({"data": info, "triggers": cost, **results}, indent=2, default=str))
    else:
        report(info, cost, results)


if __name__ == "__main__":
    main()
