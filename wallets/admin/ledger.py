"""Venice's ledger as the worker copied it: read-only, searched by exact id, by member and model."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.html import format_html

from wallets.models import LedgerEntry, Wallet

from .base import ModelIdFilter, ReadOnlyAdmin, link, money, wallet_name
from .csv_export import CsvExportMixin
from .dates import LooseDatesMixin


class MemberFilter(admin.SimpleListFilter):
    """Ledger rows by the member of their job; "Unattributed" for rows without one."""

    title = "member"
    parameter_name = "member"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.order_by("username").values_list("pk", "username")
        return [("none", "Unattributed"), *((str(pk), name) for pk, name in users)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(job__isnull=True)
        if value and value.isdigit():
            return queryset.filter(job__user_id=int(value))
        return queryset


@admin.register(LedgerEntry)
class LedgerEntryAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = [
        "created_at",
        wallet_name,
        "type",
        money("amount_usd", "Amount"),
        money("balance_after_usd", "Balance after"),
        "model_id",
        "member",
        "job_link",
        "topup_link",
        "request",
    ]
    list_filter = [
        "type",
        "wallet",
        MemberFilter,
        ModelIdFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["wallet", "job__user", "topup"]
    search_fields = ["request_id", "venice_id"]
    search_help_text = "An exact request (queue) id or Venice row id."
    date_hierarchy = "created_at"
    show_full_result_count = False  # a second COUNT(*) over a million rows buys nothing
    csv_fields = (
        "id",
        "created_at",
        "wallet__name",
        "type",
        "amount_usd",
        "balance_after_usd",
        "model_id",
        "job__user__username",
        "job_id",
        "topup_id",
        "request_id",
        "venice_id",
    )
    csv_headers = {"job__user__username": "member"}

    def get_search_results(self, request, queryset, search_term):
        # Ids are matched exactly (an index lookup), not with a LIKE over every row.
        term = search_term.strip()
        if not term:
            return queryset, False
        # venice_id is indexed after wallet (one row per wallet and id): naming the wallets lets
        # both halves of the OR use an index.
        wallets = list(Wallet.objects.values_list("pk", flat=True))
        return queryset.filter(Q(request_id=term) | Q(wallet__in=wallets, venice_id=term)), False

    @admin.display(description="Request id", ordering="request_id")
    def request(self, entry):
        rid = entry.request_id
        if len(rid) <= 14:
            return rid
        return format_html('<span title="{}">{}…</span>', rid, rid[:12])

    @admin.display(description="Member", ordering="job__user__username")
    def member(self, entry):
        if entry.job_id is None:
            return "unattributed" if entry.type != LedgerEntry.Type.TOP_UP else ""
        return entry.job.user.get_username()

    @admin.display(description="Job", ordering="job_id")
    def job_link(self, entry):
        return link("jobs_job_change", entry.job_id, entry.job_id) if entry.job_id else ""

    @admin.display(description="Top-up", ordering="topup_id")
    def topup_link(self, entry):
        if not entry.topup_id:
            return ""
        return link("wallets_topup_change", entry.topup_id, entry.topup_id)
