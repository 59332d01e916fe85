"""The admin spend review: money records (read-only), wallets and budgets (audited), the spend
overview, reconciliation and its differences, and the audit log. Staff only, like all of the
admin; the work is done by plain functions (spend, reconcile, payments, keys, audit)."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from venice import errors as venice_errors
from venice.payments import MIN_TOP_UP_USD

from . import audit, keys, payments, reconcile, spend
from .admin_csv import CsvExportMixin
from .admin_dates import LooseDatesMixin
from .admin_forms import (
    BudgetForm,
    ManualTopUpForm,
    ResolveForm,
    SpendRangeForm,
    WalletCreateForm,
    WalletPolicyForm,
)
from .crypto import SecretUnreadable
from .models import (
    OPEN_DIFFERENCE,
    AuditEntry,
    Budget,
    Difference,
    LedgerEntry,
    ReconcileRun,
    Spend,
    SpendSummary,
    TopUp,
    Wallet,
)
from .reconcile import usd

log = logging.getLogger(__name__)
Action = AuditEntry.Action


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records come from Venice and the worker; nobody edits them by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def _link(name: str, pk, text) -> str:
    return format_html('<a href="{}">{}</a>', _admin_url(name, pk), text)


@admin.display(description="Wallet", ordering="wallet__name")
def wallet_name(obj) -> str:
    """The wallet's name only: the address would crowd the money columns off a list."""
    return obj.wallet.name if obj.wallet_id else ""


def money(field: str, label: str):
    """A list column showing a USD field as $0.42 (sortable by the field; right-aligned by
    static/admin/studio-spend.css)."""

    @admin.display(description=label, ordering=field)
    def show(obj) -> str:
        value = getattr(obj, field)
        return "" if value is None else usd(value)

    show.__name__ = f"money_{field}"
    return show


class _AlwaysSafe(SafeExceptionReporterFilter):
    """Hide sensitive POST fields and variables on error pages even with DEBUG on: a pasted
    private key must not appear on any page, the development error page included."""

    def is_active(self, request):
        return True


# --- filters ------------------------------------------------------------------------------------


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


class ModelIdFilter(admin.SimpleListFilter):
    """By model id. The choices come from the spend summary (a few rows), not from a DISTINCT
    over a million-row table."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        models = cache.get("spend-review:model-ids")
        if models is None:
            models = list(
                SpendSummary.objects.filter(grain=SpendSummary.Grain.MONTH)
                .exclude(model_key="")
                .values_list("model_key", flat=True)
                .distinct()
                .order_by("model_key")
            )
            cache.set("spend-review:model-ids", models, 300)
        return [(model, model) for model in models]

    def queryset(self, request, queryset):
        return queryset.filter(model_id=self.value()) if self.value() else queryset


class DifferenceStatusFilter(admin.SimpleListFilter):
    """Open differences by default; resolved, cleared or all on request."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("open", "Open"),
            ("resolved", "Resolved"),
            ("cleared", "Cleared (no longer found)"),
            ("all", "All"),
        ]

    def value(self):
        return super().value() or "open"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(OPEN_DIFFERENCE)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        if value == "cleared":
            return queryset.filter(cleared_at__isnull=False, resolved_at__isnull=True)
        return queryset


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


# --- wallets ------------------------------------------------------------------------------------

POLICY_FIELDS = [
    "name",
    "is_default",
    "topup_amount_usd",
    "topup_below_usd",
    "max_topup_per_day_usd",
]


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    form = WalletPolicyForm
    change_list_template = "admin/wallets/wallet/change_list.html"
    change_form_template = "admin/wallets/wallet/change_form.html"
    list_display = [
        "name",
        "kind",
        "display_address",
        "is_default",
        "credit",
        "usdc",
        "policy",
        "next_topup",
    ]
    search_fields = ["name", "address"]
    # The encrypted secret is never rendered, not even encrypted.
    fieldsets = [
        (None, {"fields": ["name", "kind", "address", "is_default"]}),
        (
            "Top-up policy",
            {
                "fields": ["topup_amount_usd", "topup_below_usd", "max_topup_per_day_usd"],
                "description": "When the credit falls below the level, the worker buys the "
                "amount, never more than the daily cap in a UTC day. Venice's smallest "
                "top-up is $5.",
            },
        ),
        (
            "Last known figures",
            {
                "fields": [
                    "credit_usd",
                    "credit_checked_at",
                    "usdc_balance",
                    "usdc_checked_at",
                    "ledger_synced_at",
                    "next_topup",
                    "created_at",
                    "created_by",
                ]
            },
        ),
    ]
    readonly_fields = [
        "kind",
        "address",
        "credit_usd",
        "credit_checked_at",
        "usdc_balance",
        "usdc_checked_at",
        "ledger_synced_at",
        "next_topup",
        "created_at",
        "created_by",
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not obj.is_evm:
            fields += ["topup_amount_usd", "topup_below_usd", "max_topup_per_day_usd"]
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # jobs, top-ups and the ledger point at it

    @admin.display(description="Venice credit")
    def credit(self, wallet):
        if not wallet.is_evm:
            return "billed by Venice"
        return "unknown" if wallet.credit_usd is None else usd(wallet.credit_usd)

    @admin.display(description="USDC on chain")
    def usdc(self, wallet):
        if not wallet.is_evm:
            return "-"
        return "unknown" if wallet.usdc_balance is None else usd(wallet.usdc_balance)

    @admin.display(description="Top-up policy")
    def policy(self, wallet):
        if not wallet.is_evm:
            return "-"
        return (
            f"{usd(wallet.topup_amount_usd)} below {usd(wallet.topup_below_usd)}, "
            f"at most {usd(wallet.max_topup_per_day_usd)}/day"
        )

    @admin.display(description="Next top-up")
    def next_topup(self, wallet):
        nxt = spend.next_topup(wallet)
        if nxt.amount is None:
            return nxt.when
        text = f"{usd(nxt.amount)}: {nxt.when}"
        if nxt.problem:
            return format_html('{} <strong class="spend-problem">{}</strong>', text, nxt.problem)
        return text

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/top-up/", wrap(self.topup_view), name="wallets_wallet_topup"),
            path("rotate-keys/", wrap(self.rotate_keys_view), name="wallets_wallet_rotate_keys"),
            *super().get_urls(),
        ]

    # Creating or importing: the pasted secret is read once and never rendered again.

    @method_decorator(sensitive_post_parameters("private_key", "api_key"))
    @method_decorator(csrf_protect)
    def add_view(self, request, form_url="", extra_context=None):
        request.exception_reporter_filter = _AlwaysSafe()
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = WalletCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            wallet, problem = _create_wallet(request.user, form.cleaned_data)
            if wallet is not None:
                what = (
                    f"Wallet {wallet.name} is ready: fund {wallet.address} with USDC on Base."
                    if wallet.is_evm
                    else f"Wallet {wallet.name} will pay with its Venice API key."
                )
                self.message_user(request, what, messages.SUCCESS)
                return HttpResponseRedirect(_admin_url("wallets_wallet_change", wallet.pk))
            form.add_error(None, problem)
        context = {
            **self.admin_site.each_context(request),
            "title": "Add a wallet",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/wallets/wallet/create.html", context)

    def save_model(self, request, obj, form, change):
        if not change:  # wallets are added by add_view only
            raise PermissionDenied
        before = audit.snapshot(Wallet.objects.get(pk=obj.pk))
        changed = [name for name in form.changed_data if name in POLICY_FIELDS]
        with transaction.atomic():
            if "is_default" in changed and obj.is_default:
                Wallet.objects.filter(is_default=True).exclude(pk=obj.pk).update(is_default=False)
            # Only what the admin changed: a full save would write back the worker's fields
            # (the top-up lease, the known credit) as they were when the form was loaded.
            obj.save(update_fields=changed)
        obj.refresh_from_db()
        old, new = audit.changes(before, audit.snapshot(obj))
        if new:
            audit.record(request.user, Action.POLICY_CHANGE, obj, before=old, after=new)

    # Topping up by hand, within the policy's caps (checked here, and again by payments).

    def topup_view(self, request, object_id):
        wallet = self.get_object(request, object_id)
        if wallet is None:
            raise Http404("No such wallet")
        if not self.has_change_permission(request, wallet):
            raise PermissionDenied
        status = spend.wallet_status(wallet)
        form = ManualTopUpForm(
            request.POST or None, wallet=wallet, topped_up_today=status.topped_up_today
        )
        if not wallet.is_evm:
            form = None
        elif request.method == "POST" and form.is_valid():
            self._top_up(request, wallet, form.cleaned_data["amount"])
            return HttpResponseRedirect(_admin_url("wallets_wallet_change", wallet.pk))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Top up {wallet.name}",
            "opts": self.opts,
            "original": wallet,
            "wallet": wallet,
            "status": status,
            "form": form,
            "minimum": MIN_TOP_UP_USD,
        }
        return TemplateResponse(request, "admin/wallets/wallet/topup.html", context)

    def _top_up(self, request, wallet: Wallet, amount: Decimal) -> None:
        topup = None
        try:
            topup = payments.manual_top_up(wallet, amount, requested_by=request.user)
        except (
            payments.TopUpNotAllowed,
            payments.TopUpPending,
            payments.TopUpFailed,
            payments.WalletBusy,
            venice_errors.VeniceError,
            SecretUnreadable,
        ) as exc:
            outcome = f"refused: {exc}"
            self.message_user(request, f"No top-up: {exc}", messages.ERROR)
        else:
            outcome = topup.get_status_display()
            if topup.status == TopUp.Status.CREDITED:
                self.message_user(
                    request,
                    f"Top-up {topup.pk}: Venice credited {usd(topup.amount_credited_usd)} "
                    f"(transaction {topup.tx_hash or 'not named'}).",
                    messages.SUCCESS,
                )
            elif topup.status == TopUp.Status.FAILED:
                self.message_user(request, f"Top-up {topup.pk}: {topup.outcome}", messages.ERROR)
            else:
                self.message_user(request, f"Top-up {topup.pk}: {topup.outcome}", messages.WARNING)
        audit.record(
            request.user,
            Action.MANUAL_TOPUP,
            topup or wallet,
            after={"wallet": wallet.name, "amount_usd": str(amount), "outcome": outcome},
        )

    def rotate_keys_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            count = keys.rotate_encryption()
        except SecretUnreadable as exc:
            self.message_user(request, f"Nothing was re-encrypted: {exc}", messages.ERROR)
            audit.record(request.user, Action.KEYS_ROTATE, note=f"failed: {exc}")
        else:
            self.message_user(
                request,
                f"Re-encrypted {count} wallet secrets under the first key of "
                f"STUDIO_ENCRYPTION_KEYS. Older keys can be removed from the setting now.",
                messages.SUCCESS,
            )
            audit.record(request.user, Action.KEYS_ROTATE, after={"wallets": count})
        return HttpResponseRedirect(_admin_url("wallets_wallet_changelist"))


@sensitive_variables()
def _create_wallet(user, data: dict) -> tuple[Wallet | None, str]:
    """Create, import or add the wallet; (wallet, "") or (None, why). Never raises with the
    pasted secret in reach of an error page, and never logs it."""
    mode, name, default = data["mode"], data["name"], data["make_default"]
    try:
        if mode == "import":
            wallet = keys.import_evm_wallet(
                name, data["private_key"], created_by=user, make_default=default
            )
            action = Action.WALLET_IMPORT
        elif mode == "api_key":
            wallet = keys.add_api_key_wallet(
                name, data["api_key"], created_by=user, make_default=default
            )
            action = Action.WALLET_API_KEY
        else:
            wallet = keys.create_evm_wallet(name, created_by=user, make_default=default)
            action = Action.WALLET_CREATE
    except keys.WalletInputError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - the type only: a message might quote the input
        log.error("adding wallet %r failed: %s", name, type(exc).__name__)
        return None, f"Studio could not save the wallet ({type(exc).__name__}); nothing was stored."
    audit.record(user, action, wallet, after=audit.snapshot(wallet))
    return wallet, ""


# --- money records (read-only) ------------------------------------------------------------------


@admin.register(TopUp)
class TopUpAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = [
        "pk",
        "created_at",
        wallet_name,
        money("amount_usd", "Amount"),
        money("amount_credited_usd", "Credited"),
        "status",
        "outcome",
        "receipt",
        "short_tx",
        "requested_by",
        "reason",
        "attempts",
    ]
    list_filter = [
        "status",
        "receipt",
        "wallet",
        ("requested_by", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["wallet", "requested_by"]
    search_fields = ["=tx_hash", "=payment_id", "=payer", "reason"]
    date_hierarchy = "created_at"
    exclude = ["payment_header"]  # the signed payment: nobody needs to read it
    csv_fields = (
        "id",
        "created_at",
        "wallet__name",
        "amount_usd",
        "amount_credited_usd",
        "status",
        "receipt",
        "receipt_note",
        "tx_hash",
        "payment_id",
        "payer",
        "pay_to",
        "requested_by__username",
        "reason",
        "attempts",
        "last_error_code",
        "settled_at",
    )

    @admin.display(description="What happened")
    def outcome(self, topup):
        return topup.outcome

    @admin.display(description="Transaction", ordering="tx_hash")
    def short_tx(self, topup):
        return f"{topup.tx_hash[:10]}…{topup.tx_hash[-6:]}" if topup.tx_hash else ""


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
        return _link("jobs_job_change", entry.job_id, entry.job_id) if entry.job_id else ""

    @admin.display(description="Top-up", ordering="topup_id")
    def topup_link(self, entry):
        if not entry.topup_id:
            return ""
        return _link("wallets_topup_change", entry.topup_id, entry.topup_id)


# --- budgets ------------------------------------------------------------------------------------


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
        use = spend.BudgetUse(budget, "", budget.limit_usd, budget.spent_usd, budget.reserved_usd)
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


# --- reconciliation -----------------------------------------------------------------------------


@admin.register(Difference)
class DifferenceAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    change_list_template = "admin/wallets/difference/change_list.html"
    change_form_template = "admin/wallets/difference/change_form.html"
    list_display = [
        "opened_at",
        "kind",
        wallet_name,
        "detail",
        money("expected_usd", "Expected"),
        money("actual_usd", "Found"),
        "state",
        "refs",
        "resolve_link",
    ]
    list_display_links = ["opened_at"]
    list_filter = [DifferenceStatusFilter, "kind", "wallet"]
    list_select_related = ["wallet", "resolved_by"]
    search_fields = ["detail", "note", "venice_id"]
    date_hierarchy = "opened_at"
    actions = ["export_selected_csv", "resolve_selected"]
    fields = [
        "kind",
        "wallet",
        "detail",
        "expected_usd",
        "actual_usd",
        "refs",
        "opened_at",
        "last_seen_at",
        "cleared_at",
        "resolved_at",
        "resolved_by",
        "note",
    ]
    readonly_fields = fields
    csv_fields = (
        "id",
        "opened_at",
        "kind",
        "wallet__name",
        "detail",
        "expected_usd",
        "actual_usd",
        "status",
        "job_id",
        "topup_id",
        "venice_id",
        "last_seen_at",
        "cleared_at",
        "resolved_at",
        "resolved_by__username",
        "note",
    )

    @admin.display(description="Status")
    def state(self, difference):
        return format_html(
            '<span class="difference-{}">{}</span>', difference.status, difference.status
        )

    @admin.display(description="Records")
    def refs(self, difference):
        links = []
        if difference.job_id:
            links.append(_link("jobs_job_change", difference.job_id, f"job {difference.job_id}"))
        if difference.topup_id:
            links.append(
                _link("wallets_topup_change", difference.topup_id, f"top-up {difference.topup_id}")
            )
        if difference.ledger_entry_id:
            links.append(
                _link("wallets_ledgerentry_change", difference.ledger_entry_id, "ledger row")
            )
        if difference.budget_id:
            links.append(_link("wallets_budget_change", difference.budget_id, "budget"))
        return format_html(", ".join(["{}"] * len(links)), *links) if links else ""

    @admin.display(description="")
    def resolve_link(self, difference):
        if difference.resolved_at:
            return ""
        return format_html(
            '<a class="button" href="{}">Resolve</a>',
            _admin_url("wallets_difference_resolve", difference.pk),
        )

    def can_resolve(self, request) -> bool:
        return request.user.has_perm("wallets.change_difference")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("reconcile/", wrap(self.reconcile_view), name="wallets_difference_reconcile"),
            path("<int:pk>/resolve/", wrap(self.resolve_view), name="wallets_difference_resolve"),
            *super().get_urls(),
        ]

    def reconcile_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            run = reconcile.run(started_by=request.user, all_receipts=True)
        except reconcile.ReconcileBusy as exc:
            self.message_user(request, str(exc), messages.WARNING)
        else:
            level = messages.WARNING if run.errors else messages.SUCCESS
            self.message_user(
                request,
                f"Reconciled {run.wallets} wallet(s): {run.found} difference(s) found, "
                f"{run.new} new, {run.cleared} no longer found."
                + (f" Problems: {run.errors}" if run.errors else ""),
                level,
            )
        target = request.POST.get("next") or ""
        if not target.startswith("/") or not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = _admin_url("wallets_difference_changelist")
        return HttpResponseRedirect(target)

    def resolve_view(self, request, pk):
        if not self.can_resolve(request):
            raise PermissionDenied
        difference = Difference.objects.filter(pk=pk).first()
        if difference is None:
            raise Http404("No such difference")
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if reconcile.resolve(difference, request.user, form.cleaned_data["note"]):
                self.message_user(request, f"Resolved: {difference}", messages.SUCCESS)
            else:
                self.message_user(request, "It was already resolved.", messages.WARNING)
            return HttpResponseRedirect(_admin_url("wallets_difference_changelist"))
        return self._resolve_page(request, [difference], form)

    def _resolve_page(self, request, differences, form, *, action: bool = False):
        context = {
            **self.admin_site.each_context(request),
            "title": "Resolve differences" if len(differences) > 1 else "Resolve a difference",
            "opts": self.opts,
            "differences": differences,
            "form": form,
            "action": action,
        }
        return TemplateResponse(request, "admin/wallets/difference/resolve.html", context)

    @admin.action(description="Resolve selected differences with a note")
    def resolve_selected(self, request, queryset):
        if not self.can_resolve(request):
            raise PermissionDenied
        differences = list(queryset.filter(resolved_at__isnull=True))
        form = ResolveForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = sum(
                reconcile.resolve(d, request.user, form.cleaned_data["note"]) for d in differences
            )
            self.message_user(request, f"Resolved {done} difference(s).", messages.SUCCESS)
            return None
        return self._resolve_page(request, differences, form, action=True)


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "started_by",
        "wallets",
        "found",
        "new",
        "cleared",
        "errors",
    ]
    list_filter = [("started_by", admin.RelatedOnlyFieldListFilter)]
    date_hierarchy = "started_at"


# --- the audit log ------------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "object_repr", "change", "note"]
    list_filter = [
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("at", admin.DateFieldListFilter),
    ]
    list_select_related = ["actor"]
    search_fields = ["object_repr", "note"]
    date_hierarchy = "at"
    csv_fields = (
        "id",
        "at",
        "actor__username",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before",
        "after",
        "note",
    )

    @admin.display(description="Change")
    def change(self, entry):
        names = list(dict.fromkeys([*entry.before, *entry.after]))
        return "; ".join(
            f"{name}: {entry.before[name]} → {entry.after.get(name)}"
            if name in entry.before
            else f"{name}: {entry.after[name]}"
            for name in names
        )


# --- the spend overview -------------------------------------------------------------------------


@admin.register(Spend)
class SpendAdmin(ReadOnlyAdmin):
    """The spend overview, at /admin/wallets/spend/ (a proxy model gives it an admin entry)."""

    def has_view_permission(self, request, obj=None):
        user = request.user
        return (
            user.is_active
            and user.is_staff
            and (user.has_perm("wallets.view_spend") or user.has_perm("wallets.view_ledgerentry"))
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.overview_view), name="wallets_spend_changelist"),
            path("refresh/", wrap(self.refresh_view), name="wallets_spend_refresh"),
        ]

    def overview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = spend.utc_today()
        default_start = today - datetime.timedelta(days=29)
        form = SpendRangeForm(
            request.GET if "start" in request.GET else None,
            initial={"start": default_start, "end": today},
        )
        start, end, wallet = default_start, today, None
        if form.is_bound and form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            wallet = form.cleaned_data["wallet"]
        data = spend.overview(start, end, wallet=wallet, today=today)
        context = {
            **self.admin_site.each_context(request),
            "title": "Spend overview",
            "opts": self.opts,
            "form": form,
            "overview": data,
            "quick_ranges": _quick_ranges(today, wallet),
            "links": _drilldown_links(start, end, wallet, today, data),
            "can_refresh": request.user.has_perm("wallets.change_wallet"),
        }
        return TemplateResponse(request, "admin/wallets/spend/overview.html", context)

    def refresh_view(self, request):
        if not request.user.has_perm("wallets.change_wallet"):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        from .venice import client_for

        failed = False
        for wallet in Wallet.objects.filter(kind=Wallet.Kind.EVM):
            # Venice and the chain are separate parties: one being down does not stop the other.
            try:
                with client_for(wallet) as client:
                    payments.refresh_credit(wallet, client)
            except (venice_errors.VeniceError, SecretUnreadable) as exc:
                failed = True
                self.message_user(
                    request, f"{wallet.name}: Venice credit not read: {exc}", messages.ERROR
                )
            try:
                payments.refresh_usdc(wallet)
            except venice_errors.VeniceError as exc:
                failed = True
                self.message_user(
                    request, f"{wallet.name}: USDC balance not read: {exc}", messages.WARNING
                )
        if not failed:
            self.message_user(request, "Balances refreshed.", messages.SUCCESS)
        return HttpResponseRedirect(_admin_url("wallets_spend_changelist"))


def _range_query(start: datetime.date, end: datetime.date, wallet: Wallet | None) -> str:
    params = {"start": start.isoformat(), "end": end.isoformat()}
    if wallet is not None:
        params["wallet"] = wallet.pk
    return "?" + urlencode(params)


def _quick_ranges(today: datetime.date, wallet: Wallet | None) -> list[tuple[str, str]]:
    last_month_end = spend.month_start(today) - datetime.timedelta(days=1)
    ranges = [
        ("Last 30 days", today - datetime.timedelta(days=29), today),
        ("This month", spend.month_start(today), today),
        ("Last month", spend.month_start(last_month_end), last_month_end),
        ("This year", today.replace(month=1, day=1), today),
        ("Last 365 days", today - datetime.timedelta(days=364), today),
    ]
    return [(label, _range_query(start, end, wallet)) for label, start, end in ranges]


def _drilldown_links(start, end, wallet, today, data) -> dict:
    """Ledger lists behind the overview's figures (each list exports to CSV in one click)."""
    changelist = _admin_url("wallets_ledgerentry_changelist")

    def instant(day: datetime.date) -> str:
        return str(datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC))

    def ledger(first: datetime.date, after: datetime.date | None = None, **params) -> str:
        params = {"created_at__gte": instant(first), "type__in": "CHARGE,REFUND", **params}
        if after is not None:
            params["created_at__lt"] = instant(after)
        if wallet is not None:
            params["wallet__id__exact"] = wallet.pk
        return changelist + "?" + urlencode(params)

    after = end + datetime.timedelta(days=1)
    one_day = datetime.timedelta(days=1)
    return {
        "range": ledger(start, after),
        "month": ledger(spend.month_start(today), today + one_day),
        "today": ledger(today, today + one_day),
        "members": [
            (line, ledger(start, after, member="none" if line.key == "0" else line.key))
            for line in data.members
        ],
        "models": [
            (line, ledger(start, after, model=line.key) if line.key else "") for line in data.models
        ],
        "days": [
            (
                line,
                ledger(
                    datetime.date.fromisoformat(line.key),
                    datetime.date.fromisoformat(line.key) + one_day,
                ),
            )
            for line in data.days
        ],
        "differences": _admin_url("wallets_difference_changelist"),
    }
