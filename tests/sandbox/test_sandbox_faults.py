"""Injected faults per route: error statuses at a rate or for N calls, and slowness."""

import time

import pytest

from .sandbox_signing import client, funded, ledger, queue


def quote(sandbox):
    return client.post(sandbox.api_url + "/audio/quote", json={"model": "minimax-music-v25"})


def test_a_status_for_the_next_n_calls(sandbox):
    sandbox.set_fault("quote", status=503, count=2)

    answers = [quote(sandbox) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["x-sandbox-fault"] == "injected"
    assert answers[0].headers["Retry-After"] == "1"


def test_a_rate_of_zero_never_fires_and_one_always_does(sandbox):
    sandbox.set_fault("quote", status=500, rate=0.0)
    assert all(quote(sandbox).status_code == 200 for _ in range(5))

    sandbox.set_fault("quote", status=500, rate=1.0)
    assert all(quote(sandbox).status_code == 500 for _ in range(5))


def test_a_partial_rate_fires_sometimes(sandbox):
    sandbox.set_fault("models", status=429, rate=0.5)

    statuses = {client.get(sandbox.api_url + "/models").status_code for _ in range(60)}

    assert statuses == {200, 429}


def test_the_star_route_hits_everything_until_cleared(sandbox):
    sandbox.set_fault("*", status=500)

    assert quote(sandbox).status_code == 500
    assert client.get(sandbox.api_url + "/models").status_code == 500
    assert client.post(sandbox.api_url + "/x402/top-up").status_code == 500

    sandbox.clear_faults()
    assert quote(sandbox).status_code == 200


def test_a_faulted_queue_call_charges_nothing(sandbox):
    wallet = funded(sandbox)
    sandbox.set_fault("queue", status=429, count=1)

    refused = queue(sandbox, wallet, model="elevenlabs-tts-v4", prompt="Not yet.")

    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]
    assert queue(sandbox, wallet, model="elevenlabs-tts-v4", prompt="Now.").status_code == 200


def test_slow_responses_are_scaled_by_the_time_scale(sandbox):
    sandbox.set_fault("models", delay_ms=40_000)  # 0.2 s at the session's time scale

    started = time.monotonic()
    response = client.get(sandbox.api_url + "/models?type=music")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    "fault",
    [
        {"route": "nowhere", "status": 500},
        {"route": "quote", "status": 200},
        {"route": "quote", "status": 500, "rate": 2},
        {"route": "quote", "status": 500, "count": 0},
        {"route": "quote"},
        {"route": "queue", "settlement_timeout": True},
        {"route": "top-up", "settlement_timeout": True, "status": 500},
        {"route": "queue", "mode": "delete_failed"},
        {"route": "complete", "mode": "explode"},
        {"route": "top-up", "mode": "credited_conflict", "status": 409},
        {"route": "quote", "code": "SOMETHING"},
        {"route": "quote", "status": 400, "code": 7},
    ],
)
def test_nonsense_faults_are_refused(sandbox, fault):
    with pytest.raises(ValueError):
        sandbox.set_fault(**fault)
    assert client.post(sandbox.base_url + "/sandbox/faults", json=fault).status_code == 400


def test_faults_over_http(sandbox):
    assert (
        client.post(
            sandbox.base_url + "/sandbox/faults", json={"route": "quote", "status": 503, "count": 1}
        ).status_code
        == 200
    )
    assert quote(sandbox).status_code == 503

    client.post(sandbox.base_url + "/sandbox/faults", json={"route": "quote", "status": 500})
    assert client.delete(sandbox.base_url + "/sandbox/faults").status_code == 200
    assert quote(sandbox).status_code == 200
