"""The spend review in the admin: the spend overview, reconciliation and its differences, and the
reconciliation runs. Staff only, like all of the admin; the work is done by plain functions
(review.spend, review.reconcile, wallets.payments)."""

from __future__ import annotations

import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from venice import errors as venice_errors
from wallets import payments
from wallets.admin.base import ReadOnlyAdmin, admin_url, link, money, post_only, wallet_name
from wallets.admin.csv_export import CsvExportMixin
from wallets.admin.dates import LooseDatesMixin
from wallets.crypto import SecretUnreadable
from wallets.models import Wallet
from wallets.venice import client_for

from . import keepers, reconcile, spend
from .forms import ResolveForm, SpendRangeForm
from .models import OPEN_DIFFERENCE, Difference, ReconcileRun, Spend

# --- filters ------------------------------------------------------------------------------------


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


# --- reconciliation -----------------------------------------------------------------------------


@admin.register(Difference)
class DifferenceAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    change_list_template = "admin/review/difference/change_list.html"
    change_form_template = "admin/review/difference/change_form.html"
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
            links.append(link("jobs_job_change", difference.job_id, f"job {difference.job_id}"))
        if difference.topup_id:
            links.append(
                link("wallets_topup_change", difference.topup_id, f"top-up {difference.topup_id}")
            )
        if difference.ledger_entry_id:
            links.append(
                link("wallets_ledgerentry_change", difference.ledger_entry_id, "ledger row")
            )
        if difference.budget_id:
            links.append(link("wallets_budget_change", difference.budget_id, "budget"))
        return format_html(", ".join(["{}"] * len(links)), *links) if links else ""

    @admin.display(description="")
    def resolve_link(self, difference):
        if difference.resolved_at:
            return ""
        return format_html(
            '<a class="button" href="{}">Resolve</a>',
            admin_url("review_difference_resolve", difference.pk),
        )

    def can_resolve(self, request) -> bool:
        return request.user.has_perm("review.change_difference")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("reconcile/", wrap(self.reconcile_view), name="review_difference_reconcile"),
            path("<int:pk>/resolve/", wrap(self.resolve_view), name="review_difference_resolve"),
            *super().get_urls(),
        ]

    @post_only(lambda model_admin, request: model_admin.has_view_permission(request))
    def reconcile_view(self, request) -> str:
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
            target = admin_url("review_difference_changelist")
        return target

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
            return HttpResponseRedirect(admin_url("review_difference_changelist"))
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
        return TemplateResponse(request, "admin/review/difference/resolve.html", context)

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


# --- the spend overview -------------------------------------------------------------------------


@admin.register(Spend)
class SpendAdmin(ReadOnlyAdmin):
    """The spend overview, at /admin/review/spend/ (a proxy model gives it an admin entry)."""

    def has_view_permission(self, request, obj=None):
        user = request.user
        return (
            user.is_active
            and user.is_staff
            and (user.has_perm("review.view_spend") or user.has_perm("wallets.view_ledgerentry"))
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.overview_view), name="review_spend_changelist"),
            path("refresh/", wrap(self.refresh_view), name="review_spend_refresh"),
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
            "keepers": keepers.overview(start, end, wallet=wallet),
            "quick_ranges": _quick_ranges(today, wallet),
            "links": _drilldown_links(start, end, wallet, today, data),
            "can_refresh": request.user.has_perm("wallets.change_wallet"),
        }
        return TemplateResponse(request, "admin/review/spend/overview.html", context)

    @post_only(lambda model_admin, request: request.user.has_perm("wallets.change_wallet"))
    def refresh_view(self, request) -> str:
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
        return admin_url("review_spend_changelist")


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
    changelist = admin_url("wallets_ledgerentry_changelist")

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
        "differences": admin_url("review_difference_changelist"),
    }
