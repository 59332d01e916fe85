"""A worker killed at the dangerous moments loses no money and spends none twice.

"Killed" is a BaseException raised right after the real call, which no `except Exception`
catches: the process state is what a SIGKILL would leave in the database.
"""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import OperationalError
from django.utils import timezone

from jobs import accounting, pipeline, recovery, retrieval
from jobs.models import Job
from tests.jobs_helpers import MUSIC, raise_after, run_to_end, submit_once
from venice import VeniceClient
from wallets import ledger, payments
from wallets.models import TopUp
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    pass


def kill_after(monkeypatch, method: str, *, before: bool = False, times: int = 1) -> None:
    raise_after(monkeypatch, VeniceClient, method, Killed(method), before=before, times=times)


def expire_leases():
    Job.objects.update(lease_until=timezone.now() - datetime.timedelta(seconds=1))


def venice_credit(wallet) -> Decimal:
    return client_for(wallet).balance().balance_usd


def test_killed_between_signing_and_sending_a_top_up(wallet, monkeypatch):
    kill_after(monkeypatch, "send_payment", before=True)
    with pytest.raises(Killed):
        payments.ensure_credit(wallet, Decimal("1"))
    topup = TopUp.objects.get()
    assert topup.status in (TopUp.Status.SIGNED, TopUp.Status.SENT)
    assert venice_credit(wallet) == 0

    wallet.topup_lease_until = None
    wallet.save()
    payments.ensure_credit(wallet, Decimal("1"))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert TopUp.objects.count() == 1, "the stored payment was re-sent, not a new one signed"
    assert venice_credit(wallet) == topup.amount_usd


def test_killed_after_sending_a_top_up_before_recording_the_answer(wallet, monkeypatch):
    kill_after(monkeypatch, "send_payment")
    with pytest.raises(Killed):
        payments.ensure_credit(wallet, Decimal("1"))
    assert venice_credit(wallet) == wallet.topup_amount_usd  # Venice credited it

    wallet.topup_lease_until = None
    wallet.save()
    payments.ensure_credit(wallet, Decimal("1"))
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.CREDITED and topup.attempts == 2
    assert venice_credit(wallet) == wallet.topup_amount_usd, "credited once, not twice"


def test_killed_before_the_queue_call_is_simply_submitted_again(
    wallet, member, monkeypatch, venice
):
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    raise_after(
        monkeypatch,
        payments,
        "ensure_credit",
        Killed("after ensuring credit, before the queue call"),
    )
    with pytest.raises(Killed):
        pipeline.submit(job.pk)
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.state == Job.State.SUBMITTING and job.queue_sent_at is None

    expire_leases()
    assert recovery.recover_stale() == 1
    job.refresh_from_db()
    assert job.state == Job.State.PENDING
    assert run_to_end(job).state == Job.State.COMPLETED
    assert venice.stats(wallet.address)["calls"]["queue"] == 1


def test_killed_between_sending_the_queue_call_and_saving_its_answer(
    wallet, member, monkeypatch, venice
):
    kill_after(monkeypatch, "queue")
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    with pytest.raises(Killed):
        pipeline.submit(job.pk)
    monkeypatch.undo()
    expire_leases()
    recovery.recover_stale()
    job.refresh_from_db()
    assert job.state == Job.State.NEEDS_REVIEW and job.queue_id is None

    # Venice charged it: the ledger's one unclaimed CHARGE for this model is our job.
    client = client_for(wallet)
    ledger.sync(wallet, client)
    recovery.review_unknown_submissions(wallet)
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and job.queue_id

    job = run_to_end(job)
    assert job.state == Job.State.COMPLETED
    assert venice.stats(wallet.address)["calls"]["queue"] == 1, "never sent twice"
    ledger.sync(wallet, client)
    accounting.apply_ledger(wallet)
    job.refresh_from_db()
    assert job.charged_usd == job.settled_usd == job.quoted_usd


def test_an_unknown_submission_without_a_charge_fails_uncharged(
    wallet, member, monkeypatch, venice
):
    venice.set_fault("queue", status=500, count=1)
    job = submit_once(member)
    assert job.state == Job.State.NEEDS_REVIEW

    ledger.sync(wallet, client_for(wallet))
    recovery.review_unknown_submissions(wallet)
    assert Job.objects.get(pk=job.pk).state == Job.State.NEEDS_REVIEW, "too early to tell"

    monkeypatch.setattr(recovery, "UNKNOWN_OUTCOME_GRACE", datetime.timedelta(0))
    ledger.sync(wallet, client_for(wallet))
    recovery.review_unknown_submissions(wallet)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error_code == "not_accepted"
    assert retrieval.budgets.member_budget(member.pk, job.budget_month).reserved_usd == 0


def test_audio_saved_by_a_killed_attempt_is_removed_when_the_job_completes(
    wallet, member, monkeypatch, settings, tmp_path
):
    """Killed twice between storing the audio and recording it: the job ends with one file,
    its own, and no file that nothing points at."""
    settings.MEDIA_ROOT = str(tmp_path)  # its own: job ids repeat across rolled-back tests
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    real = retrieval.default_storage.save
    kills = {"left": 2}

    def dying(name, content, **kwargs):
        stored = real(name, content, **kwargs)
        if kills["left"]:
            kills["left"] -= 1
            raise Killed(f"after saving {stored}")
        return stored

    monkeypatch.setattr(retrieval.default_storage, "save", dying)
    for _ in range(2):
        with pytest.raises(Killed):
            run_to_end(job)
        Job.objects.filter(pk=job.pk).update(next_poll_at=timezone.now())
    folder = tmp_path / "audio"
    stray = {p for p in folder.rglob(f"job-{job.pk}*")}
    assert len(stray) == 2, "each killed attempt left a file"

    job = run_to_end(job)
    assert job.state == Job.State.COMPLETED
    assert {p for p in folder.rglob(f"job-{job.pk}*")} == {Path(job.audio.path)}
    assert Path(job.audio.path) not in stray


def test_audio_whose_recording_failed_is_not_left_in_storage(
    wallet, member, monkeypatch, settings, tmp_path
):
    """The database refused the COMPLETED update (a deadlock, a lost connection): the saved
    file goes, and the next poll saves the audio anew."""
    settings.MEDIA_ROOT = str(tmp_path)
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)

    def refused(*args, **kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(retrieval.budgets, "settle", refused)
    with pytest.raises(OperationalError):
        run_to_end(job)
    job.refresh_from_db()
    assert job.state in (Job.State.QUEUED, Job.State.PROCESSING) and not job.audio
    assert not list(tmp_path.rglob("job-*"))

    monkeypatch.undo()
    Job.objects.filter(pk=job.pk).update(next_poll_at=timezone.now())
    job = run_to_end(job)
    assert job.state == Job.State.COMPLETED
    assert [p.name for p in tmp_path.rglob("job-*")] == [f"job-{job.pk}.mp3"]


def test_audio_whose_commit_answer_was_lost_is_kept(
    wallet, member, monkeypatch, settings, tmp_path
):
    """The COMMIT went through but its answer was lost: the job points at the file, so it stays."""
    settings.MEDIA_ROOT = str(tmp_path)
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    lost = OperationalError("server closed the connection unexpectedly")
    raise_after(monkeypatch, retrieval, "_record_audio", lost)  # committed, then the answer lost
    with pytest.raises(OperationalError):
        run_to_end(job)
    job.refresh_from_db()
    assert job.state == Job.State.COMPLETED
    assert Path(job.audio.path).is_file()
