"""The wallet page for members: who pays, what it holds, how to fund it, recent top-ups.

Admin actions (check balances now, top up by hand) are shown only to staff and refused to
everyone else by the server, not just hidden.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_q.tasks import async_task

from venice.payments import MAX_TOP_UP_USD, MIN_TOP_UP_USD

from . import audit, budgets, payments, runway
from .models import AuditEntry, Wallet

RECENT_TOPUPS = 10


def wallet(request):
    paying = Wallet.objects.paying()
    month = budgets.month_of(timezone.now())
    context = {
        "wallet": paying,
        "budget": budgets.member_budget(request.user.pk, month),
        "team_budget": budgets.team_budget(month),
        "month": month,
        "min_top_up_usd": MIN_TOP_UP_USD,
        "max_top_up_usd": MAX_TOP_UP_USD,
    }
    if paying is not None:
        context["topups"] = list(paying.topups.all()[:RECENT_TOPUPS])
        context["runway"] = runway.runway(paying)
        if paying.is_evm and paying.address:
            context["qr"] = segno.make(paying.address, error="m").svg_data_uri(
                scale=5, border=2, dark="#111111", light="#ffffff"
            )
    return render(request, "wallets/wallet.html", context)


def _admin_only(request) -> Wallet:
    if not request.user.is_staff:
        raise PermissionDenied("Only an admin can do this.")
    paying = Wallet.objects.paying()
    if paying is None:
        raise PermissionDenied("There is no paying wallet.")
    return paying


@require_POST
def refresh(request):
    paying = _admin_only(request)
    async_task("wallets.sync.sync_wallet", paying.pk, group="wallet")
    messages.success(
        request, "The worker is checking the balances and Venice's ledger; reload in a few seconds."
    )
    return redirect("wallets:wallet")


@require_POST
def top_up(request):
    paying = _admin_only(request)
    try:
        amount = Decimal(request.POST.get("amount_usd", "").strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not (MIN_TOP_UP_USD <= amount <= MAX_TOP_UP_USD):
        messages.error(request, f"A top-up is between ${MIN_TOP_UP_USD} and ${MAX_TOP_UP_USD:,}.")
        return redirect("wallets:wallet")
    try:
        topup = payments.manual_top_up(paying, amount, requested_by=request.user)
    except payments.MANUAL_TOP_UP_REFUSED as exc:
        messages.error(request, f"No top-up: {exc}")
    else:
        # The same entry as `manage.py topup` makes, with the admin who asked for it.
        audit.record(
            request.user,
            AuditEntry.Action.MANUAL_TOPUP,
            topup,
            after={"usd": str(amount)},
            note="wallet page",
        )
        report = messages.success if topup.status == topup.Status.CREDITED else messages.error
        report(request, f"Top-up of ${topup.amount_usd:.2f}: {topup.outcome}")
    return redirect("wallets:wallet")
