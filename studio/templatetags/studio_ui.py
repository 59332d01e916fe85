"""Small display helpers shared by the pages: state symbols, money, durations, progress."""

from __future__ import annotations

import datetime

from django import template
from django.utils import timezone

from jobs.models import Job
from wallets.money import format_usd

register = template.Library()

# Every state has a symbol and a word, so colour is never the only signal.
STATE_SYMBOLS = {
    Job.State.PENDING: "◷",
    Job.State.SUBMITTING: "↗",
    Job.State.QUEUED: "⋯",
    Job.State.PROCESSING: "◐",
    Job.State.COMPLETED: "✓",
    Job.State.FAILED: "✕",
    Job.State.CANCELLED: "⊘",
    Job.State.NEEDS_REVIEW: "!",
}


@register.filter
def state_symbol(state: str) -> str:
    return STATE_SYMBOLS.get(state, "•")


register.filter("usd", format_usd)


@register.filter
def seconds(value) -> str:
    """62.4 -> '1:02'; 9 -> '0:09'."""
    if value in (None, ""):
        return "–"
    total = round(float(value))
    return f"{total // 60}:{total % 60:02d}"


@register.simple_tag
def progress(job: Job) -> dict:
    """Where a running job stands, from Venice's last retrieve answer.

    ``average_execution_time`` is Venice's P80 estimate for the whole job, so the bar runs to it
    and then says the job is taking longer than usual rather than going past 100%.
    """
    if not (
        job.average_execution_time_ms
        and job.execution_duration_ms is not None
        and job.state == Job.State.PROCESSING
    ):
        return {"known": False}
    now = timezone.now()
    since = (now - job.progress_at).total_seconds() * 1000 if job.progress_at else 0
    elapsed = job.execution_duration_ms + max(0.0, since)
    total = job.average_execution_time_ms
    left_s = max(0.0, (total - elapsed) / 1000)
    return {
        "known": True,
        "percent": min(99, int(elapsed * 100 / total)),
        "left_s": round(left_s),
        "eta": now + datetime.timedelta(seconds=left_s),
        "late": elapsed >= total,
    }
