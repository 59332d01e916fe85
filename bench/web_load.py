"""Web under load (issue 7, part 3): gunicorn serving the live-status endpoint and the jobs page
to a load generator on loopback, PostgreSQL behind.

    .venv/bin/python bench/web_load.py [--quick] [--json]

A scratch PostgreSQL database holds 10,000 jobs of 20 members, 20 of the member's running
(bench/web.py's data). gunicorn (2 workers x 2 threads on this 2-core machine, settings from the
environment with DEBUG off) serves it; `wrk` (Debian's package) loads it over keep-alive
connections with a signed-in member's session cookie, bounded in time and in requests (a Lua
script stops each thread at its share of the request cap). Measured, one after another in the
same run:

- `/bench/noop`: an empty 204 before Django (bench/wsgi.py), the ceiling of this
  server + generator + loopback on this machine;
- the live-status poll `/jobs/live/?s=...` for the page's 20 running jobs, unchanged (the 204
  every open page gets every second): flat out (requests/s, p50, p99), and paced at the target
  of 200 requests/s (p50, p99 at that rate);
- the jobs page `/jobs/`, flat out.

SQL queries per request are counted in this process through Django's test client with
`CaptureQueriesContext`, on the same database. Headlines: `status_rps` (live status flat out),
`status_p99_ms` (its p99 at 200 requests/s, the target's load), `status_queries`. Target: 200
req/s with p99 under 25 ms. Without wrk, a bounded Python thread pool (httpx) stands in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

TARGET_RPS = 200
TARGET_P99_MS = 25
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "2"))
NOOP = "/bench/noop"

# Paces each wrk thread to a request rate (delay() reserves the next free slot on a wall clock
# read through LuaJIT's FFI), counts statuses, stops a thread at its request cap, and reports
# the figures as one JSON line.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local cap = tonumber(os.getenv("BENCH_REQUESTS_PER_THREAD") or "0")
local interval = tonumber(os.getenv("BENCH_INTERVAL_MS") or "0")
local next_slot = 0
responses, ok, other = 0, 0, 0

function delay()
  if interval <= 0 then return 0 end
  local now = now_ms()
  local slot = math.max(next_slot, now)
  next_slot = slot + interval
  return math.floor(slot - now + 0.5)
end

function response(status, headers, body)
  responses = responses + 1
  if status == 200 or status == 204 then ok = ok + 1 else other = other + 1 end
  if cap > 0 and responses >= cap then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    bad = bad + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_s": %.3f, "ok": %d, "bad_status": %d, ' ..
    '"socket_errors": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"mean_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, good, bad,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- load generators ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One bounded run of a generator against `url` with a member's session cookie: it stops at
    `seconds` or `max_requests`, whichever comes first; flat out, or paced to `rate` requests/s."""

    url: str
    cookie: str
    seconds: float
    max_requests: int
    connections: int
    rate: float | None = None
    threads: int = 1


def wrk_load(load: Load) -> dict:
    """wrk: a Lua script stops each thread at its share of the request cap."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_REQUESTS_PER_THREAD": str(max(1, load.max_requests // load.threads)),
        "BENCH_INTERVAL_MS": str(1000 * load.threads / load.rate if load.rate else 0),
    }
    args = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(load.seconds))}s",
        "--timeout",
        "5s",
        "-s",
        script.name,
        "-H",
        f"Cookie: sessionid={load.cookie}",
        load.url,
    ]
    try:
        completed = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=load.seconds + 30
        )
    finally:
        os.unlink(script.name)
    match = re.search(r"^BENCH_JSON (.+)$", completed.stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no figures: {completed.stdout}{completed.stderr}")
    result = json.loads(match.group(1))
    result["rps"] = round(result["requests"] / result["duration_s"], 1)
    result["generator"] = f"wrk -t{load.threads} -c{load.connections}"
    return _rounded(result)


def python_load(load: Load) -> dict:
    """The stand-in when wrk is missing: `load.connections` threads, each with a keep-alive httpx
    client, bounded in requests and time. Costlier per request than wrk, so it understates."""
    import httpx  # noqa: PLC0415

    latencies: list[float] = []
    statuses = {"ok": 0, "bad_status": 0, "socket_errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + load.seconds
    interval = load.connections / load.rate if load.rate else 0.0
    budget = [load.max_requests]

    def worker() -> None:
        with httpx.Client(cookies={"sessionid": load.cookie}, timeout=5) as client:
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                if interval:
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    next_at = max(next_at + interval, time.monotonic())
                start = time.perf_counter()
                try:
                    status = client.get(load.url).status_code
                except httpx.HTTPError:
                    status = None
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    key = (
                        "socket_errors"
                        if status is None
                        else ("ok" if status in (200, 204) else "bad_status")
                    )
                    statuses[key] += 1

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(load.connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    duration = time.monotonic() - started
    ms = [x * 1000 for x in latencies] or [0.0]
    return _rounded(
        {
            "requests": len(latencies),
            "duration_s": duration,
            **statuses,
            "p50_ms": statistics.median(ms),
            "p90_ms": common.percentile(ms, 90),
            "p99_ms": common.percentile(ms, 99),
            "max_ms": max(ms),
            "mean_ms": statistics.fmean(ms),
            "rps": len(latencies) / duration,
            "generator": f"python threads x{load.connections}",
        }
    )


def _rounded(result: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}


# --- the server -----------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(env: dict) -> contextlib.AbstractContextManager:
    port = free_port()
    args = [
        common.PY,
        "-m",
        "gunicorn",
        "bench.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(GUNICORN_WORKERS),
        "--threads",
        str(GUNICORN_THREADS),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    with common.process(args, env, "gunicorn") as (proc, log_path):
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            """Listening is not enough: each worker imports Studio first (seconds here)."""
            import httpx  # noqa: PLC0415

            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + common.log_tail(log_path))
            try:
                return httpx.get(base + NOOP, timeout=30).status_code == 204
            except httpx.HTTPError:
                return False

        common.wait_for(up, 120, 0.2, "gunicorn to answer")
        yield base, log_path


def warm(generate, url: str, cookie: str, seconds: float) -> None:
    """Every worker thread loads its code, session and database connection before timing."""
    result = generate(Load(url, cookie, seconds, max_requests=5_000, connections=4))
    if not result["ok"]:
        raise RuntimeError(f"{url} answered nothing good while warming up: {result}")


# --- the benchmark --------------------------------------------------------------------------------


def count_queries(member, urls: dict[str, tuple[str, dict, int]]) -> dict[str, int]:
    from django.db import connection  # noqa: PLC0415
    from django.test import Client  # noqa: PLC0415
    from django.test.utils import CaptureQueriesContext  # noqa: PLC0415

    client = Client()
    client.force_login(member)
    counts = {}
    for name, (path, params, expect) in urls.items():
        client.get(path, params)  # warm: the first request of a process loads more
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, params)
        assert response.status_code == expect, (name, response.status_code)
        counts[name] = len(queries)
    return counts


def run(quick: bool = False) -> dict:
    job_count = 1_000 if quick else 10_000
    seconds = 3 if quick else 12
    cap = 20_000 if quick else 100_000
    generate = wrk_load if shutil.which("wrk") else python_load
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(common.scratch_postgres("studio_bench_web"))
        env = common.studio_env(database)
        common.setup_django(env)

        from django.contrib.sessions.backends.cached_db import SessionStore  # noqa: PLC0415
        from django.db import connections  # noqa: PLC0415
        from django.urls import reverse  # noqa: PLC0415

        from bench import web  # noqa: PLC0415  (the UI author's data and signatures)
        from jobs.models import Job  # noqa: PLC0415

        stack.callback(connections.close_all)
        member, running_ids = web.fill(job_count, 20)
        shown = [job.signature for job in Job.objects.filter(pk__in=running_ids)]
        live_query = {"s": ",".join(shown)}
        changed_query = {"s": ",".join(s.replace(":processing:", ":queued:") for s in shown)}
        live, page = reverse("jobs:live"), reverse("jobs:list")

        queries = count_queries(
            member,
            {
                "live_unchanged": (live, live_query, 204),
                "live_changed": (live, changed_query, 200),
                "jobs_page": (page, {}, 200),
            },
        )
        # A signed-in member's session, as the browser's cookie carries it.
        session = SessionStore()
        session["_auth_user_id"] = str(member.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = member.get_session_auth_hash()
        session.create()
        cookie = session.session_key
        connections.close_all()

        server_env = {**env, "ALLOWED_HOSTS": "127.0.0.1", "CONN_MAX_AGE": "600"}
        base, log_path = stack.enter_context(gunicorn(server_env))
        from urllib.parse import urlencode  # noqa: PLC0415

        live_url = f"{base}{live}?{urlencode(live_query)}"
        page_url = f"{base}{page}"
        noop_url = f"{base}{NOOP}"
        for url in (noop_url, live_url, page_url):
            warm(generate, url, cookie, 1 if quick else 2)

        def flat_out(url: str) -> dict:
            return generate(Load(url, cookie, seconds, max_requests=cap, connections=4))

        results = {
            "noop": flat_out(noop_url),
            "live_flat_out": flat_out(live_url),
            "live_at_target": generate(
                Load(
                    live_url,
                    cookie,
                    seconds,
                    max_requests=int(TARGET_RPS * seconds * 1.1),
                    connections=4,
                    rate=TARGET_RPS,
                )
            ),
            "jobs_page_flat_out": flat_out(page_url),
        }
        bad = {k: r for k, r in results.items() if r["bad_status"] or r["socket_errors"]}
        if bad:
            results["log_tail"] = common.log_tail(log_path)

    live_flat, at_target = results["live_flat_out"], results["live_at_target"]
    return {
        "status_rps": live_flat["rps"],
        "status_p99_ms": at_target["p99_ms"],
        "status_queries": queries["live_unchanged"],
        "targets": {"rps": TARGET_RPS, "p99_ms": TARGET_P99_MS},
        "jobs_in_db": job_count,
        "running_on_page": len(running_ids),
        "server": f"gunicorn, {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads, "
        f"DEBUG off, PostgreSQL {common.pg_version()}",
        "queries_per_request": queries,
        # Side by side with the empty answer of the same server, generator and machine.
        "live_vs_noop_rps": round(live_flat["rps"] / results["noop"]["rps"], 3),
        "jobs_page_vs_noop_rps": round(
            results["jobs_page_flat_out"]["rps"] / results["noop"]["rps"], 3
        ),
        "at_target_achieved_rps": at_target["rps"],
        "runs": results,
        **({"error": f"non-2xx answers or socket errors in {sorted(bad)}"} if bad else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{results['server']}; {results['jobs_in_db']:,} jobs, {results['running_on_page']} running"
    )
    print(f"{'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9}")
    for name, r in results["runs"].items():
        if isinstance(r, dict):
            print(
                f"{name:28} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['requests']:>9}"
            )
    print(f"SQL queries per request (in-process): {results['queries_per_request']}")
    print(
        f"live status: {results['status_rps']:.0f} req/s flat out (target {TARGET_RPS}), "
        f"p99 {results['status_p99_ms']} ms at {results['at_target_achieved_rps']:.0f} req/s "
        f"(target < {TARGET_P99_MS}); {results['live_vs_noop_rps']:.0%} of the empty "
        f"answer's rate"
    )


if __name__ == "__main__":
    main()
