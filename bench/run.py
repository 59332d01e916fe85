"""Every benchmark against the sandbox on loopback: a table, bench/results.json, and as the last
line a one-line JSON summary of the thirteen headline figures (issues 7 and 13). `make bench`
runs it.

    .venv/bin/python bench/run.py [--quick] [--only submit,memory] [--out bench/results.json]

Each benchmark is a module bench/<name>.py with `run(quick: bool = False) -> dict`. They run one
after another, each in a fresh Python process (each configures Django for its own scratch
database, and Django can be configured once per process), bounded in time. A module that is
missing, fails or overruns is recorded as {"error": ...} and the others go on; its headline
figures are null in the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

BENCHMARKS = [
    "polling",
    "submit",
    "web_load",
    "memory",
    "siwx_sign",
    "spend_overview",
    "waveform",
]
HEADLINE = [
    "poll_call_ratio",
    "poll_p95_delay_s",
    "naive_p95_delay_s",
    "peak_calls_per_min",
    "peak_in_flight",
    "submit_overhead_ms",
    "status_rps",
    "status_p99_ms",
    "status_queries",
    "download_rss_mb",
    "siwx_sign_us",
    "spend_overview_ms",
    "waveform_cpu_ms_per_audio_min",
]
# Which benchmark owns which headline figure (for the table).
OWNER = {
    **dict.fromkeys(HEADLINE[:5], "polling"),
    "submit_overhead_ms": "submit",
    **dict.fromkeys(["status_rps", "status_p99_ms", "status_queries"], "web_load"),
    "download_rss_mb": "memory",
    "siwx_sign_us": "siwx_sign",
    "spend_overview_ms": "spend_overview",
    "waveform_cpu_ms_per_audio_min": "waveform",
}
# The targets, for the table: (comparison, value, unit).
TARGETS = {
    "poll_call_ratio": (">=", 5, "x"),
    "poll_p95_delay_s": ("<", 2.5, "s"),
    "peak_calls_per_min": ("<=", 120, "/min"),
    "peak_in_flight": ("<=", 5, ""),
    "submit_overhead_ms": ("<", 300, "ms"),
    "status_rps": (">=", 200, "req/s"),
    "status_p99_ms": ("<", 25, "ms"),
    "status_queries": ("<=", 3, ""),
    "download_rss_mb": ("<=", 16, "MB"),
    "siwx_sign_us": ("<", 2000, "us"),
    "spend_overview_ms": ("<", 300, "ms"),
    "waveform_cpu_ms_per_audio_min": ("<", 100, "ms"),
}
# Wall-clock limits per benchmark (full, quick), after which it is stopped and recorded failed.
TIME_LIMIT_S = {"polling": (480, 120), "spend_overview": (360, 180)}
DEFAULT_LIMIT_S = (240, 120)


def run_one(name: str, quick: bool, out_path: str) -> None:
    """In the child process: import bench.<name>, run it, write its dict (or the error)."""
    # A TERM from the parent (time limit) unwinds through the benchmark's clean-up code.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        module = __import__(f"bench.{name}", fromlist=["run"])
        # Progress lines go to stderr: the parent's stdout is the table and the summary.
        with contextlib.redirect_stdout(sys.stderr):
            result = module.run(quick=quick)
        if not isinstance(result, dict):
            result = {"error": f"run() returned {type(result).__name__}, not a dict"}
    except ModuleNotFoundError as exc:
        result = {"error": f"missing: {exc}"}
    except BaseException as exc:  # SystemExit from the TERM handler included
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    Path(out_path).write_text(json.dumps(result, default=str))


def spawn(name: str, quick: bool) -> tuple[dict, float]:
    """Run one benchmark in a child process, within its time limit."""
    if not (ROOT / "bench" / f"{name}.py").exists():
        return {"error": f"missing: bench/{name}.py does not exist yet"}, 0.0
    limit = TIME_LIMIT_S.get(name, DEFAULT_LIMIT_S)[1 if quick else 0]
    with tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".json", delete=False) as f:
        out_path = f.name
    args = [sys.executable, __file__, "--child", name, "--child-out", out_path]
    if quick:
        args.append("--quick")
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=sys.stderr, start_new_session=True)
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        print(f"[bench] {name}: over its {limit} s limit, stopping it", file=sys.stderr)
        common.stop_group(proc, grace_s=30)
    elapsed = time.monotonic() - started
    try:
        result = json.loads(Path(out_path).read_text() or "null")
    except (OSError, ValueError):
        result = None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out_path)
    if not isinstance(result, dict):
        result = {"error": f"exited with status {proc.returncode} and no result"}
        if elapsed >= limit:
            result["error"] = f"stopped after its {limit} s time limit"
    return result, elapsed


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def verdict(key: str, value) -> str:
    if value is None or key not in TARGETS:
        return ""
    op, target, _unit = TARGETS[key]
    ok = {"<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target}
    return "ok" if ok[op] else "MISSED"


def table(results: dict, summary: dict, elapsed: dict) -> str:
    width = max(map(len, HEADLINE))
    lines = [f"{'figure':{width}} {'value':>10} {'target':>12}  {'':6} {'from':15} note"]
    for key in HEADLINE:
        owner = OWNER[key]
        target = ""
        if key in TARGETS:
            op, value, unit = TARGETS[key]
            target = f"{op} {value:g}{unit}"
        note = ""
        if summary[key] is None:
            note = results[owner].get("error", "not reported") if owner in results else "not run"
            note = note.splitlines()[0][:60] if note else ""
        elif key == "poll_p95_delay_s" and summary["naive_p95_delay_s"] is not None:
            worse = summary[key] > summary["naive_p95_delay_s"]
            note = "worse than the naive poller's" if worse else "no worse than the naive poller's"
        lines.append(
            f"{key:{width}} {fmt(summary[key]):>10} {target:>12}  {verdict(key, summary[key]):6} "
            f"{owner:15} {note}"
        )
    tail = results.get("polling", {}).get("studio", {}).get("tail")
    if tail:
        for label, parts in (("mean", tail["mean_s"]), ("p95 job", tail["p95_job_s"])):
            split = ", ".join(f"{part} {seconds:.2f}" for part, seconds in parts.items())
            lines.append(f"polling tail ({tail['jobs']} jobs above the median), {label} s: {split}")
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in elapsed.items())
    lines.append(f"wall time: {times}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child, args.quick, args.child_out)
        return

    names = args.only.split(",") if args.only else BENCHMARKS
    machine = common.machine_info()
    print(
        f"[bench] {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, PostgreSQL {machine['postgresql']}, load "
        f"{machine['load_average']}" + (" (quick)" if args.quick else ""),
        file=sys.stderr,
    )
    results: dict[str, dict] = {}
    elapsed: dict[str, float] = {}
    with common.postgres_template() as template:
        if template:
            os.environ["BENCH_PG_TEMPLATE"] = template  # the children copy it
        for name in names:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name], elapsed[name] = spawn(name, args.quick)
            status = results[name].get("error") or "done"
            print(f"[bench] {name}: {status} ({elapsed[name]:.0f} s)", file=sys.stderr, flush=True)

    summary = {key: None for key in HEADLINE}
    for name in names:
        for key in HEADLINE:
            if OWNER[key] == name and results[name].get(key) is not None:
                summary[key] = results[name][key]
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    document = {
        "machine": machine,
        "quick": args.quick,
        "summary": summary,
        "seconds": {name: round(seconds, 1) for name, seconds in elapsed.items()},
        "benchmarks": results,
    }
    Path(args.out).write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(table(results, summary, elapsed))
    print(f"results: {os.path.relpath(args.out)}")
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
