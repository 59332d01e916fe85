"""Top-ups waiting for a second admin's approval (wallets.approvals): read-only records, each
answered once, never by the admin who asked for it."""

from __future__ import annotations

from django.contrib import admin

from wallets import approvals
from wallets.models import TopUpApproval

from .base import AnsweredAdmin, money, wallet_name


@admin.register(TopUpApproval)
class TopUpApprovalAdmin(AnsweredAdmin):
    # Approving sends money: whoever may top a wallet up by hand may approve.
    answer_permission = "wallets.change_wallet"
    pending_status = TopUpApproval.Status.WAITING
    refusals = (approvals.ApprovalRefused,)
    note_required_to_deny = False
    answer_template = "admin/wallets/_answer_topup.html"
    note_help = "Kept with the approval and in the audit log."
    list_display = [
        "created_at",
        wallet_name,
        money("amount_usd", "Amount"),
        "status",
        "asked_by",
        "decided_by",
    ]
    list_filter = ["status", "wallet"]
    list_select_related = ["wallet", "requested_by", "decided_by"]
    fields = readonly_fields = [
        "wallet",
        "amount_usd",
        "reason",
        "status",
        "requested_by",
        "created_at",
        "decided_by",
        "decided_at",
        "note",
        "topup",
    ]

    @admin.display(description="Asked by", ordering="requested_by__username")
    def asked_by(self, approval):
        return approval.requested_by.get_username() if approval.requested_by_id else "the worker"

    def answer_context(self, request, approval) -> dict:
        return {"own_request": approval.requested_by_id == request.user.pk}

    def answer(self, request, object_id: int, *, approve: bool, note: str) -> str:
        approval = approvals.decide(object_id, request.user, approve=approve, note=note)
        if approve:
            return f"Approved: the worker signs and sends {approval} now."
        return f"Denied: {approval}."
