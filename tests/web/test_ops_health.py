"""/healthz: open to a monitor without signing in; database, cache, the worker's heartbeat and
the wallet sync each ok or degraded; 503 when anything is down."""

from __future__ import annotations

import datetime
import json

import pytest
from django.utils import timezone

from jobs import tasks
from ops.models import Heartbeat
from studio import health
from wallets import keys, sync
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


def healthz(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def test_all_ok_once_the_worker_swept(client, venice):
    tasks.sweep()  # what the worker runs every minute: it writes the heartbeat
    status, body = healthz(client)
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {
            "database": {"status": "ok"},
            "cache": {"status": "ok"},
            "worker": {"status": "ok", "age_s": 0},
            "wallet_sync": {"status": "ok", "age_s": None},
        },
    }


def test_no_heartbeat_yet_is_degraded(client):
    status, body = healthz(client)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["checks"]["worker"] == {"status": "degraded", "age_s": None}
    assert body["checks"]["database"] == {"status": "ok"}


def test_a_stale_heartbeat_is_degraded(client, settings):
    settings.HEALTH_WORKER_MAX_AGE_S = 180
    Heartbeat.objects.create(name="worker", at=timezone.now() - datetime.timedelta(seconds=200))
    status, body = healthz(client)
    assert status == 503
    assert body["checks"]["worker"]["status"] == "degraded"
    assert body["checks"]["worker"]["age_s"] >= 200


def test_a_wallet_whose_sync_stopped(client, settings, venice):
    tasks.sweep()
    wallet = keys.create_evm_wallet("team", make_default=True)
    assert healthz(client)[0] == 200  # new, not synced yet: counted from its creation
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.HEALTH_SYNC_MAX_AGE_S + 60)
    Wallet.objects.filter(pk=wallet.pk).update(ledger_synced_at=long_ago, created_at=long_ago)
    status, body = healthz(client)
    assert status == 503
    assert body["checks"]["wallet_sync"]["status"] == "degraded"
    sync.sync_wallet(wallet.pk)  # a real sync against the sandbox
    status, body = healthz(client)
    assert status == 200, body
    assert body["checks"]["wallet_sync"]["age_s"] < 60
    assert wallet.address not in json.dumps(body) and "team" not in json.dumps(body)


def test_a_cache_that_does_not_answer(client, settings):
    tasks.sweep()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    status, body = healthz(client)
    assert status == 503
    assert body["checks"]["cache"] == {"status": "degraded", "error": "ConnectionError"}
    assert body["checks"]["database"] == {"status": "ok"}


def test_a_database_outage_is_degraded_not_a_500(client, monkeypatch):
    from django.db import OperationalError

    def down():
        raise OperationalError("could not connect to server at 10.0.0.5 as studio")

    monkeypatch.setitem(health.CHECKS, "database", down)
    status, body = healthz(client)
    assert status == 503
    assert body["checks"]["database"] == {"status": "degraded", "error": "OperationalError"}
    assert "10.0.0.5" not in json.dumps(body)


def test_a_degraded_answer_is_not_logged_as_an_error_each_poll(client, caplog):
    assert healthz(client)[0] == 503
    assert not [r for r in caplog.records if r.name == "django.request"]
