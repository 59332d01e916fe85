"""What the admin's model families share: read-only money records, money and wallet columns, the
model filter, links between records, and the opening of every POST-only admin action."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.apps import apps
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Case, When
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
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


class SingletonAdmin(admin.ModelAdmin):
    """The admin of an `ops.models.Singleton`: its list goes straight to the one row's form, or
    to the form that creates it while no admin has saved one."""

    def has_add_permission(self, request) -> bool:
        return not self.model.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        meta = self.model._meta
        if self.model.objects.filter(pk=1).exists():
            return HttpResponseRedirect(admin_url(f"{meta.app_label}_{meta.model_name}_change", 1))
        return HttpResponseRedirect(admin_url(f"{meta.app_label}_{meta.model_name}_add"))


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


class AnsweredAdmin(ReadOnlyAdmin):
    """Read-only requests that an admin answers once, Approve or Deny with a note (budget
    requests, top-up approvals): the change page shows the answer form while `pending_status`,
    and `answer` does the domain's work, raising one of `refusals` to say no."""

    answer_permission = ""
    pending_status = ""
    refusals: tuple[type[Exception], ...] = ()
    note_required_to_deny = True
    change_form_template = "admin/wallets/answered_change_form.html"
    answer_template = ""  # the facts beside the answer form (extends admin/wallets/_answer.html)
    note_help = ""

    def get_queryset(self, request):
        waiting_first = Case(When(status=self.pending_status, then=0), default=1)
        return super().get_queryset(request).order_by(waiting_first, "-created_at")

    def may_answer(self, request) -> bool:
        return request.user.has_perm(self.answer_permission)

    def answer(self, request, object_id: int, *, approve: bool, note: str) -> str:
        raise NotImplementedError

    def answer_context(self, request, obj) -> dict:
        return {}

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_decide"
        decide = self.admin_site.admin_view(self.decide_view)
        return [path("<int:object_id>/decide/", decide, name=name), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {}
        if obj is not None and obj.status == self.pending_status and self.may_answer(request):
            name = f"admin:{self.opts.app_label}_{self.opts.model_name}_decide"
            extra = {
                "answer_template": self.answer_template,
                "decide": reverse(name, args=[obj.pk]),
                "note_help": self.note_help,
                **self.answer_context(request, obj),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @post_only(lambda model_admin, request: model_admin.may_answer(request))
    def decide_view(self, request, object_id) -> str:
        decision = request.POST.get("decision")
        note = request.POST.get("note", "").strip()[:1000]
        changelist = admin_url(f"{self.opts.app_label}_{self.opts.model_name}_changelist")
        if decision not in ("approve", "deny"):
            self.message_user(request, "Choose approve or deny.", messages.ERROR)
        elif decision == "deny" and self.note_required_to_deny and not note:
            self.message_user(request, "Say why in the note.", messages.ERROR)
        else:
            try:
                approve = decision == "approve"
                done = self.answer(request, int(object_id), approve=approve, note=note)
            except self.model.DoesNotExist:
                raise Http404("No such record") from None
            except self.refusals as refused:
                self.message_user(request, str(refused), messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return changelist
        return admin_url(f"{self.opts.app_label}_{self.opts.model_name}_change", object_id)
