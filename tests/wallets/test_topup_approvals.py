"""Top-ups above a wallet's approval amount wait for a second admin, then pay exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jobs import pipeline
from jobs.models import Job
from wallets import approvals, budgets, payments
from wallets.models import AuditEntry, TopUp, TopUpApproval
from wallets.venice import client_for

pytestmark = pytest.mark.django_db
Status = TopUpApproval.Status


@pytest.fixture
def guarded(wallet):
    """Top-ups of 10 (the policy) need approval above 5."""
    wallet.approve_topups_above_usd = Decimal("5")
    wallet.save()
    return wallet


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(approvals, "async_task", lambda name, *args: calls.append((name, *args)))
    return calls


def credit(wallet) -> Decimal:
    return client_for(wallet).balance().balance_usd


def test_an_admins_top_up_above_the_amount_waits_and_signs_nothing(guarded, admin_user):
    with pytest.raises(payments.TopUpAwaitingApproval, match="waits for a second admin"):
        payments.manual_top_up(guarded, Decimal("10"), requested_by=admin_user)
    waiting = TopUpApproval.objects.get()
    assert (waiting.status, waiting.amount_usd, waiting.requested_by) == (
        Status.WAITING,
        Decimal("10.00"),
        admin_user,
    )
    assert not TopUp.objects.exists() and credit(guarded) == 0


def test_the_asker_cannot_approve_and_a_second_admin_can_once(
    guarded, admin_user, second_admin, queued, django_capture_on_commit_callbacks
):
    with pytest.raises(payments.TopUpAwaitingApproval):
        payments.manual_top_up(guarded, Decimal("10"), requested_by=admin_user)
    waiting = TopUpApproval.objects.get()
    with pytest.raises(approvals.ApprovalRefused, match="second admin"):
        approvals.decide(waiting.pk, admin_user, approve=True)
    with django_capture_on_commit_callbacks(execute=True):
        approvals.decide(waiting.pk, second_admin, approve=True, note="ok for the launch")
    assert queued == [("wallets.payments.use_approval", waiting.pk)]
    with pytest.raises(approvals.ApprovalRefused, match="already"):
        approvals.decide(waiting.pk, second_admin, approve=True)

    payments.use_approval(waiting.pk)  # the worker's task
    payments.use_approval(waiting.pk)  # a repeated task pays nothing more
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.CREDITED and topup.requested_by == admin_user
    assert credit(guarded) == Decimal("10")
    waiting.refresh_from_db()
    assert (waiting.status, waiting.topup) == (Status.USED, topup)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.TOPUP_APPROVAL)
    assert entry.actor == second_admin and entry.after["status"] == "approved"


def test_the_workers_top_ups_ask_once_and_jobs_wait_without_using_attempts(guarded, member):
    for _ in range(3):
        with pytest.raises(payments.TopUpAwaitingApproval):
            payments.ensure_credit(guarded, Decimal("1"))
    waiting = TopUpApproval.objects.get()  # one question, however often the worker asks
    assert waiting.requested_by is None and waiting.reason == "credit below policy threshold"

    job = make_job(member)
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.PENDING and job.attempts == 0
    assert "waits for a second admin's approval" in job.events.last().note


def make_job(member) -> Job:
    return pipeline.create_job(
        user=member,
        model_id="elevenlabs-sound-effects-v2",
        fields={"prompt": "glass shattering on stone", "duration_seconds": 4},
    )


def test_a_denial_ends_the_jobs_that_waited_and_frees_their_budget(
    guarded, member, admin_user, second_admin
):
    job = make_job(member)
    pipeline.submit(job.pk)
    waiting = TopUpApproval.objects.get()
    approvals.decide(waiting.pk, second_admin, approve=False, note="spend less this week")

    Job.objects.filter(pk=job.pk).update(next_attempt_at=None)  # its retry is due
    pipeline.submit(job.pk)
    job.refresh_from_db()
    assert (job.state, job.error_code, job.reserved_usd) == (Job.State.FAILED, "topup_denied", 0)
    assert job.error_message == (
        f"The team wallet has too little credit: {second_admin.username} denied the $10.00 "
        f"top-up of {guarded.name} that this needed: spend less this week"
    )
    assert budgets.member_budget(member.pk, job.budget_month).reserved_usd == 0
    assert TopUpApproval.objects.get().status == Status.DENIED  # nobody was asked again

    # Work that begins after the denial asks anew: the admins may answer differently now.
    later = make_job(member)
    pipeline.submit(later.pk)
    later.refresh_from_db()
    assert later.state == Job.State.PENDING
    assert list(TopUpApproval.objects.values_list("status", flat=True)) == [
        Status.WAITING,
        Status.DENIED,
    ]


def test_the_wallets_own_top_up_asks_again_after_a_denial(guarded, admin_user):
    with pytest.raises(payments.TopUpAwaitingApproval):
        payments.ensure_credit(guarded, Decimal("1"))
    approvals.decide(TopUpApproval.objects.get().pk, admin_user, approve=False, note="not now")
    with pytest.raises(payments.TopUpAwaitingApproval):
        payments.ensure_credit(guarded, Decimal("1"))
    assert TopUpApproval.objects.filter(status=Status.WAITING).count() == 1


def test_asking_while_the_waiting_one_is_answered_asks_anew(guarded, monkeypatch, admin_user):
    first = approvals.ask(guarded, Decimal("10"), reason="first")
    create = TopUpApproval.objects.create

    def answered_meanwhile(**fields):
        if TopUpApproval.objects.filter(status=Status.WAITING).exists():
            approvals.decide(first.pk, admin_user, approve=False)
        return create(**fields)

    monkeypatch.setattr(TopUpApproval.objects, "create", answered_meanwhile)
    second = approvals.ask(guarded, Decimal("10"), reason="second")
    assert second.pk != first.pk and second.status == Status.WAITING


def test_top_ups_at_or_below_the_amount_need_no_approval(guarded):
    guarded.approve_topups_above_usd = Decimal("10")
    guarded.save()
    payments.ensure_credit(guarded, Decimal("1"))
    assert TopUp.objects.get().status == TopUp.Status.CREDITED
    assert not TopUpApproval.objects.exists()
