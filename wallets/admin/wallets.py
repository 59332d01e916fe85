"""Wallets (created, imported, their policy audited, topped up by hand, their keys rotated) and
their top-ups (read-only). Wallet secrets are read once when pasted and never rendered again."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from venice.payments import MIN_TOP_UP_USD
from wallets import audit, keys, payments, policy
from wallets.crypto import SecretUnreadable
from wallets.models import AuditEntry, TopUp, Wallet
from wallets.money import usd

from .base import ReadOnlyAdmin, admin_url, money, post_only, wallet_name
from .csv_export import CsvExportMixin
from .dates import LooseDatesMixin
from .forms import ManualTopUpForm, WalletCreateForm, WalletPolicyForm

log = logging.getLogger(__name__)
Action = AuditEntry.Action


class _AlwaysSafe(SafeExceptionReporterFilter):
    """Hide sensitive POST fields and variables on error pages even with DEBUG on: a pasted
    private key must not appear on any page, the development error page included."""

    def is_active(self, request):
        return True


POLICY_FIELDS = [
    "name",
    "is_default",
    "topup_amount_usd",
    "topup_below_usd",
    "max_topup_per_day_usd",
]

# What the worker and the sync last saw of a wallet, and who made it: shown, never edited.
LAST_KNOWN_FIELDS = [
    "credit_usd",
    "credit_checked_at",
    "usdc_balance",
    "usdc_checked_at",
    "ledger_synced_at",
    "next_topup",
    "created_at",
    "created_by",
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
        ("Last known figures", {"fields": LAST_KNOWN_FIELDS}),
    ]
    readonly_fields = ["kind", "address", *LAST_KNOWN_FIELDS]

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
        nxt = policy.next_topup(wallet)
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
                return HttpResponseRedirect(admin_url("wallets_wallet_change", wallet.pk))
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
        status = policy.wallet_status(wallet)
        form = ManualTopUpForm(
            request.POST or None, wallet=wallet, topped_up_today=status.topped_up_today
        )
        if not wallet.is_evm:
            form = None
        elif request.method == "POST" and form.is_valid():
            self._top_up(request, wallet, form.cleaned_data["amount"])
            return HttpResponseRedirect(admin_url("wallets_wallet_change", wallet.pk))
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
        except (*payments.MANUAL_TOP_UP_REFUSED, SecretUnreadable) as exc:
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

    @post_only(lambda model_admin, request: model_admin.has_change_permission(request))
    def rotate_keys_view(self, request) -> str:
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
        return admin_url("wallets_wallet_changelist")


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


# --- top-ups (read-only) ------------------------------------------------------------------------


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
