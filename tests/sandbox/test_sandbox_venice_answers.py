"""Reference §8: the bodies Venice really answers, per route, quoted literally.

Every expected body below is written out from ``reference/venice-api.md`` section 8, never
built from sandbox or client code, so that sandbox and client cannot drift into agreeing
with each other.
"""

import time

from eth_account import Account
from x402.http.utils import decode_payment_required_header

from .sandbox_signing import (
    client,
    credit,
    funded,
    handmade_payment,
    holding,
    ledger,
    pay,
    payment_header,
    queue,
    siwx,
    usdc_balance,
)

RATE_LIMITED = {"error": "Rate limit exceeded. Please try again later."}


def balance(sandbox, wallet, headers=None):
    return client.get(
        f"{sandbox.api_url}/x402/balance/{wallet.address}",
        headers=siwx(wallet) if headers is None else headers,
    )


def transactions(sandbox, wallet, headers=None, **params):
    return client.get(
        f"{sandbox.api_url}/x402/transactions/{wallet.address}",
        headers=siwx(wallet) if headers is None else headers,
        params=params,
    )


def test_a_refused_top_up_puts_its_code_in_error(sandbox):
    wallet = holding(sandbox, "10")

    forged = pay(sandbox, handmade_payment(wallet, signer=Account.create()))

    assert forged.status_code == 400
    assert forged.json() == {
        "error": "PAYMENT_VERIFICATION_FAILED",
        "message": forged.json()["message"],
    }


def test_a_refused_payment_stays_refused_when_its_bytes_are_sent_again(sandbox):
    wallet = holding(sandbox, "10")
    # Not valid for another 2 s: refused now, and still refused once it would be valid.
    not_yet = handmade_payment(wallet, valid_after=int(time.time()) + 2)

    first = pay(sandbox, not_yet)
    time.sleep(2.2)
    again = pay(sandbox, not_yet)

    assert first.status_code == again.status_code == 400
    assert first.json()["error"] == "INVALID_PAYMENT"
    assert again.json() == first.json()
    assert usdc_balance(sandbox, wallet.address) == 10_000_000
    assert ledger(sandbox, wallet)["transactions"] == []


def test_an_injected_400_is_final_for_those_bytes(sandbox):
    wallet = holding(sandbox, "10")
    header = payment_header(wallet, sandbox, "10")
    sandbox.set_fault("top-up", status=400, code="PAYMENT_VERIFICATION_FAILED", count=1)

    answers = [pay(sandbox, header) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert all(answer.json()["error"] == "PAYMENT_VERIFICATION_FAILED" for answer in answers)
    assert "code" not in answers[0].json()
    assert ledger(sandbox, wallet)["currentBalance"] == 0
    assert usdc_balance(sandbox, wallet.address) == 10_000_000
    fresh = payment_header(wallet, sandbox, "10")  # a new signature is another payment
    assert pay(sandbox, fresh).status_code == 200


def test_settlement_failed_is_402_and_safe_to_sign_anew(sandbox):
    wallet = holding(sandbox, "4")

    failed = pay(sandbox, payment_header(wallet, sandbox))

    assert failed.status_code == 402
    assert failed.json() == {"error": "SETTLEMENT_FAILED", "message": failed.json()["message"]}
    sandbox.faucet(wallet.address, "1")
    assert pay(sandbox, payment_header(wallet, sandbox)).status_code == 200


def top_up_failing_once(sandbox, status: int):
    """A payment for 5 USDC the sandbox answers ``status`` once: (wallet, header, answer)."""
    wallet = holding(sandbox, "5")
    header = payment_header(wallet, sandbox)
    sandbox.set_fault("top-up", status=status, count=1)
    return wallet, header, pay(sandbox, header)


def test_an_injected_402_on_top_up_is_settlement_failed(sandbox):
    _, header, failed = top_up_failing_once(sandbox, 402)

    assert failed.status_code == 402
    assert failed.json() == {"error": "SETTLEMENT_FAILED", "message": failed.json()["message"]}
    assert pay(sandbox, header).status_code == 200  # no funds moved; the same bytes may land


def test_a_credited_payment_may_keep_answering_409(sandbox):
    wallet = holding(sandbox, "10")
    header = payment_header(wallet, sandbox, "10")
    assert pay(sandbox, header).status_code == 200
    sandbox.set_fault("top-up", mode="credited_conflict")

    conflict = pay(sandbox, header)

    assert conflict.status_code == 409
    body = conflict.json()
    assert body == {
        "error": "PAYMENT_IN_PROGRESS",
        "message": body["message"],
        "details": body["details"],
    }
    assert isinstance(body["message"], str) and body["details"]
    # The balance and the ledger, not the 409, say that it landed, once.
    assert balance(sandbox, wallet).json()["data"]["balanceUsd"] == 10
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]


def test_x402_not_configured_is_503(sandbox):
    wallet, _, down = top_up_failing_once(sandbox, 503)

    assert down.status_code == 503
    assert down.json() == {"error": "X402_NOT_CONFIGURED", "message": down.json()["message"]}
    assert usdc_balance(sandbox, wallet.address) == 5_000_000


def test_an_injected_504_is_settlement_timeout(sandbox):
    wallet = holding(sandbox, "5")
    header = payment_header(wallet, sandbox)
    sandbox.set_fault("top-up", status=504, count=1)

    timed_out = pay(sandbox, header)

    assert timed_out.status_code == 504
    assert timed_out.json() == {
        "error": "SETTLEMENT_TIMEOUT",
        "message": timed_out.json()["message"],
    }
    assert usdc_balance(sandbox, wallet.address) == 5_000_000  # this one never reached the chain


def test_inference_errors_keep_the_message_in_error_and_the_code_in_code(sandbox):
    wallet, funded = Account.create(), Account.create()
    credit(sandbox, wallet, "0.05")
    credit(sandbox, funded, "5")

    under_floor = queue(sandbox, wallet, model="elevenlabs-music", prompt="a calm piano piece")
    misplaced = client.post(
        sandbox.api_url + "/audio/queue",
        headers={"X-PAYMENT": "x", **siwx(wallet)},
        json={"model": "elevenlabs-music", "prompt": "a calm piano piece"},
    )
    unknown = client.post(
        sandbox.api_url + "/audio/retrieve",
        headers=siwx(funded),
        json={"model": "elevenlabs-music", "queue_id": "no-such-job"},
    )

    assert under_floor.status_code == 402
    assert under_floor.json()["error"] == "Payment required"
    assert under_floor.json()["code"] == "PAYMENT_REQUIRED"
    assert misplaced.status_code == 400
    assert misplaced.json() == {
        "error": misplaced.json()["error"],
        "code": "PAYMENT_HEADER_NOT_ACCEPTED",
    }
    assert misplaced.json()["error"] != "PAYMENT_HEADER_NOT_ACCEPTED"
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "Request ID is invalid."
    assert "code" not in unknown.json()
    assert isinstance(unknown.json().get("details", ""), dict | str)  # a tree or a string


def test_balance_and_transactions_errors_carry_no_code(sandbox):
    wallet, other = Account.create(), Account.create()

    foreign = balance(sandbox, wallet, siwx(other))
    bad_signature = transactions(sandbox, wallet, {"SIGN-IN-WITH-X": "%%%"})
    no_header = balance(sandbox, wallet, {})

    assert foreign.status_code == 403
    assert foreign.json() == {"error": foreign.json()["error"]}
    assert bad_signature.status_code == 401
    assert bad_signature.json() == {"error": "Invalid Sign-in-with-x signature"}
    assert no_header.status_code == 402
    assert no_header.json()["accepts"] == []


def test_content_policy_is_422_with_a_suggested_prompt(sandbox):
    from .sandbox_signing import wait_for_result

    wallet = funded(sandbox)
    queued = queue(sandbox, wallet, model="elevenlabs-music", prompt="a song about contraband")
    queue_id = queued.json()["queue_id"]

    refused = wait_for_result(sandbox, wallet, "elevenlabs-music", queue_id)

    assert refused.status_code == 422
    assert refused.json() == {
        "error": refused.json()["error"],
        "suggested_prompt": "a song about",
    }


def test_content_policy_at_queue_is_422_and_may_suggest_nothing(sandbox):
    wallet = funded(sandbox)

    refused = queue(sandbox, wallet, model="elevenlabs-music", prompt="an embargoed anthem")

    assert refused.status_code == 422
    assert refused.json() == {"error": refused.json()["error"]}
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]


def test_solana_is_caip2_on_top_up_discovery_and_bare_elsewhere(sandbox):
    wallet = funded(sandbox, "0.05")

    discovery = client.post(sandbox.api_url + "/x402/top-up").json()
    no_credentials = client.post(
        sandbox.api_url + "/audio/queue", json={"model": "elevenlabs-music"}
    ).json()
    under_floor = queue(sandbox, wallet, model="elevenlabs-music", prompt="a calm piano piece")

    def networks(accepts):
        return {rail["network"] for rail in accepts}

    assert networks(discovery["accepts"]) == {
        "eip155:8453",
        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    }
    assert networks(no_credentials["accepts"]) == {"eip155:8453", "solana"}
    required = decode_payment_required_header(under_floor.headers["PAYMENT-REQUIRED"])
    assert {rail.network for rail in required.accepts} == {"eip155:8453", "solana"}


def test_x402_rate_limits_say_nothing_but_429(sandbox):
    wallet = Account.create()

    tops = [client.post(sandbox.api_url + "/x402/top-up") for _ in range(11)]
    balances = [balance(sandbox, wallet) for _ in range(31)]
    ledgers = [transactions(sandbox, wallet) for _ in range(21)]

    for answers, limit in ((tops, 10), (balances, 30), (ledgers, 20)):
        assert all(answer.status_code != 429 for answer in answers[:limit])
        assert answers[limit].status_code == 429
        assert answers[limit].json() == RATE_LIMITED
        assert "Retry-After" not in answers[limit].headers


def test_more_than_50_failures_in_30_s_lock_the_bucket_out(sandbox):
    funded(sandbox)
    model = "elevenlabs-sound-effects-v2"
    bad = {"model": model, "prompt": "door slam", "duration_seconds": 999}

    failures = [client.post(sandbox.api_url + "/audio/quote", json=bad) for _ in range(51)]
    locked = client.post(sandbox.api_url + "/audio/quote", json={"model": model})
    other_model = client.post(sandbox.api_url + "/audio/quote", json={"model": "elevenlabs-music"})

    assert {answer.status_code for answer in failures} == {400}
    assert locked.status_code == 429
    assert locked.json() == RATE_LIMITED
    assert other_model.status_code == 200  # the budget is per model

    sandbox.reset_config()  # fresh windows, as after the 30 s
    assert client.post(sandbox.api_url + "/audio/quote", json={"model": model}).status_code == 200


def test_the_error_budget_window_ends(sandbox):
    sandbox.configure(error_budget=3, error_budget_window_s=1)
    wallet = Account.create()
    stranger = Account.create()

    for _ in range(4):
        assert balance(sandbox, wallet, siwx(stranger)).status_code == 403
    locked = balance(sandbox, wallet)
    time.sleep(1.1)
    unlocked = balance(sandbox, wallet)

    assert locked.status_code == 429 and locked.json() == RATE_LIMITED
    assert unlocked.status_code == 200


def test_a_429_does_not_spend_the_error_budget(sandbox):
    sandbox.configure(error_budget=2, balance_per_minute=1)
    wallet = Account.create()

    answers = [balance(sandbox, wallet) for _ in range(5)]
    sandbox.configure(balance_per_minute=30)

    assert [answer.status_code for answer in answers] == [200, 429, 429, 429, 429]
    assert balance(sandbox, wallet).status_code == 200  # four 429s are not failures
