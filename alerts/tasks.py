"""The worker's side of alerts: the every-minute evaluation and one delivery, each a django-q
task enqueued by name (alerts.tasks.evaluate, alerts.tasks.deliver)."""

from __future__ import annotations

from . import notify


def evaluate(kinds: list[str] | None = None) -> str:
    done = notify.evaluate(kinds=kinds)
    return f"{done.rules} rule(s), {done.new} new alert(s), {done.retried} delivery(ies) queued"


def deliver(delivery_id: int) -> str:
    delivery = notify.deliver(delivery_id)
    if delivery is None:
        return "not due, or held by another worker"
    return f"{delivery.channel_name}: {delivery.get_status_display()}"
