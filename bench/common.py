"""What the benchmarks share: scratch databases, the sandbox, Django set-up, subprocesses, stats.

Every benchmark builds its own world (a sandbox on a free loopback port, a scratch database it
creates and drops, its own users and funded wallet) and tears it down, so they can run in any
order, alone or from bench/run.py, without touching the developer's database or var/media.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# PostgreSQL runs locally with trust auth; a scratch database is created and dropped per run.
PG_SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/6")


# --- numbers ------------------------------------------------------------------------------------


def percentile(values, p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of a non-empty list; None for an empty one."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict:
    """Median, p95 and count of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"n": 0, "median_ms": None, "p95_ms": None}
    return {
        "n": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(percentile(seconds, 95) * 1000, 2),
    }


# --- PostgreSQL -----------------------------------------------------------------------------------


def pg_url(database: str) -> str:
    return PG_SERVER.rstrip("/") + "/" + database


def pg_admin():
    import psycopg  # noqa: PLC0415

    return psycopg.connect(pg_url("postgres"), autocommit=True, connect_timeout=5)


def pg_version() -> str | None:
    try:
        with pg_admin() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        return None


@contextlib.contextmanager
def scratch_postgres(prefix: str, migrated: bool = True) -> Iterator[str]:
    """A new PostgreSQL database for one benchmark run, migrated unless told otherwise, and
    dropped (forcibly) afterwards. bench/run.py migrates one template database for the whole
    run ($BENCH_PG_TEMPLATE) and each benchmark copies it, which takes a second instead of ten."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    template = os.environ.get("BENCH_PG_TEMPLATE") if migrated else None
    with pg_admin() as conn:
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        if migrated and not template:
            migrate(studio_env(pg_url(name)))
        yield pg_url(name)
    finally:
        with pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_template() -> Iterator[str | None]:
    """A migrated database that the run's benchmarks copy (see scratch_postgres); None when
    PostgreSQL is not there (the benchmarks that need it then fail on their own)."""
    try:
        with pg_admin():
            pass
    except Exception:
        yield None
        return
    with scratch_postgres("studio_bench_template", migrated=False) as url:
        migrate(studio_env(url))
        # Nobody may be connected to a template while it is copied.
        with pg_admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [url.rsplit("/", 1)[1]],
            )
        yield url.rsplit("/", 1)[1]


# --- the sandbox ----------------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox(time_scale: float) -> Iterator:
    """The Venice simulator in this process, on a free loopback port."""
    sys.path.insert(0, str(ROOT))
    from sandbox.server import SandboxServer  # noqa: PLC0415

    server = SandboxServer(host="127.0.0.1", port=0, time_scale=time_scale)
    server.start()
    _quiet_resets(server)
    try:
        yield server
    finally:
        server.stop()


def _quiet_resets(server) -> None:
    """A worker stopped at the end of a run resets its keep-alive connections; socketserver
    would print a traceback for each. Other errors still print."""
    httpd = getattr(server, "_httpd", None)
    if httpd is None:
        return
    original = httpd.handle_error

    def handle_error(request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            original(request, client_address)

    httpd.handle_error = handle_error


# --- Django ---------------------------------------------------------------------------------------


def studio_env(database_url: str, server=None, media_root: str | Path | None = None, **extra):
    """The environment Studio's processes (this one, manage.py, gunicorn) read their settings
    from: the scratch database, the sandbox, production-like DEBUG off, quiet logs."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "CACHE_URL": "locmemcache://bench",
        # Room for every job a benchmark makes; budgets are not what is measured here.
        "STUDIO_DEFAULT_MEMBER_BUDGET_USD": "100000",
        "STUDIO_DEFAULT_TEAM_BUDGET_USD": "1000000",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if server is not None:
        env["VENICE_API_BASE"] = server.api_url
        env["CHAIN_RPC_URL"] = server.rpc_url
    if media_root is not None:
        env["MEDIA_ROOT"] = str(media_root)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def migrate(env: dict) -> None:
    """`manage.py migrate` in a subprocess, so this process's memory and state stay clean."""
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )


def setup_django(env: dict) -> None:
    """Configure Django in this process from `env` (once per process)."""
    sys.path.insert(0, str(ROOT))
    os.environ.update(env)
    import django  # noqa: PLC0415

    django.setup()


def funded_wallet(server, usdc: str = "100000", topup_usd: str = "500"):
    """The team's default x402 wallet, with USDC on the sandbox chain and a policy that buys
    credit in large steps, so a benchmark's timings hold at most one top-up."""
    from decimal import Decimal  # noqa: PLC0415

    from wallets import keys  # noqa: PLC0415
    from wallets.models import Wallet  # noqa: PLC0415

    wallet = keys.create_evm_wallet(f"bench-{uuid.uuid4().hex[:8]}", make_default=True)
    server.faucet(wallet.address, usdc)
    Wallet.objects.filter(pk=wallet.pk).update(
        topup_amount_usd=Decimal(topup_usd),
        max_topup_per_day_usd=Decimal(topup_usd) * 20,
        topup_below_usd=Decimal("2"),
    )
    wallet.refresh_from_db()
    return wallet


# --- subprocesses ---------------------------------------------------------------------------------


@contextlib.contextmanager
def process(args: list[str], env: dict, log_name: str, cwd: Path = ROOT) -> Iterator:
    """A subprocess in its own process group, its output in a log file (kept only if the block
    fails); the whole group is stopped (TERM, then KILL) on the way out. Yields (Popen, log)."""
    log_path = Path(tempfile.gettempdir()) / f"studio-bench-{log_name}-{os.getpid()}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc, log_path
    except BaseException:
        stop_group(proc)
        print(f"[bench] {log_name} log kept: {log_path}", file=sys.stderr)
        raise
    stop_group(proc)
    log_path.unlink(missing_ok=True)


def stop_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for(predicate, timeout_s: float, interval_s: float = 0.01, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


# --- the machine ----------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if match:
            cpu = match.group(1).strip()
    memory_gib = None
    with contextlib.suppress(OSError, AttributeError):
        kib = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1)
        memory_gib = round(int(kib) / 1024 / 1024, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": pg_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
