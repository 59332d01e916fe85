"""SIGKILL the whole worker cluster at each step of a job's path, restart it, and check that no
money was lost or spent twice (issue 6, "Faults").

Unlike test_crash_recovery.py, which raises in-process at the same places, these kill real
`manage.py qcluster` processes (tests/reliability/killpoint_worker.py arms the step) and recover
with a fresh cluster, so nothing survives the crash but the database, the sandbox and the
media folder.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest

from jobs import pipeline, tasks
from jobs.models import Job
from tests.reliability_helpers import (
    WITH_PROCESSES,
    Cluster,
    audio_files,
    check_invariants,
    drive_to_the_end,
    leases_run_out,
    record,
)
from wallets import keys
from wallets.models import TopUp

pytestmark = WITH_PROCESSES

MUSIC = {"prompt": "warm lo-fi beat with soft piano", "duration_seconds": 10}
EFFECT = {"prompt": "rain on a tin roof", "duration_seconds": 2}

# step -> what the crash must have left in the database
STEPS = {
    "topup-signed": "a signed top-up not yet sent",
    "topup-sent": "a top-up Venice credited whose answer was lost",
    "credit-ensured": "a claimed job, credit ensured, queue call not marked sent",
    "queued": "a job Venice accepted whose queue id was lost",
    "mid-download": "a job whose audio was half read",
    "audio-saved": "a job whose saved audio it does not point at",
    "before-complete": "a completed job whose media Venice still holds",
}


def left_behind(job: Job) -> dict:
    job.refresh_from_db()
    topups = list(TopUp.objects.values_list("status", flat=True))
    return {
        "job_state": job.state,
        "queue_sent": job.queue_sent_at is not None,
        "queue_id": bool(job.queue_id),
        "audio": bool(job.audio),
        "media_deleted": job.media_deleted_at is not None,
        "topups": topups,
    }


@pytest.mark.parametrize("step", list(STEPS))
def test_sigkill_at_each_step_loses_no_money_and_spends_none_twice(
    step, venice, member, media_root, tmp_path, monkeypatch
):
    started = time.monotonic()
    # The sync that deletes a dead poll's leftover upstream media comes minutes later in life;
    # here at once.
    monkeypatch.setattr(tasks, "LEFTOVER_AFTER", datetime.timedelta(0))
    wallet = keys.create_evm_wallet("team", make_default=True)
    venice.faucet(wallet.address, "1000")
    log = tmp_path / "qcluster.log"
    marker = tmp_path / "killed"
    files_before = audio_files(media_root)

    doomed = Cluster(venice, media_root, log, killpoint=step, marker=marker).start()
    first = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    try:
        assert doomed.wait_dead(timeout=60), f"the cluster never reached {step}"
    finally:
        doomed.kill()
    assert marker.read_text().split()[0] == step, doomed.log()[-3000:]

    crash = left_behind(first)
    expected = {
        "topup-signed": crash["topups"] == [TopUp.Status.SIGNED],
        "topup-sent": crash["topups"] == [TopUp.Status.SENT],
        "credit-ensured": crash["job_state"] == Job.State.SUBMITTING and not crash["queue_sent"],
        "queued": crash["job_state"] == Job.State.SUBMITTING
        and crash["queue_sent"]
        and not crash["queue_id"],
        "mid-download": crash["job_state"] in (Job.State.QUEUED, Job.State.PROCESSING)
        and not crash["audio"],
        "audio-saved": crash["job_state"] in (Job.State.QUEUED, Job.State.PROCESSING)
        and not crash["audio"]
        and audio_files(media_root) - files_before,
        "before-complete": crash["job_state"] == Job.State.COMPLETED
        and crash["audio"]
        and not crash["media_deleted"],
    }
    assert expected[step], (step, crash)

    leases_run_out()
    survivor = Cluster(venice, media_root, log).start()
    try:
        # After the restart the team carries on: a second job goes through the same cluster.
        second = pipeline.create_job(
            user=member, model_id="elevenlabs-sound-effects-v2", fields=EFFECT
        )
        ids = [first.pk, second.pk]
        drive_to_the_end(ids, timeout=90)
        figures = check_invariants(wallet, venice, ids)
    finally:
        survivor.stop()

    assert figures["states"] == {Job.State.COMPLETED: 2}
    assert figures["topups_signed"] == 1, "the need was met by the one payment signed for it"
    assert figures["queue_calls_accepted"] == 2
    assert Job.objects.filter(media_deleted_at__isnull=True).count() == 0
    assert audio_files(media_root) - files_before == {
        Path(job.audio.path) for job in Job.objects.filter(pk__in=ids)
    }, "an audio file no job points at"
    stats = venice.stats(wallet.address)
    assert stats["statuses"]["complete"].get("200") == 2, "Venice's copies deleted, once each"
    record(
        f"SIGKILL at {step}",
        f"crash left {STEPS[step]}; after restart: top-ups credited = signed, no job queued "
        "twice, every CHARGE matched to a job, audio intact, budgets = sum of charges, "
        "reconciliation clean",
        left=crash,
        after=figures["states"],
        topups_signed=figures["topups_signed"],
        queue_calls=figures["queue_calls_accepted"],
        seconds=round(time.monotonic() - started, 1),
    )
