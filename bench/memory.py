"""Memory (issue 7, part 4): the peak RSS of a worker downloading a 42 MB result, above its idle
RSS. Target: at most 16 MB (MiB) above idle.

    .venv/bin/python bench/memory.py [--quick] [--json]

This process runs the sandbox and prepares a scratch PostgreSQL database: a member, a funded
wallet, and three jobs submitted through `jobs.pipeline.submit` and left to finish at Venice:
a short one, and two of 240 s of 44.1 kHz stereo 16-bit WAV (42.3 MB each). A separate worker
process (this file with --worker: plain Python with Django set up, as a django-q2 worker has)
then, in order:

1. polls the short job with the real `jobs.retrieval.poll` (download, storage, `complete`), so
   every code path is loaded; then collects garbage and reads its idle RSS;
2. resets its peak RSS (VmHWM, through /proc/self/clear_refs) and polls the first 42 MB job
   with `jobs.retrieval.poll`; a thread samples VmRSS every 2 ms as a cross-check;
3. for contrast, side by side: resets the peak again and downloads the second 42 MB job the
   naive way (the whole body in memory, `b"".join(...)`), as a bound on what streaming saves.

The headline `download_rss_mb` is step 2's peak minus the idle RSS, in MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

TARGET_MB = 16
# A model that answers WAV: ElevenLabs' music comes as MP3 (reference section 8), a tenth of
# the bytes, which would measure little. Its longest length, with the lyrics it requires.
MODEL = "ace-step-15"
LYRICS = "la la la, the night is long"
BIG_S = 240
BIG_BYTES = BIG_S * 44_100 * 4  # 16-bit stereo: 42.3 MB
# At this scale a 240 s track's ~2 simulated minutes take under half a second.
TIME_SCALE = 0.002
MIB = 1024 * 1024


def _status_kib(field: str) -> int | None:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Sampler:
    """The highest VmRSS seen, sampled every 2 ms in a thread."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _status_kib("VmRSS") or 0)
            self._stop.wait(0.002)

    def __enter__(self) -> Sampler:
        self.peak_kib = _status_kib("VmRSS") or 0
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, _status_kib("VmRSS") or 0)


def _measured(action) -> dict:
    """Peak RSS while `action` runs, by VmHWM (if resettable) and by sampling, in MiB."""
    gc.collect()
    time.sleep(0.2)
    before = _status_kib("VmRSS")
    exact = _reset_peak()
    with Sampler() as sampler:
        started = time.monotonic()
        size = action()
        seconds = time.monotonic() - started
    hwm = _status_kib("VmHWM") if exact else None
    peak = max(hwm or 0, sampler.peak_kib)
    return {
        "bytes": size,
        "seconds": round(seconds, 2),
        "rss_before_mb": round(before / 1024, 1),
        "peak_mb": round(peak / 1024, 1),
        "peak_source": "VmHWM after clear_refs, and 2 ms VmRSS samples" if exact else "samples",
        "sampled_peak_mb": round(sampler.peak_kib / 1024, 1),
    }


# --- the worker process ---------------------------------------------------------------------------


def worker(job_ids: list[int]) -> dict:
    """In the worker process: warm up, then measure the two downloads."""
    import django  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415

    django.setup()
    from jobs import retrieval  # noqa: PLC0415
    from jobs.models import Job  # noqa: PLC0415
    from wallets.venice import client_for  # noqa: PLC0415

    small_id, big_id, naive_id = job_ids
    wallet = Job.objects.get(pk=small_id).wallet
    client = client_for(wallet, max_retries=0)  # as the poll loop makes it

    def poll(job_id: int) -> int:
        job = retrieval.poll(Job.objects.select_related("wallet").get(pk=job_id), client)
        job.refresh_from_db()
        if job.state != Job.State.COMPLETED:
            raise RuntimeError(f"job {job_id} is {job.state} after its poll: {job.error_message}")
        return job.audio_bytes

    poll(small_id)  # warm-up: every import, the storage, the database connection
    gc.collect()
    time.sleep(0.3)
    idle_kib = _status_kib("VmRSS")
    studio = _measured(lambda: poll(big_id))

    naive_job = Job.objects.get(pk=naive_id)

    def naive() -> int:
        with client.retrieve(naive_job.model_id, naive_job.queue_id) as result:
            body = b"".join(result.iter_bytes())
        size = len(body)
        del body
        return size

    naive_run = _measured(naive)
    client.close()
    stored = Path(settings.MEDIA_ROOT)
    on_disk = sum(f.stat().st_size for f in stored.rglob("*") if f.is_file())
    return {
        "idle_rss_mb": round(idle_kib / 1024, 1),
        "studio": studio,
        "naive_whole_body": naive_run,
        "stored_bytes": on_disk,
    }


# --- this process: the sandbox and the jobs ------------------------------------------------------


def prepare(server, quick: bool) -> list[int]:
    """A member, a funded wallet and three finished jobs at Venice (small, big, big)."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    from jobs import pipeline  # noqa: PLC0415
    from jobs.models import Job  # noqa: PLC0415

    member = get_user_model().objects.create_user("member")
    common.funded_wallet(server)
    specs = [
        {"prompt": "a short warm-up chime", "duration_seconds": 30},
        {"prompt": "a long ambient drone for the memory test", "duration_seconds": BIG_S},
        {"prompt": "a long ambient drone, fetched whole", "duration_seconds": BIG_S},
    ]
    for fields in specs:
        fields["lyrics_prompt"] = LYRICS
    ids = []
    for fields in specs:
        job = pipeline.create_job(user=member, model_id=MODEL, fields=fields)
        pipeline.submit(job.pk)
        job.refresh_from_db()
        if job.state != Job.State.QUEUED:
            raise RuntimeError(f"job {job.pk} is {job.state}: {job.error_message}")
        ids.append(job.pk)
    # Venice finishes them within 1.125 x its P80 estimate.
    state = server.state
    common.wait_for(
        lambda: all(
            state._jobs[job.queue_id].finished(time.monotonic())
            for job in Job.objects.filter(pk__in=ids)
        ),
        60,
        0.05,
        "the sandbox to finish the jobs",
    )
    return ids


def run(quick: bool = False) -> dict:
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="studio-bench-")))
        server = stack.enter_context(common.sandbox(TIME_SCALE))
        database = stack.enter_context(common.scratch_postgres("studio_bench_memory"))
        env = common.studio_env(database, server, scratch / "media")
        common.setup_django(env)
        job_ids = prepare(server, quick)
        from django.db import connections  # noqa: PLC0415

        connections.close_all()
        out = scratch / "worker.json"
        args = [common.PY, __file__, "--worker", ",".join(map(str, job_ids)), "--out", str(out)]
        completed = subprocess.run(args, cwd=ROOT, env=env, timeout=120, stdout=sys.stderr)
        if completed.returncode:
            return {"download_rss_mb": None, "error": f"worker exited {completed.returncode}"}
        figures = json.loads(out.read_text())

    studio, naive = figures["studio"], figures["naive_whole_body"]
    if studio["bytes"] < BIG_BYTES:  # a smaller file would flatter the figure
        return {"download_rss_mb": None, "error": f"downloaded {studio['bytes']:,} bytes only"}
    idle = figures["idle_rss_mb"]
    above = round(studio["peak_mb"] - idle, 1)
    return {
        "download_rss_mb": above,
        "target_mb": TARGET_MB,
        "audio_bytes": studio["bytes"],
        "idle_rss_mb": idle,
        "peak_rss_mb": studio["peak_mb"],
        "naive_above_idle_mb": round(naive["peak_mb"] - idle, 1),
        # Side by side: what streaming costs against holding the body, same process, same file.
        "studio_vs_naive": round(above / max(0.1, naive["peak_mb"] - idle), 3),
        "unit": "MiB",
        "worker": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        figures = worker([int(x) for x in args.worker.split(",")])
        Path(args.out).write_text(json.dumps(figures))
        return
    r = run(args.quick)
    if args.json or "error" in r:
        print(json.dumps(r, indent=2))
        return
    print(
        f"worker idle {r['idle_rss_mb']} MiB; downloading {r['audio_bytes']:,} bytes with "
        f"jobs.retrieval.poll peaked at {r['peak_rss_mb']} MiB: {r['download_rss_mb']} MiB above "
        f"idle (target <= {TARGET_MB}); the whole body in memory: {r['naive_above_idle_mb']} "
        f"MiB above idle"
    )


if __name__ == "__main__":
    main()
