"""What the admin's model families share: read-only money records, money and wallet columns, the
model filter, links between records, and the opening of every POST-only admin action."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.apps import apps
from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from wallets.money import usd


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records come from Venice and the worker; nobody edits them by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def link(name: str, pk, text) -> str:
    return format_html('<a href="{}">{}</a>', admin_url(name, pk), text)


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


def post_only(allowed: Callable[[admin.ModelAdmin, HttpRequest], bool]):
    """An admin view that only acts (a button, never a page of its own): refused (403) unless
    ``allowed(model_admin, request)``, 405 for anything but a POST; the action adds its messages
    and returns the URL to go back to. The admin site's wrapper (admin_view, in get_urls) has
    already required a signed-in staff member, and studio.twofactor their second factor."""

    def decorate(action: Callable[..., str]) -> Callable[..., HttpResponse]:
        @functools.wraps(action)
        def view(model_admin, request, *args, **kwargs) -> HttpResponse:
            if not allowed(model_admin, request):
                raise PermissionDenied
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return HttpResponseRedirect(action(model_admin, request, *args, **kwargs))

        return view

    return decorate


class ModelIdFilter(admin.SimpleListFilter):
    """By model id. The choices come from the spend summary (a few rows), not from a DISTINCT
    over a million-row table."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        models = cache.get("spend-review:model-ids")
        if models is None:
            # The summary belongs to the spend review, an app above this one: looked up by name.
            summary = apps.get_model("review", "SpendSummary")
            models = list(
                summary.objects.filter(grain=summary.Grain.MONTH)
                .exclude(model_key="")
                .values_list("model_key", flat=True)
                .distinct()
                .order_by("model_key")
            )
            cache.set("spend-review:model-ids", models, 300)
        return [(model, model) for model in models]

    def queryset(self, request, queryset):
        return queryset.filter(model_id=self.value()) if self.value() else queryset
