"""Small server-rendered SVG charts for the spend overview: no JavaScript, no library.

Every value is escaped through format_html; each bar carries a <title> (the browser's tooltip,
read by screen readers) and the chart an aria-label, and the same figures are in the tables
beside it. Colours come from CSS classes (static/admin/studio-spend.css), so the admin's dark
theme applies.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from wallets.money import usd


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _nice_max(value: Decimal) -> Decimal:
    """A round axis maximum at or above value: 1, 2, 2.5, 5 times a power of ten."""
    if value <= 0:
        return Decimal("1")
    exponent = value.adjusted()
    for step in (Decimal("1"), Decimal("2"), Decimal("2.5"), Decimal("5"), Decimal("10")):
        candidate = step.scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal("10").scaleb(exponent)


def _ledger_rows(line) -> str:
    return f"{line.charges} charges, {line.refunds} refunds"


def day_columns(
    lines: Sequence,
    *,
    width: int = 900,
    height: int = 220,
    counts: Callable[[Any], str] = _ledger_rows,
) -> SafeString:
    """Net spend per day as columns (refund-heavy days go below the line); `counts` says what
    each day's figure is made of, in its tooltip."""
    if not lines:
        return SafeString("")
    left, right, top, bottom = 56, 8, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [line.spend for line in lines]
    high = _nice_max(max(max(values), Decimal("0")))
    low = -_nice_max(-min(values)) if min(values) < 0 else Decimal("0")
    span = float(high - low)

    def y(value: Decimal) -> float:
        return top + plot_h * float(high - value) / span

    step = plot_w / len(lines)
    bar_w = min(max(step * 0.8, 0.5), 36)  # a few days are columns, not slabs
    zero = y(Decimal("0"))
    bars = []
    for index, line in enumerate(lines):
        x = left + index * step + (step - bar_w) / 2
        top_y, bottom_y = sorted((y(line.spend), zero))
        bars.append(
            (
                "bar neg" if line.spend < 0 else "bar",
                _fmt(x),
                _fmt(top_y),
                _fmt(bar_w),
                _fmt(max(bottom_y - top_y, 0)),
                f"{line.label}: {usd(line.spend)} ({counts(line)})",
            )
        )
    ticks = []
    for value in sorted({high, (high + low) / 2, low, Decimal("0")}):
        ticks.append((_fmt(left - 6), _fmt(y(value) + 4), usd(value)))
    grid = [(_fmt(left), _fmt(y(v)), _fmt(left + plot_w), _fmt(y(v))) for v in (high, low)]
    labels = []
    for index, line in _date_ticks(lines):
        labels.append((_fmt(left + index * step + step / 2), _fmt(height - 8), line))
    return format_html(
        '<svg class="spend-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'preserveAspectRatio="xMidYMid meet">'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>{}{}{}{}</svg>',
        width,
        height,
        f"Spend per day from {lines[0].label} to {lines[-1].label}",
        left,
        _fmt(zero),
        left + plot_w,
        _fmt(zero),
        format_html_join("", '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"></line>', grid),
        format_html_join(
            "",
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            bars,
        ),
        format_html_join("", '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>', ticks),
        format_html_join(
            "", '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>', labels
        ),
    )


def _date_ticks(lines: Sequence) -> list[tuple[int, str]]:
    """Up to about eight evenly spread day labels (month starts when the range is long)."""
    days = [datetime.date.fromisoformat(line.key) for line in lines]
    if len(days) > 62:
        marks = [(i, f"{d:%b %Y}") for i, d in enumerate(days) if d.day == 1]
        every = max(1, len(marks) // 8 + (1 if len(marks) % 8 else 0))
        return marks[::every]
    every = max(1, -(-len(days) // 8))
    return [(i, f"{d:%b} {d.day}") for i, d in enumerate(days)][::every]


def bars(lines: Sequence, *, width: int = 380, limit: int = 12) -> SafeString:
    """Horizontal bars of net spend, largest first (the rest summed as "Others")."""
    shown = list(lines[:limit])
    rest = list(lines[limit:])
    rows = [(line.label, line.spend, line.charges) for line in shown]
    if rest:
        rows.append(
            (
                f"{len(rest)} others",
                sum((line.spend for line in rest), Decimal("0")),
                sum(line.charges for line in rest),
            )
        )
    if not rows:
        return SafeString("")
    label_w, value_w, row_h = 160, 64, 22
    plot_w = width - label_w - value_w
    high = max(max(spend for _, spend, _ in rows), Decimal("0")) or Decimal("1")
    items = []
    for index, (label, spend, charges) in enumerate(rows):
        y = index * row_h
        length = plot_w * float(max(spend, Decimal("0")) / high)
        items.append(
            (
                _fmt(label_w - 8),
                _fmt(y + 15),
                label if len(label) <= 24 else label[:23] + "…",
                "bar neg" if spend < 0 else "bar",
                label_w,
                _fmt(y + 4),
                _fmt(max(length, 1)),
                f"{label}: {usd(spend)} ({charges} charges)",
                _fmt(label_w + length + 6),
                _fmt(y + 15),
                usd(spend),
            )
        )
    return format_html(
        '<svg class="spend-chart bars" width="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}">{}</svg>',
        width,
        width,
        len(rows) * row_h,
        "Spend, largest first",
        format_html_join(
            "",
            '<text class="label" x="{}" y="{}" text-anchor="end">{}</text>'
            '<rect class="{}" x="{}" y="{}" width="{}" height="14"><title>{}</title></rect>'
            '<text class="value" x="{}" y="{}">{}</text>',
            items,
        ),
    )


def meter(fraction: Decimal, level: str) -> SafeString:
    """A budget's use as a bar (clipped at 100 %), coloured by its warning level."""
    filled = max(0.0, min(float(fraction), 1.0)) * 100
    return format_html(
        '<svg class="budget-meter {}" viewBox="0 0 100 8" preserveAspectRatio="none" '
        'aria-hidden="true"><rect class="track" width="100" height="8"></rect>'
        '<rect class="fill" width="{}" height="8"></rect>{}</svg>',
        level,
        _fmt(filled),
        mark_safe('<line class="mark" x1="80" y1="0" x2="80" y2="8"></line>'),  # noqa: S308
    )
