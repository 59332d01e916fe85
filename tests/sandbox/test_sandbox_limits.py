"""Per-minute rate limits, the 5-in-flight wallet cap, and the stats that count both."""

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from eth_account import Account

from .sandbox_signing import client, credit, funded, new_job, queue, retrieve, siwx, wait_for_result


def balance(sandbox, account):
    return client.get(f"{sandbox.api_url}/x402/balance/{account.address}", headers=siwx(account))


def limited(response, limit):
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["x-ratelimit-limit-requests"] == str(limit)
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    # The reset is a moment in Unix milliseconds, within the next minute (§8).
    reset_ms = int(response.headers["x-ratelimit-reset-requests"])
    assert time.time() * 1000 < reset_ms <= (time.time() + 61) * 1000
    return True


def x402_limited(response):
    """The x402 routes' own limits: a fixed body, no code, no Retry-After (§8)."""
    assert response.status_code == 429, response.text
    assert response.json() == {"error": "Rate limit exceeded. Please try again later."}
    assert "Retry-After" not in response.headers
    assert not any(name.startswith("x-ratelimit") for name in response.headers)
    return True


def test_queue_is_limited_per_wallet(sandbox):
    sandbox.configure(queue_per_minute=2)
    wallet, other = Account.create(), Account.create()
    credit(sandbox, wallet, "5")
    credit(sandbox, other, "5")
    body = {"model": "elevenlabs-tts-v4", "prompt": "Counting."}

    answers = [queue(sandbox, wallet, **body) for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "1"
    assert limited(answers[2], 2)
    assert queue(sandbox, other, **body).status_code == 200


def test_retrieve_balance_and_transactions_have_their_own_limits(sandbox):
    sandbox.configure(retrieve_per_minute=2, balance_per_minute=1, transactions_per_minute=1)
    wallet = funded(sandbox)
    queue_id = queue(sandbox, wallet, model="elevenlabs-tts-v4", prompt="Polled.").json()[
        "queue_id"
    ]

    polls = [retrieve(sandbox, wallet, "elevenlabs-tts-v4", queue_id) for _ in range(3)]
    assert limited(polls[2], 2)
    assert balance(sandbox, wallet).status_code == 200
    assert x402_limited(balance(sandbox, wallet))
    ledger_url = f"{sandbox.api_url}/x402/transactions/{wallet.address}"
    assert client.get(ledger_url, headers=siwx(wallet)).status_code == 200
    assert x402_limited(client.get(ledger_url, headers=siwx(wallet)))


def test_top_up_is_limited_per_ip(sandbox):
    sandbox.configure(top_up_per_minute=2)

    answers = [client.post(sandbox.api_url + "/x402/top-up") for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [402, 402]
    assert x402_limited(answers[2])


def test_reset_config_starts_a_fresh_window(sandbox):
    sandbox.configure(top_up_per_minute=1)
    client.post(sandbox.api_url + "/x402/top-up")

    sandbox.reset_config()
    sandbox.configure(top_up_per_minute=1)

    assert client.post(sandbox.api_url + "/x402/top-up").status_code == 402


def test_the_sixth_request_in_flight_is_refused(sandbox):
    sandbox.configure(time_scale=1.0)
    sandbox.set_fault("balance", delay_ms=800)  # holds each call in flight
    wallet, bystander = Account.create(), Account.create()
    headers = [siwx(wallet) for _ in range(6)]

    with ThreadPoolExecutor(max_workers=7) as pool:
        calls = [
            pool.submit(
                client.get,
                f"{sandbox.api_url}/x402/balance/{wallet.address}",
                headers=h,
                timeout=10,
            )
            for h in headers
        ]
        other = pool.submit(balance, sandbox, bystander)
        answers = [call.result() for call in calls]

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 200, 200, 200, 429]
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json() == {"error": refused.json()["error"]}  # no code on balance (§8)
    assert other.result().status_code == 200  # the cap is per wallet
    stats = sandbox.stats(wallet.address)
    assert stats["peak_in_flight"] == 6 and stats["in_flight"] == 0
    assert stats["statuses"]["balance"] == {"200": 5, "429": 1}


def test_a_streaming_body_is_in_flight_until_sent(sandbox):
    wallet = funded(sandbox)
    model = "ace-step-15"  # 240 s of stereo audio: about 42 MB, far beyond socket buffers
    queue_id = new_job(
        sandbox,
        wallet,
        model=model,
        prompt="slow acoustic ballad",
        lyrics_prompt="hold on, hold on",
        duration_seconds=240,
    )
    first = wait_for_result(sandbox, wallet, model, queue_id)
    assert first.status_code == 200

    with httpx.Client(timeout=10) as client, contextlib.ExitStack() as open_streams:
        for _ in range(5):
            response = open_streams.enter_context(
                client.stream(
                    "POST",
                    sandbox.api_url + "/audio/retrieve",
                    headers=siwx(wallet),
                    json={"model": model, "queue_id": queue_id},
                )
            )
            assert response.status_code == 200  # headers in, body still pending
        refused = balance(sandbox, wallet)

    assert refused.status_code == 429
    assert "code" not in refused.json()  # the balance route names no code (§8)
    deadline = time.monotonic() + 10
    while sandbox.stats(wallet.address)["in_flight"]:
        assert time.monotonic() < deadline, "abandoned streams were never released"
        time.sleep(0.02)
    assert balance(sandbox, wallet).status_code == 200


def test_stats_count_calls_and_the_busiest_minute(sandbox):
    wallet = funded(sandbox)
    before = sandbox.stats()

    for _ in range(3):
        balance(sandbox, wallet)
    queue(sandbox, wallet, model="elevenlabs-tts-v4", prompt="Stats.")

    mine = sandbox.stats(wallet.address)
    assert mine["wallet"] == wallet.address
    assert mine["calls"] == {"balance": 3, "queue": 1}
    assert mine["peak_per_minute"] == {"balance": 3, "queue": 1}
    assert mine["statuses"] == {"balance": {"200": 3}, "queue": {"200": 1}}
    assert mine["peak_in_flight"] == 1
    everyone = sandbox.stats()
    assert everyone["calls"]["balance"] >= before["calls"].get("balance", 0) + 3
    assert sandbox.stats(Account.create().address)["calls"] == {}
