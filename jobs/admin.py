from django.contrib import admin
from django.db.models import Q

from wallets.admin import ModelIdFilter, ReadOnlyAdmin, money, wallet_name
from wallets.admin_csv import CsvExportMixin
from wallets.admin_dates import LooseDatesMixin

from .models import Job, JobEvent


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "state", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    """Jobs are money records too (quoted, charged, refunded, settled): read-only here."""

    list_display = [
        "pk",
        "created_at",
        "user",
        "model_id",
        "state",
        money("quoted_usd", "Quoted"),
        money("charged_usd", "Charged"),
        money("refunded_usd", "Refunded"),
        money("settled_usd", "Settled"),
        wallet_name,
        "error_code",
    ]
    list_filter = [
        "state",
        ModelIdFilter,
        ("user", admin.RelatedFieldListFilter),
        "wallet",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["user", "wallet"]
    search_fields = ["prompt", "queue_id", "user__username"]
    search_help_text = "A job number, a queue id, a member, or words of the prompt."
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [JobEventInline]
    exclude = ["lease_until"]
    csv_fields = (
        "id",
        "created_at",
        "user__username",
        "wallet__name",
        "model_id",
        "state",
        "quoted_usd",
        "charged_usd",
        "refunded_usd",
        "settled_usd",
        "budget_month",
        "queue_id",
        "duration_seconds",
        "error_code",
        "finished_at",
        "prompt",
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():  # a job number
            return queryset.filter(Q(pk=int(term)) | Q(queue_id=term)), False
        return super().get_search_results(request, queryset, search_term)
