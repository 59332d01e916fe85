"""Monthly budgets: an admin sets the limits (audited); reserved and spent move only under the
workers' conditional UPDATEs (wallets.budgets). Members' requests for more are answered here
(wallets.requests)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from wallets import audit, budgets, requests
from wallets.models import AuditEntry, Budget, BudgetRequest
from wallets.money import usd

from .base import AnsweredAdmin, money
from .csv_export import CsvExportMixin
from .forms import BudgetForm

Action = AuditEntry.Action


class BudgetOwnerFilter(admin.SimpleListFilter):
    title = "team or member"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("team", "Team"), ("members", "Members")]

    def queryset(self, request, queryset):
        if self.value() == "team":
            return queryset.filter(user__isnull=True)
        if self.value() == "members":
            return queryset.filter(user__isnull=False)
        return queryset


@admin.register(Budget)
class BudgetAdmin(CsvExportMixin, admin.ModelAdmin):
    form = BudgetForm
    list_display = [
        "who",
        "month",
        "limit_usd",
        money("reserved_usd", "Reserved"),
        money("spent_usd", "Spent"),
        "use",
    ]
    list_display_links = ["who"]
    list_editable = ["limit_usd"]
    list_filter = [BudgetOwnerFilter, "month", ("user", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    date_hierarchy = "month"
    csv_fields = ("id", "month", "user__username", "limit_usd", "reserved_usd", "spent_usd")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["reserved_usd", "spent_usd"]
        return ["user", "month", "reserved_usd", "spent_usd"]

    def has_delete_permission(self, request, obj=None):
        return False  # it holds what the month's jobs reserved and spent

    @admin.display(description="Member", ordering="user__username")
    def who(self, budget):
        return budget.user.get_username() if budget.user_id else "Team"

    @admin.display(description="Used")
    def use(self, budget):
        use = budgets.BudgetUse(budget, "", budget.limit_usd, budget.spent_usd, budget.reserved_usd)
        return format_html('<span class="budget-level {}">{} %</span>', use.level, use.percent)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()
            obj.refresh_from_db()
            audit.record(request.user, Action.BUDGET_CREATE, obj, after=audit.snapshot(obj))
            return
        before = audit.snapshot(Budget.objects.get(pk=obj.pk))
        # Only the limit: reserved and spent move under the workers' conditional UPDATEs.
        obj.save(update_fields=["limit_usd"])
        obj.refresh_from_db()
        old, new = audit.changes(before, audit.snapshot(obj))
        if new:
            audit.record(request.user, Action.BUDGET_CHANGE, obj, before=old, after=new)
        current = Budget.objects.get(pk=obj.pk)
        if current.used_usd > current.limit_usd:
            self.message_user(
                request,
                f"{current}: {usd(current.used_usd)} is already used, more than the new "
                f"{usd(current.limit_usd)} limit; new jobs will be refused this month.",
                messages.WARNING,
            )


@admin.register(BudgetRequest)
class BudgetRequestAdmin(AnsweredAdmin):
    """Members' requests for more budget, waiting ones first; answered once (wallets.requests)."""

    # Answering raises a budget: whoever may change budgets may answer.
    answer_permission = "wallets.change_budget"
    pending_status = BudgetRequest.Status.PENDING
    refusals = (requests.RequestRefused,)
    answer_template = "admin/wallets/_answer_budget.html"
    note_help = "To the member: required when denying. Kept with the request and in the audit log."
    list_display = ["who", "month", money("amount_usd", "Asked for"), "status", "created_at"]
    list_filter = ["status", "month"]
    list_select_related = ["user", "decided_by"]
    search_fields = ["user__username", "reason"]
    fields = readonly_fields = [
        "user",
        "month",
        "amount_usd",
        "reason",
        "status",
        "created_at",
        "decided_by",
        "decided_at",
        "note",
    ]

    @admin.display(description="Member", ordering="user__username")
    def who(self, asked):
        return asked.user.get_username()

    def answer_context(self, request, asked) -> dict:
        return {
            "team_shortfall": requests.team_shortfall(asked),
            "remaining": budgets.member_budget(asked.user_id, asked.month).remaining_usd,
        }

    def answer(self, request, object_id: int, *, approve: bool, note: str) -> str:
        asked = requests.decide(object_id, request.user, approve=approve, note=note)
        return f"{asked.get_status_display()}: {asked}."
