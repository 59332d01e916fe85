from django.contrib import admin

from .models import Budget, LedgerEntry, TopUp, Wallet


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records come from Venice and the worker; nobody edits them by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "display_address",
        "is_default",
        "credit_usd",
        "usdc_balance",
        "topup_amount_usd",
        "topup_below_usd",
        "max_topup_per_day_usd",
    ]
    # The encrypted secret is never rendered, not even encrypted.
    fields = [
        "name",
        "kind",
        "address",
        "is_default",
        "topup_amount_usd",
        "topup_below_usd",
        "max_topup_per_day_usd",
        "credit_usd",
        "credit_checked_at",
        "usdc_balance",
        "usdc_checked_at",
        "ledger_synced_at",
        "created_at",
        "created_by",
    ]
    readonly_fields = [
        "kind",
        "address",
        "credit_usd",
        "credit_checked_at",
        "usdc_balance",
        "usdc_checked_at",
        "ledger_synced_at",
        "created_at",
        "created_by",
    ]

    def has_add_permission(self, request):
        return False  # wallets are created with `manage.py wallet`, where the key is read once


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "created_at",
        "wallet",
        "amount_usd",
        "status",
        "receipt",
        "tx_hash",
        "attempts",
        "reason",
    ]
    list_filter = ["status", "receipt", "wallet"]
    date_hierarchy = "created_at"
    exclude = ["payment_header"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "wallet",
        "type",
        "amount_usd",
        "balance_after_usd",
        "model_id",
        "request_id",
        "job",
        "topup",
    ]
    list_filter = ["type", "wallet", "model_id"]
    search_fields = ["request_id", "venice_id"]
    date_hierarchy = "created_at"


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "month", "limit_usd", "reserved_usd", "spent_usd"]
    list_filter = ["month"]
    readonly_fields = ["reserved_usd", "spent_usd"]
