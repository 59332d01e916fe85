"""Issue 17, item 2: a call never sent is not a submission in doubt, and a dead worker's slots
and leases do not hold other work back.

When all of a wallet's in-flight slots are busy the throttle raises NoSlot before anything is
sent: the job goes back to PENDING, using no attempt. Slots and leases are held for a short term
that the holder's heartbeat renews (ops.leases): a killed worker's run out within that term,
not after the 180 s (slot) or 90 s (top-up) a call may take at most, nor the 30 minutes of a
reconciliation.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from jobs import pipeline
from jobs.models import Job
from ops import leases
from ops.leases import drop_lease, take_lease
from tests.jobs_helpers import MUSIC, run_to_end
from tests.reliability_helpers import ROOT, database_url, wait_until
from wallets import keys, payments, throttle
from wallets.models import InFlightSlot
from wallets.venice import WORKER_PACE_WAIT_S


def free_slots(wallet) -> int:
    """How many of the wallet's slots are free now (taken and given back at once)."""
    tokens = take_every_slot(wallet)
    for token in tokens:
        throttle.release(token)
    return len(tokens)


def take_every_slot(wallet) -> list[str]:
    tokens = []
    while (token := throttle.try_acquire(wallet)) is not None:
        tokens.append(token)
    return tokens


@pytest.mark.django_db
def test_no_free_slot_sends_the_job_back_to_pending_using_no_attempt(
    wallet, member, venice, monkeypatch
):
    # A first job tops the wallet up, so that the next one goes straight to its queue call.
    assert (
        run_to_end(
            pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
        ).state
        == Job.State.COMPLETED
    )
    queue_calls = venice.stats(wallet.address)["calls"].get("queue", 0)
    monkeypatch.setattr(throttle, "ACQUIRE_WAIT_S", 0.2)
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    tokens = take_every_slot(wallet)
    assert len(tokens) == 5
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.PENDING, job.events.last().note
    assert job.attempts == 0 and job.queue_sent_at is None and job.next_attempt_at
    assert "free request slot" in job.events.last().note
    assert not job.events.filter(state=Job.State.NEEDS_REVIEW).exists()
    assert venice.stats(wallet.address)["calls"].get("queue", 0) == queue_calls
    for token in tokens:
        throttle.release(token)
    job = run_to_end(job)
    assert job.state == Job.State.COMPLETED and job.attempts == 1


@pytest.mark.django_db
def test_no_free_slot_for_the_top_up_also_waits_without_an_attempt(wallet, member, monkeypatch):
    monkeypatch.setattr(throttle, "ACQUIRE_WAIT_S", 0.2)
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    tokens = take_every_slot(wallet)
    pipeline.submit(job.pk)  # the wallet has no credit yet: its balance call finds no slot
    job.refresh_from_db()
    assert job.state == Job.State.PENDING and job.attempts == 0
    for token in tokens:
        throttle.release(token)
    assert run_to_end(job).state == Job.State.COMPLETED


@pytest.mark.django_db
def test_a_credit_check_over_the_balance_pace_waits_without_holding_a_worker(
    wallet, member, venice, settings
):
    """The wallet's balance reads for this minute are used up (a 429 filled the window): the
    job's credit check is refused locally within seconds, not after most of a minute holding
    a worker and the top-up lease, and the job waits using no attempt."""
    calls = venice.stats(wallet.address)["calls"].get("balance", 0)
    settings.BALANCE_PER_MINUTE = 1
    assert throttle.take_rate_slot(wallet.pk, "balance", 1) == 0  # the minute's one read
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    started = time.monotonic()
    pipeline.submit(job.pk)
    held_s = time.monotonic() - started
    job.refresh_from_db()
    assert job.state == Job.State.PENDING and job.attempts == 0, job.events.last().note
    assert "used up" in job.events.last().note and job.next_attempt_at
    assert held_s < WORKER_PACE_WAIT_S + 10, held_s
    assert venice.stats(wallet.address)["calls"].get("balance", 0) == calls


@pytest.mark.django_db
def test_a_live_holders_lease_is_renewed_by_its_heartbeat_up_to_its_ceiling(wallet):
    token = throttle.try_acquire(wallet)
    slot = InFlightSlot.objects.get(holder=token)
    assert slot.until - timezone.now() <= leases.TERM  # taken for the short term only
    lease = throttle._leases[token]
    later = timezone.now() + leases.TERM  # the term has nearly run out
    lease.renew(later)
    slot.refresh_from_db()
    assert slot.until == later + leases.TERM
    lease.renew(lease.ceiling)  # stuck for the longest a call may take: let go
    assert lease.ended
    throttle.release(token)
    slot.refresh_from_db()
    assert slot.holder == "" and slot.until is None


@pytest.mark.django_db
def test_a_lease_taken_over_meanwhile_is_not_revived(wallet):
    token = throttle.try_acquire(wallet)
    lease = throttle._leases[token]
    InFlightSlot.objects.filter(holder=token).update(holder="someone-else", until=timezone.now())
    lease.renew(timezone.now() + leases.TERM)
    assert lease.ended
    assert InFlightSlot.objects.get(holder="someone-else").until <= timezone.now()


HOLDER = """
import datetime, sys, time, django
django.setup()
from ops.leases import take_lease
from ops import leases
from wallets import payments, throttle
from wallets.models import Wallet
wallet = Wallet.objects.get(pk=int(sys.argv[1]))
tokens = [throttle.try_acquire(wallet) for _ in range(5)]
assert all(tokens), tokens
assert take_lease("reconcile", "dead-holder", datetime.timedelta(minutes=30))
with payments.topup_lease(wallet, wait_s=0):
    time.sleep(leases.TERM.total_seconds() + 2 * leases.BEAT_S)  # outlives one term: renewed
    print("holding", flush=True)
    time.sleep(600)
"""


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_slots_and_top_up_lease_free_within_the_short_term(venice, tmp_path):
    wallet = keys.create_evm_wallet("team", make_default=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "VENICE_API_BASE": venice.api_url,
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(wallet.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        line = holder.stdout.readline()
        assert line.strip() == "holding", line + holder.stdout.read()
        # Alive past its first term, its heartbeat has kept everything.
        assert throttle.try_acquire(wallet) is None
        assert not take_lease("reconcile", "me", datetime.timedelta(minutes=30))
        with pytest.raises(payments.WalletBusy), payments.topup_lease(wallet, wait_s=0):
            pass
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        killed_at = time.monotonic()
        wait_until(
            lambda: free_slots(wallet) == 5,
            timeout=leases.TERM.total_seconds() + 2 * leases.BEAT_S + 5,
            what="the dead worker's slots to free",
        )
        with payments.topup_lease(wallet, wait_s=5):
            pass
        wait_until(
            lambda: take_lease("reconcile", "me", datetime.timedelta(minutes=30)),
            timeout=10,
            what="the dead reconciliation's lease to free",
        )
        drop_lease("reconcile", "me")
        freed_after = time.monotonic() - killed_at
        assert freed_after < throttle.SLOT_LEASE.total_seconds() / 4
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()


@pytest.mark.django_db
def test_a_submission_whose_lease_ran_out_is_not_sent(wallet, member, venice):
    """Had the heartbeat failed to renew it, recovery may have given the job to another worker:
    the queue call is made only while the lease is still this worker's."""
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.SUBMITTING, lease_until=now + leases.TERM, attempts=1
    )
    mine = leases.hold(Job, {"pk": job.pk}, "lease_until", now + leases.TERM, leases.TERM)
    # Recovery handed the job on and another worker claimed it: the row's lease is not ours.
    Job.objects.filter(pk=job.pk).update(lease_until=now + 2 * leases.TERM)
    pipeline._submit_claimed(Job.objects.select_related("wallet").get(pk=job.pk), mine)
    job.refresh_from_db()
    assert job.queue_sent_at is None and job.queue_id is None
    assert venice.stats(wallet.address)["calls"].get("queue", 0) == 0
    mine.forget()
