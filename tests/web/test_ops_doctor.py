"""`manage.py doctor` against the sandbox: passes on a sound deployment, and names each part
that is broken (settings, database, migrations, cache, broker, storage, Venice, a wallet's
SIWX, the chain RPC) with a non-zero exit."""

from __future__ import annotations

import io
import secrets

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.db.migrations.recorder import MigrationRecorder

from studio import doctor
from wallets import keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(settings, venice, tmp_path):
    """Production-like settings, a shared (file) cache, and an x402 wallet on the sandbox."""
    settings.DEBUG = False
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.ALLOWED_HOSTS = ["studio.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    wallet = keys.create_evm_wallet("team", make_default=True)
    venice.faucet(wallet.address, "100")
    return wallet


def doctor_says() -> tuple[bool, str]:
    out = io.StringIO()
    try:
        call_command("doctor", stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def failed(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def test_a_sound_deployment_passes(deployment):
    passed, output = doctor_says()
    assert passed, output
    assert failed(output) == []
    assert "ok   wallet team: SIWX accepted" in output
    assert "ok   chain rpc: chain 8453" in output
    assert "music models" in output and "All checks passed." in output


@pytest.mark.parametrize(
    "part, expected",
    [
        ("debug", "FAIL https: not production settings (DEBUG is off missing)"),
        ("secret", "FAIL secret key: DJANGO_SECRET_KEY is the development key"),
        ("encryption", "FAIL encryption keys: STUDIO_ENCRYPTION_KEYS holds the public dev key"),
        ("hosts", "FAIL allowed hosts: ALLOWED_HOSTS must name this site's host(s)"),
        ("cache", "FAIL cache: LocMemCache is not shared between processes"),
        ("storage", "FAIL storage:"),
        ("venice", "FAIL venice catalogue: UpstreamUnavailable: GET /models failed"),
        ("siwx", "FAIL wallet team: Venice refused its SIWX balance read"),
        ("chain", "FAIL chain:"),
        ("migrations", "FAIL migrations: 1 not applied (ops.0002_workerlease)"),
    ],
)
def test_each_broken_part_is_named(deployment, settings, venice, tmp_path, part, expected):
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
    if part == "debug":
        settings.DEBUG = True
    elif part == "secret":
        settings.SECRET_KEY = "dev-insecure-2d1c4f6e0b8a"
    elif part == "encryption":
        settings.STUDIO_ENCRYPTION_KEYS = [
            *settings.STUDIO_ENCRYPTION_KEYS,
            settings.DEV_ENCRYPTION_KEY,
        ]
    elif part == "hosts":
        settings.ALLOWED_HOSTS = ["*"]
    elif part == "cache":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    elif part == "storage":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        settings.MEDIA_ROOT = str(blocker / "media")
    elif part == "venice":
        settings.VENICE_API_BASE = f"{dead}/api/v1"
    elif part == "siwx":
        venice.set_fault("balance", status=401)
    elif part == "chain":
        settings.CHAIN_RPC_URL = f"{dead}/rpc"
    elif part == "migrations":
        MigrationRecorder.Migration.objects.filter(app="ops", name="0002_workerlease").delete()
    passed, output = doctor_says()
    assert not passed
    assert any(line.startswith(expected) for line in failed(output)), output
    # Only the broken part fails (a dead Venice also fails the wallet's read); all checks ran.
    assert len(failed(output)) == (2 if part == "venice" else 1), output


def test_a_wallet_no_key_can_decrypt(deployment, settings):
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    passed, output = doctor_says()
    assert not passed
    assert failed(output) == [
        "FAIL wallet team: no key in STUDIO_ENCRYPTION_KEYS decrypts its secret"
    ], output


def test_a_database_outage_is_reported_in_words(deployment, monkeypatch):
    class Down:
        vendor = "postgresql"

        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(doctor, "connection", Down())
    findings = {f.check: f for f in doctor.run()}
    assert not findings["database"].ok
    assert findings["database"].message == "OperationalError: connection refused"


def test_a_broker_that_does_not_answer(deployment, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:9/0")
    monkeypatch.setattr(Conf, "BROKER_CLASS", None)
    findings = {f.check: f for f in doctor.run()}
    assert not findings["broker"].ok, findings["broker"]
    assert findings["broker"].message.startswith("ConnectionError"), findings["broker"]
