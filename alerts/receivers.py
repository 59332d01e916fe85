"""Events from the layers below that need not wait for the minute's evaluation. Each receiver
runs in the sender's path (a job's top-up, the reconciliation), so it only enqueues the
evaluation by name, after the sender's transaction commits; a broker that cannot take it is
logged, and the minute's evaluation finds the event anyway."""

from __future__ import annotations

import logging

from django.db import transaction
from django_q.tasks import async_task

from .models import Rule

log = logging.getLogger(__name__)
EVALUATE = "alerts.tasks.evaluate"


def _soon(kind: str) -> None:
    def enqueue() -> None:
        try:
            async_task(EVALUATE, kinds=[kind])
        except Exception:
            log.exception("could not queue the alert evaluation for %s", kind)

    transaction.on_commit(enqueue)


def topup_refused(sender, topup_id: int, **kwargs) -> None:
    _soon(Rule.Kind.TOPUP_REFUSED)


def differences_found(sender, run_id: int, new: int, **kwargs) -> None:
    _soon(Rule.Kind.DIFFERENCE)


def budget_requested(sender, request_id: int, **kwargs) -> bool:
    """Already in a task (wallets.requests.tell_admins): evaluate here. True when a rule told
    the admins through a channel, so that the mail_admins fallback stays quiet."""
    from . import notify

    kind = Rule.Kind.BUDGET_REQUEST
    rules = Rule.objects.filter(kind=kind, enabled=True, channels__enabled=True)
    if not rules.exists():
        return False
    notify.evaluate(kinds=[kind])
    return True
