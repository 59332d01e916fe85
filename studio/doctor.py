"""`manage.py doctor`: is this deployment fit to take traffic? Each check answers in words.

Every check runs even when an earlier one failed, so one run lists everything to fix. A check
reads and tries things (a file written and removed, a balance read) but never spends money.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from web3 import Web3

from venice import VeniceClient, errors
from venice.siwx import BASE_CHAIN_ID
from wallets.crypto import SecretUnreadable
from wallets.models import Wallet
from wallets.venice import client_for

DEV_SECRET_KEY_PREFIX = "dev-insecure"  # noqa: S105 (studio/settings.py's public default)
PER_PROCESS_CACHES = ("LocMemCache", "DummyCache")


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


def settings_findings() -> Iterator[Finding]:
    key = settings.SECRET_KEY
    if key.startswith(DEV_SECRET_KEY_PREFIX) or len(key) < 40:
        yield Finding("secret key", False, "DJANGO_SECRET_KEY is the development key or short.")
    else:
        yield Finding("secret key", True, "set")
    keys = settings.STUDIO_ENCRYPTION_KEYS
    if settings.DEV_ENCRYPTION_KEY in keys:
        yield Finding("encryption keys", False, "STUDIO_ENCRYPTION_KEYS holds the public dev key.")
    else:
        try:
            for k in keys:
                Fernet(k)
            yield Finding("encryption keys", bool(keys), f"{len(keys)} key(s)")
        except ValueError:
            yield Finding("encryption keys", False, "an entry of STUDIO_ENCRYPTION_KEYS is no key")
    hosts = settings.ALLOWED_HOSTS
    if not hosts or "*" in hosts:
        yield Finding("allowed hosts", False, "ALLOWED_HOSTS must name this site's host(s).")
    else:
        yield Finding("allowed hosts", True, ", ".join(hosts))
    https = [
        ("DEBUG is off", not settings.DEBUG),
        ("HTTPS redirect", settings.SECURE_SSL_REDIRECT),
        ("secure session cookie", settings.SESSION_COOKIE_SECURE),
        ("secure CSRF cookie", settings.CSRF_COOKIE_SECURE),
        ("HSTS", settings.SECURE_HSTS_SECONDS > 0),
    ]
    missing = [name for name, ok in https if not ok]
    if missing:
        yield Finding(
            "https",
            False,
            f"not production settings ({', '.join(missing)} missing): "
            "run with DJANGO_SETTINGS_MODULE=studio.production",
        )
    else:
        yield Finding("https", True, "HTTPS only, secure cookies, HSTS")


def database_findings() -> Iterator[Finding]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    yield Finding("database", True, f"{connection.vendor} answers")
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        yield Finding("migrations", False, f"{len(plan)} not applied ({names}): run migrate")
    else:
        yield Finding("migrations", True, "all applied")


def cache_findings() -> Iterator[Finding]:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    if backend in PER_PROCESS_CACHES:
        yield Finding("cache", False, f"{backend} is not shared between processes: set CACHE_URL")
        return
    key, value = f"studio:doctor:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=60)
    answered = cache.get(key)
    cache.delete(key)
    yield Finding("cache", answered == value, f"{backend} round trip")


def broker_findings() -> Iterator[Finding]:
    from django_q.brokers import get_broker

    broker = get_broker()
    name = type(broker).__name__
    yield Finding("broker", bool(broker.ping()), f"{name} answers")


def storage_findings() -> Iterator[Finding]:
    body = uuid.uuid4().bytes
    name = default_storage.save(f"doctor/{uuid.uuid4().hex}.bin", ContentFile(body))
    try:
        with default_storage.open(name, "rb") as f:
            same = f.read() == body
    finally:
        default_storage.delete(name)
    yield Finding("storage", same, f"{type(default_storage).__name__}: wrote, read, removed")


def venice_findings() -> Iterator[Finding]:
    # No retries: a dead origin is a finding, not a wait.
    with VeniceClient(base_url=settings.VENICE_API_BASE, timeout=10, max_retries=0) as client:
        models = client.models("music")
    yield Finding(
        "venice catalogue", bool(models), f"{settings.VENICE_API_BASE}: {len(models)} music models"
    )


def wallet_findings() -> Iterator[Finding]:
    for wallet in Wallet.objects.order_by("name"):
        check = f"wallet {wallet.name}"
        if not wallet.is_evm:
            yield Finding(check, True, "API key wallet (no SIWX); not checked")
            continue
        try:
            with client_for(wallet, max_retries=0) as client:
                balance = client.balance()
        except SecretUnreadable:
            yield Finding(check, False, "no key in STUDIO_ENCRYPTION_KEYS decrypts its secret")
            continue
        except errors.VeniceError as exc:
            yield Finding(check, False, f"Venice refused its SIWX balance read: {exc}")
            continue
        yield Finding(check, True, f"SIWX accepted; credit ${balance.balance_usd}")


def chain_findings() -> Iterator[Finding]:
    w3 = Web3(Web3.HTTPProvider(settings.CHAIN_RPC_URL, request_kwargs={"timeout": 10}))
    chain_id = w3.eth.chain_id
    ok = chain_id == BASE_CHAIN_ID
    message = f"chain {chain_id}" + ("" if ok else f", expected {BASE_CHAIN_ID} (Base)")
    yield Finding("chain rpc", ok, message)


SECTIONS: dict[str, Callable[[], Iterator[Finding]]] = {
    "settings": settings_findings,
    "database": database_findings,
    "cache": cache_findings,
    "broker": broker_findings,
    "storage": storage_findings,
    "venice catalogue": venice_findings,
    "wallets": wallet_findings,
    "chain": chain_findings,
}


def run() -> list[Finding]:
    findings: list[Finding] = []
    for section, check in SECTIONS.items():
        try:
            findings.extend(check())
        except Exception as exc:  # an outage is a finding, in words, not a traceback
            findings.append(Finding(section, False, f"{type(exc).__name__}: {_short(exc)}"))
    return findings


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else "no detail"
