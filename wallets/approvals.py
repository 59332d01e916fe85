"""Top-ups above a wallet's approval amount wait for a second admin.

Before signing a top-up above `Wallet.approve_topups_above_usd` (`needs_approval`), payments looks
for an approval of that amount (`approved`). Without one, a waiting approval is recorded (one
per wallet, `ask`) and TopUpAwaitingApproval stops the top-up; jobs that needed the credit wait
without using an attempt. An admin other than the one who asked approves it (`decide`), and a
task signs and sends the top-up (payments.use_approval), under the same lease, caps and
at-most-once rules as any other. The approval is marked used in the transaction that records the
signed top-up, so it pays once. A denial answers the jobs that were waiting: they fail and
release their reservations (`denied_since`) rather than ask the admins again a minute later.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from . import audit
from .models import AuditEntry, TopUp, TopUpApproval, Wallet
from .money import format_usd

Status = TopUpApproval.Status


class ApprovalRefused(Exception):
    pass


def needs_approval(wallet: Wallet, amount: Decimal) -> bool:
    limit = wallet.approve_topups_above_usd
    return limit is not None and amount > limit


def approved(wallet: Wallet, amount: Decimal) -> TopUpApproval | None:
    return (
        TopUpApproval.objects.filter(wallet=wallet, amount_usd=amount, status=Status.APPROVED)
        .order_by("decided_at")
        .first()
    )


def denied_since(wallet: Wallet, since: datetime.datetime) -> TopUpApproval | None:
    return (
        TopUpApproval.objects.filter(wallet=wallet, status=Status.DENIED, decided_at__gte=since)
        .order_by("-decided_at")
        .first()
    )


def ask(wallet: Wallet, amount: Decimal, *, reason: str, requested_by=None) -> TopUpApproval:
    """The wallet's waiting approval: this one, or the one already waiting (of any amount)."""
    while True:
        try:
            with transaction.atomic():
                return TopUpApproval.objects.create(
                    wallet=wallet, amount_usd=amount, reason=reason, requested_by=requested_by
                )
        except IntegrityError:  # one_waiting_approval
            waiting = TopUpApproval.objects.filter(wallet=wallet, status=Status.WAITING).first()
            if waiting is not None:
                return waiting
            # answered between our insert and this read: ask again


def mark_used(approval: TopUpApproval, topup: TopUp) -> None:
    """In the transaction that saves the signed top-up: the approval pays for this one only."""
    used = TopUpApproval.objects.filter(pk=approval.pk, status=Status.APPROVED).update(
        status=Status.USED, topup=topup
    )
    if not used:
        raise ApprovalRefused(f"Approval {approval.pk} was used or withdrawn meanwhile.")


def decide(approval_id: int, admin, *, approve: bool, note: str = "") -> TopUpApproval:
    with transaction.atomic():
        approval = TopUpApproval.objects.select_for_update().get(pk=approval_id)
        if approval.status != Status.WAITING:
            answered = approval.get_status_display().lower()
            raise ApprovalRefused(f"This top-up was {answered} already.")
        if approve and approval.requested_by_id == admin.pk:
            raise ApprovalRefused("A second admin must approve a top-up you asked for.")
        approval.status = Status.APPROVED if approve else Status.DENIED
        approval.decided_by = admin
        approval.decided_at = timezone.now()
        approval.note = note
        approval.save(update_fields=["status", "decided_by", "decided_at", "note"])
        audit.record(
            admin,
            AuditEntry.Action.TOPUP_APPROVAL,
            approval.wallet,
            after={"amount_usd": str(approval.amount_usd), "status": approval.status},
            note=note,
        )
    if approve:
        transaction.on_commit(lambda: async_task("wallets.payments.use_approval", approval.pk))
    return approval


def denied_message(approval: TopUpApproval) -> str:
    who = approval.decided_by.get_username() if approval.decided_by else "An admin"
    note = f": {approval.note}" if approval.note else "."
    return (
        f"{who} denied the {format_usd(approval.amount_usd)} top-up of {approval.wallet.name} "
        f"that this needed{note}"
    )


def waiting_message(approval: TopUpApproval) -> str:
    return (
        f"A top-up of {format_usd(approval.amount_usd)} for {approval.wallet.name} waits for a "
        f"second admin's approval (top-ups above "
        f"{format_usd(approval.wallet.approve_topups_above_usd)} need one)."
    )
