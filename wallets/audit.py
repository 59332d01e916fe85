"""The audit log of admins' actions on money and wallets: who did what, when, from what to what.

Callers pass field names, never values they picked themselves: ``snapshot`` reads only the fields
listed in AUDITED_FIELDS, so a secret (a wallet's encrypted key, a payment header) cannot reach
the log by accident.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import models

from .models import AuditEntry, Budget, BudgetRequest, TopUp, Wallet

Action = AuditEntry.Action

# By model label: the spend review's Difference and the share links sit in apps above this one.
AUDITED_FIELDS: dict[str, tuple[str, ...]] = {
    Wallet._meta.label: (
        "name",
        "kind",
        "address",
        "is_default",
        "topup_amount_usd",
        "topup_below_usd",
        "max_topup_per_day_usd",
        "approve_topups_above_usd",
    ),
    Budget._meta.label: ("user", "month", "limit_usd"),
    BudgetRequest._meta.label: ("user", "month", "amount_usd", "status", "note"),
    TopUp._meta.label: ("wallet", "amount_usd", "status", "tx_hash", "reason", "last_error_code"),
    "review.Difference": ("kind", "detail", "resolved_at", "note"),
    "sharing.ShareLink": (
        "job",
        "collection",
        "title",
        "show_prompt",
        "expires_at",
        "revoked_at",
    ),
}


def _plain(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    return str(value)


def snapshot(obj: models.Model, fields: tuple[str, ...] | None = None) -> dict:
    allowed = AUDITED_FIELDS[obj._meta.label]
    names = allowed if fields is None else [name for name in fields if name in allowed]
    return {name: _plain(getattr(obj, name)) for name in names}


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields that changed, before and after."""
    changed = [name for name in after if before.get(name) != after[name]]
    return {name: before.get(name) for name in changed}, {name: after[name] for name in changed}


def record(
    actor,
    action: str,
    obj: models.Model | None = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        before=before or {},
        after=after or {},
        note=note[:2000],
    )
