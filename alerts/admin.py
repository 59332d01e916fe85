"""Alerts in the admin: the channels (with a button that sends a test through each), the rules,
and the read-only record of every alert and who was told."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import path
from django.utils.html import format_html, format_html_join

from wallets.admin.base import ReadOnlyAdmin, admin_url, post_only

from . import notify
from .models import Alert, Channel, Delivery, Rule


def report(model_admin: admin.ModelAdmin, request, sent: list[Delivery]) -> None:
    """One message per channel: delivered, or the error."""
    if not sent:
        model_admin.message_user(request, "No channel is enabled: add one first.", messages.WARNING)
    for delivery in sent:
        if delivery.status == Delivery.Status.DELIVERED:
            model_admin.message_user(
                request,
                f"{delivery.channel_name}: delivered to {delivery.recipients}.",
                messages.SUCCESS,
            )
        else:
            model_admin.message_user(
                request, f"{delivery.channel_name}: not delivered: {delivery.error}", messages.ERROR
            )


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    change_list_template = "admin/alerts/channel/change_list.html"
    list_display = ["name", "kind", "shown_target", "enabled", "used_by"]
    list_filter = ["kind", "enabled"]

    @admin.display(description="Target")
    def shown_target(self, obj) -> str:
        # A webhook URL carries its secret token: the list shows where it goes, not the key.
        if obj.kind == Channel.Kind.EMAIL:
            return ", ".join(obj.addresses()) or "-"
        return obj.target.split("://", 1)[-1].split("/", 1)[0]

    @admin.display(description="Rules")
    def used_by(self, obj) -> int:
        return obj.rules.count()

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("test/", wrap(self.test_view), name="alerts_channel_test"),
            *super().get_urls(),
        ]

    @post_only(lambda model_admin, request: model_admin.has_change_permission(request))
    def test_view(self, request) -> str:
        report(self, request, notify.send_test(request.user))
        return admin_url("alerts_channel_changelist")


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "applies_to", "level", "channel_names", "enabled"]
    list_filter = ["kind", "enabled"]
    filter_horizontal = ["channels"]
    fields = [
        "name",
        "kind",
        "member",
        "wallet",
        "percents",
        "limit",
        "channels",
        "tell_member",
        "enabled",
    ]

    @admin.display(description="Applies to")
    def applies_to(self, obj) -> str:
        if obj.member_id:
            return obj.member.get_username()
        if obj.wallet_id:
            return f"wallet {obj.wallet.name}"
        return "-"

    @admin.display(description="Level")
    def level(self, obj) -> str:
        if obj.kind in Rule.BUDGETS:
            return ", ".join(f"{p}%" for p in obj.thresholds())
        unit = Rule.LIMITS.get(obj.kind)
        return f"below {obj.limit_or_default()} {unit[0]}" if unit else "each time"

    @admin.display(description="Channels")
    def channel_names(self, obj) -> str:
        return ", ".join(channel.name for channel in obj.channels.all()) or "none"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "wallet")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["channel_name", "recipients", "status", "attempts", "delivered_at", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def told(alert: Alert) -> str:
    marks = {Delivery.Status.DELIVERED: "✓", Delivery.Status.FAILED: "✗"}
    deliveries = alert.deliveries.all()
    if not deliveries:
        return alert.note or "no channel"
    return format_html_join(
        ", ",
        '<span class="alert-{}" title="{}">{} {}</span>',
        (
            (d.status, d.error or d.recipients, d.channel_name, marks.get(d.status, "…"))
            for d in deliveries
        ),
    )


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["when", "title", "threshold", "told"]
    list_display_links = ["title"]
    list_filter = ["rule_name", "deliveries__status"]
    search_fields = ["title", "subject"]
    inlines = [DeliveryInline]
    fields = ["created_at", "rule", "rule_name", "subject", "period", "threshold", "title", "body"]
    readonly_fields = fields

    @admin.display(description="When", ordering="created_at")
    def when(self, obj) -> str:
        return f"{obj.created_at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="Told")
    def told(self, obj) -> str:
        return told(obj)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    # Who was told, when, through what, and how it went: few enough columns to fit beside the
    # admin's navigation and filters.
    list_display = ["when", "alert_title", "told", "outcome"]
    list_filter = ["status", "channel_name"]
    list_select_related = ["alert"]

    @admin.display(description="When", ordering="created_at")
    def when(self, obj) -> str:
        at = obj.delivered_at or obj.created_at
        return f"{at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="Alert", ordering="alert__created_at")
    def alert_title(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>', admin_url("alerts_alert_change", obj.alert_id), obj.alert.title
        )

    @admin.display(description="Told", ordering="channel_name")
    def told(self, obj) -> str:
        return format_html("{}<br><small>{}</small>", obj.channel_name, obj.recipients or "-")

    @admin.display(description="Outcome", ordering="status")
    def outcome(self, obj) -> str:
        tries = f" after {obj.attempts} attempts" if obj.attempts > 1 else ""
        said = f"{obj.get_status_display()}{tries}"
        if not obj.error:
            return said
        return format_html("{}<br><small>{}</small>", said, obj.error[:160])
