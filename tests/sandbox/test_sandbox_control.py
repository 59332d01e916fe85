"""The /sandbox/... control API, the server's own guards, and `manage.py sandbox`."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from eth_account import Account

from sandbox.server import SandboxServer

from .sandbox_signing import client, ledger, siwx, usdc_balance


def control(sandbox, method, path, **kwargs):
    return client.request(method, sandbox.base_url + "/sandbox" + path, **kwargs)


def test_health_names_the_urls(sandbox):
    body = control(sandbox, "GET", "/health").json()

    assert body == {"ok": True, "apiUrl": sandbox.api_url, "rpcUrl": sandbox.rpc_url}


def test_faucet_mints_usdc(sandbox):
    wallet = Account.create()

    response = control(sandbox, "POST", "/faucet", json={"address": wallet.address, "usdc": "7.5"})

    assert response.status_code == 200
    assert response.json()["transaction"].startswith("0x")
    assert response.json()["balanceUsdc"] == "7.500000"
    assert usdc_balance(sandbox, wallet.address) == 7_500_000
    for bad in (
        {"address": "0x12", "usdc": "1"},
        {"address": wallet.address, "usdc": "-1"},
        {"address": wallet.address},
    ):
        assert control(sandbox, "POST", "/faucet", json=bad).status_code == 400


def test_api_keys_come_with_credit(sandbox):
    key = control(sandbox, "POST", "/apikeys", json={"usd": "50"}).json()["apiKey"]

    queued = client.post(
        sandbox.api_url + "/audio/queue",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "elevenlabs-music", "prompt": "fifty dollars of funk"},
    )

    assert queued.status_code == 200


def test_config_changes_and_resets(sandbox):
    changed = control(sandbox, "POST", "/config", json={"balance_per_minute": 1}).json()
    assert changed["config"]["balance_per_minute"] == 1
    wallet = Account.create()
    url = f"{sandbox.api_url}/x402/balance/{wallet.address}"
    assert client.get(url, headers=siwx(wallet)).status_code == 200
    assert client.get(url, headers=siwx(wallet)).status_code == 429

    reset = control(sandbox, "POST", "/reset-config").json()

    assert reset["config"]["balance_per_minute"] == 30
    assert reset["config"]["time_scale"] == 0.005
    assert client.get(url, headers=siwx(wallet)).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [{"warp_speed": 9}, {"queue_per_minute": "lots"}, {"time_scale": 0}, {"queue_per_minute": 1.5}],
)
def test_bad_config_is_400(sandbox, overrides):
    assert control(sandbox, "POST", "/config", json=overrides).status_code == 400
    with pytest.raises(ValueError):
        sandbox.configure(**overrides)


def test_ledger_rows_can_be_forced_into_a_wallet(sandbox):
    wallet = Account.create()

    for row in (
        {"type": "TOP_UP", "amount": "10"},
        {"type": "CHARGE", "amount": "2.5", "requestId": "q-1", "modelId": "m"},
        {"type": "REFUND", "amount": "1", "requestId": "q-1", "modelId": "m"},
    ):
        response = control(sandbox, "POST", "/ledger", json={"wallet": wallet.address, **row})
        assert response.status_code == 200

    data = ledger(sandbox, wallet)
    assert data["currentBalance"] == 8.5
    assert [(r["type"], r["amount"], r["requestId"]) for r in data["transactions"]] == [
        ("REFUND", 1, "q-1"),
        ("CHARGE", -2.5, "q-1"),
        ("TOP_UP", 10, None),
    ]
    bad = control(
        sandbox, "POST", "/ledger", json={"wallet": wallet.address, "type": "GIFT", "amount": "1"}
    )
    assert bad.status_code == 400


def test_stats_over_http(sandbox):
    wallet = Account.create()
    client.get(f"{sandbox.api_url}/x402/balance/{wallet.address}", headers=siwx(wallet))

    mine = control(sandbox, "GET", "/stats", params={"wallet": wallet.address}).json()
    everyone = control(sandbox, "GET", "/stats").json()

    assert mine["calls"] == {"balance": 1}
    assert everyone["wallet"] is None and everyone["calls"]["balance"] >= 1


def test_unknown_paths_and_methods(sandbox):
    assert client.get(sandbox.api_url + "/chat/completions").status_code == 404
    assert client.get(sandbox.api_url + "/audio/queue").status_code == 405
    assert control(sandbox, "GET", "/faucet").status_code == 405
    assert control(sandbox, "GET", "/nothing").status_code == 404


def test_the_server_refuses_to_leave_loopback():
    with pytest.raises(ValueError):
        SandboxServer(host="0.0.0.0")  # noqa: S104 (the point of the test)


def test_the_command_refuses_a_public_host():
    with pytest.raises(CommandError, match="loopback"):
        call_command("sandbox", host="192.168.1.10")


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_the_command_serves_until_stopped(stop_signal):
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", "--port", "0", "--time-scale", "0.05"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = process.stdout.readline()
        api_url = banner.split()[2]
        assert api_url.startswith("http://127.0.0.1:") and api_url.endswith("/api/v1")
        assert client.get(api_url + "/models?type=music").status_code == 200
    finally:
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
        process.stdout.close()


def test_the_run_time_spread_keeps_eighty_percent_within_the_estimate():
    from sandbox.catalogue import execution_s

    for fastest in (0.5, 0.85, 1.0):
        runs = [execution_s(100.0, f"queue-{n}", fastest) for n in range(2000)]
        assert min(runs) >= 100 * fastest - 1e-9
        within = sum(run <= 100.0 for run in runs) / len(runs)
        assert within == pytest.approx(0.8, abs=0.03) or fastest == 1.0


def test_fastest_run_and_audio_scale_must_be_fractions(sandbox):
    with pytest.raises(ValueError, match="fastest_run"):
        sandbox.configure(fastest_run=1.5)
    with pytest.raises(ValueError, match="audio_scale"):
        sandbox.configure(audio_scale=0)
