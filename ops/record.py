"""Writing what /healthz and /metrics read: a heartbeat and counters, each one statement."""

from __future__ import annotations

import datetime
import os
import socket

from django.db.models import F
from django.utils import timezone

from .models import Counter, Heartbeat

WORKER = "worker"


def beat(name: str = WORKER) -> None:
    holder = f"{socket.gethostname()}:{os.getpid()}"
    Heartbeat.objects.update_or_create(
        name=name, defaults={"at": timezone.now(), "holder": holder[:100]}
    )


def age(name: str = WORKER) -> datetime.timedelta | None:
    """How long since the last beat; None when there never was one."""
    at = Heartbeat.objects.filter(name=name).values_list("at", flat=True).first()
    return None if at is None else timezone.now() - at


def bump(name: str, wallet_id: int | None = None, by: int = 1) -> None:
    """Add to a counter with one UPDATE; the first time, an insert that does nothing if another
    process made the row meanwhile, then the UPDATE: concurrent counts are never lost."""
    rows = Counter.objects.filter(name=name, wallet_id=wallet_id or 0)
    if rows.update(value=F("value") + by):
        return
    Counter.objects.bulk_create(
        [Counter(name=name, wallet_id=wallet_id or 0)], ignore_conflicts=True
    )
    rows.update(value=F("value") + by)
