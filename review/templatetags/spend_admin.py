"""Template helpers for the admin spend review: money, charts, and the admin index's panel."""

from __future__ import annotations

from django import template

from review import charts, spend
from review.models import ReconcileRun
from wallets.money import format_usd

register = template.Library()


@register.filter
def usd(value):
    """$1,234.50 / $0.018 / -$2.00 (wallets.money); blank for none, as the admin shows it."""
    return "" if value is None or value == "" else format_usd(value)


@register.simple_tag
def day_columns(lines):
    return charts.day_columns(lines)


@register.simple_tag
def spend_bars(lines):
    return charts.bars(lines)


@register.simple_tag
def budget_meter(use):
    return charts.meter(use.fraction, use.level)


@register.simple_tag
def spend_review_summary():
    """For the admin index: open differences and the last reconciliation."""
    return {
        "open_differences": spend.open_differences().count(),
        "last_run": ReconcileRun.objects.first(),
    }
