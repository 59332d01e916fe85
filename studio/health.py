"""/healthz: is this deployment up? For a monitor polling every few seconds, so a handful of
small queries, nothing cached, no sign-in and nothing in the answer an outsider could use."""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.db.models import Min
from django.db.models.functions import Coalesce
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ops import record
from wallets.models import Wallet

OK, DEGRADED = "ok", "degraded"


def database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK}


def cache_roundtrip() -> dict:
    # A fresh value each time: reading back an old one would not prove the cache answers now.
    key, value = "studio:healthz", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    return {"status": OK if cache.get(key) == value else DEGRADED}


def _aged(age: datetime.timedelta | None, limit_s: int) -> dict:
    if age is None:
        return {"status": DEGRADED, "age_s": None}
    seconds = max(0, round(age.total_seconds()))
    return {"status": OK if seconds <= limit_s else DEGRADED, "age_s": seconds}


def worker() -> dict:
    """The sweep task writes the heartbeat every minute: its age says whether the scheduler
    runs and a worker takes tasks."""
    return _aged(record.age(), settings.HEALTH_WORKER_MAX_AGE_S)


def wallet_sync() -> dict:
    """The stalest x402 wallet's ledger sync (a wallet not synced yet counts from its
    creation). No such wallet: nothing to sync, ok."""
    oldest = Wallet.objects.filter(kind=Wallet.Kind.EVM).aggregate(
        at=Min(Coalesce("ledger_synced_at", "created_at"))
    )["at"]
    if oldest is None:
        return {"status": OK, "age_s": None}
    return _aged(timezone.now() - oldest, settings.HEALTH_SYNC_MAX_AGE_S)


CHECKS = {
    "database": database,
    "cache": cache_roundtrip,
    "worker": worker,
    "wallet_sync": wallet_sync,
}


def report() -> dict:
    checks = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # an outage shows as degraded, never as a 500
            # Only the exception's type: its message may name hosts or users.
            checks[name] = {"status": DEGRADED, "error": type(exc).__name__}
    healthy = all(check["status"] == OK for check in checks.values())
    return {"status": OK if healthy else DEGRADED, "checks": checks}


@login_not_required
@require_GET
@never_cache
def healthz(request):
    body = report()
    response = JsonResponse(body, status=200 if body["status"] == OK else 503)
    # A monitor polls every few seconds: an outage would otherwise log an ERROR each time
    # (Django's own flag against logging a response twice).
    response._has_been_logged = True
    return response
