"""Members asking for more budget, and admins answering.

A member asks for an amount this month, with a reason; admins hear of it (through an alert
rule's channels when one is set, mail_admins otherwise) and approve or deny it with a note.
Approval raises the member's limit by the amount in one UPDATE (limit_usd = limit_usd +
amount), so it never overwrites a reservation or another change made meanwhile; the answer and
the limit's change go to the audit log in the same transaction, and the member reads the answer
on their usage page (and by email when they have an address).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.mail import mail_admins, send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from . import audit, budgets, signals
from .models import AuditEntry, Budget, BudgetRequest
from .money import format_usd

Status = BudgetRequest.Status
MAX_REQUEST_USD = Decimal("10000")
# Budget.limit_usd holds ten digits, two of them cents.
MAX_LIMIT_USD = Decimal("99999999.99")


class RequestRefused(Exception):
    pass


def ask(user, amount: Decimal, reason: str) -> BudgetRequest:
    """Record a member's request for this month; refused while an earlier one waits."""
    month = budgets.month_of(timezone.now())
    try:
        with transaction.atomic():
            request = BudgetRequest.objects.create(
                user=user, month=month, amount_usd=amount, reason=reason
            )
    except IntegrityError:  # one_pending_budget_request
        waiting = BudgetRequest.objects.filter(user=user, month=month, status=Status.PENDING)
        first = waiting.first()
        since = f" on {first.created_at:%B} {first.created_at.day}" if first else ""
        raise RequestRefused(
            f"You already asked for {format_usd(first.amount_usd) if first else 'more'}{since}; "
            "an admin has not answered yet."
        ) from None
    transaction.on_commit(lambda: async_task("wallets.requests.tell_admins", request.pk))
    return request


def decide(request_id: int, admin, *, approve: bool, note: str) -> BudgetRequest:
    """Answer a waiting request (once: a second answer is refused)."""
    with transaction.atomic():
        request = (
            BudgetRequest.objects.select_for_update().select_related("user").get(pk=request_id)
        )
        if request.status != Status.PENDING:
            answered = request.get_status_display().lower()
            raise RequestRefused(f"This request was {answered} already.")
        before = audit.snapshot(request)
        if approve:
            _raise_limit(request, admin)
        request.status = Status.APPROVED if approve else Status.DENIED
        request.decided_at = timezone.now()
        request.decided_by = admin
        request.note = note
        request.save(update_fields=["status", "decided_at", "decided_by", "note"])
        old, new = audit.changes(before, audit.snapshot(request))
        action = AuditEntry.Action.BUDGET_REQUEST
        audit.record(admin, action, request, before=old, after=new, note=note)
    transaction.on_commit(lambda: async_task("wallets.requests.tell_member", request.pk))
    return request


def _raise_limit(request: BudgetRequest, admin) -> None:
    budget = budgets.member_budget(request.user_id, request.month)
    if budget.limit_usd + request.amount_usd > MAX_LIMIT_USD:
        raise RequestRefused(f"The limit cannot go above {format_usd(MAX_LIMIT_USD)}.")
    before = audit.snapshot(budget)
    Budget.objects.filter(pk=budget.pk).update(limit_usd=F("limit_usd") + request.amount_usd)
    budget.refresh_from_db()
    old, new = audit.changes(before, audit.snapshot(budget))
    audit.record(
        admin,
        AuditEntry.Action.BUDGET_CHANGE,
        budget,
        before=old,
        after=new,
        note=f"Approved budget request {request.pk}",
    )


def team_shortfall(request: BudgetRequest) -> Decimal:
    """How much of the amount the team's budget could not cover now (0 if it can)."""
    team = budgets.team_budget(request.month)
    return max(Decimal("0"), request.amount_usd - team.remaining_usd)


# --- telling people (django-q tasks: a slow mail server never holds up a page) ------------------


def tell_admins(request_id: int) -> None:
    heard = signals.budget_requested.send(sender=BudgetRequest, request_id=request_id)
    if any(told for _, told in heard):
        return  # an alert rule told them through its channels
    request = BudgetRequest.objects.select_related("user").get(pk=request_id)
    mail_admins(
        f"Budget request: {request.user.get_username()} asks for "
        f"{format_usd(request.amount_usd)} more",
        f"{request.user.get_username()} asks for {format_usd(request.amount_usd)} more budget "
        f"for {request.month:%B %Y}.\n\nReason: {request.reason}\n\n"
        f"Answer it in Studio's admin, under Budget requests (request {request.pk}).",
    )


def tell_member(request_id: int) -> None:
    request = BudgetRequest.objects.select_related("user").get(pk=request_id)
    if not request.user.email:
        return  # they read it on their usage page
    answer = "approved" if request.status == Status.APPROVED else "denied"
    send_mail(
        f"Your budget request was {answer}",
        f"Your request for {format_usd(request.amount_usd)} more for {request.month:%B %Y} was "
        f"{answer}." + (f"\n\nNote: {request.note}" if request.note else ""),
        None,
        [request.user.email],
    )
