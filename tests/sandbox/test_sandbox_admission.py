"""Who gets served: no credentials, a wallet under the 0.10 USD floor, or short of the quote."""

from eth_account import Account
from x402.http.utils import decode_payment_required_header

from .sandbox_signing import (
    BASE,
    PAY_TO,
    USDC,
    client,
    funded,
    ledger,
    new_job,
    queue,
    siwx,
)

SONG = {
    "model": "minimax-music-v25",
    "prompt": "an upbeat synth-pop anthem",
    "force_instrumental": True,
}


def test_no_credentials_gets_the_x402_discovery_object(sandbox):
    response = client.post(sandbox.api_url + "/audio/queue", json=SONG)

    assert response.status_code == 402
    body = response.json()
    assert body["x402Version"] == 2
    base = next(rail for rail in body["accepts"] if rail["network"] == BASE)
    assert base["amount"] == "10000000"  # the suggested 10 USD top-up, not a per-call price
    assert base["asset"] == USDC and base["payTo"].lower() == PAY_TO
    assert {"apiKey", "siwx", "x402"} <= set(body["authOptions"])
    assert body["authOptions"]["siwx"]["domain"] == "api.venice.ai"
    assert body["authOptions"]["siwx"]["chainId"] == 8453
    header = decode_payment_required_header(response.headers["PAYMENT-REQUIRED"])
    assert [r.amount for r in header.accepts] == ["10000000"] * len(body["accepts"])


def test_no_credentials_on_every_inference_and_ledger_route(sandbox):
    wallet = Account.create().address
    for method, path in [("POST", "/audio/retrieve"), ("POST", "/audio/complete")]:
        response = client.request(method, sandbox.api_url + path, json={})
        assert response.status_code == 402, path
        assert "authOptions" in response.json()
    for path in (f"/x402/balance/{wallet}", f"/x402/transactions/{wallet}"):
        response = client.get(sandbox.api_url + path)
        assert response.status_code == 402, path
        assert response.json()["accepts"] == []  # nothing to buy there: sign in (§8)


def test_a_wallet_under_the_floor_gets_payment_required(sandbox):
    wallet = funded(sandbox, "0.05")

    response = queue(sandbox, wallet, **SONG)

    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "PAYMENT_REQUIRED"
    assert body["reason"] == "insufficient_balance"
    assert body["currentBalanceUsd"] == 0.05
    assert body["minimumBalanceUsd"] == 0.1
    assert body["suggestedTopUpUsd"] == 10 and body["minimumTopUpUsd"] == 5
    assert body["topUpInstructions"]["payTo"].lower() == PAY_TO
    assert body["siwxChallenge"]["domain"] == "api.venice.ai"
    header = decode_payment_required_header(response.headers["PAYMENT-REQUIRED"])
    base = next(rail for rail in header.accepts if rail.network == BASE)
    assert base.amount == "10000000"


def test_the_floor_applies_to_retrieve_too(sandbox):
    wallet = funded(sandbox, "0.7")
    queue_id = new_job(sandbox, wallet, **SONG)  # leaves 0.01 USD

    response = client.post(
        sandbox.api_url + "/audio/retrieve",
        headers=siwx(wallet),
        json={"model": SONG["model"], "queue_id": queue_id},
    )

    assert response.status_code == 402
    assert response.json()["code"] == "PAYMENT_REQUIRED"


def test_above_the_floor_but_short_of_the_quote(sandbox):
    wallet = funded(sandbox, "0.5")

    response = queue(sandbox, wallet, **SONG)

    assert response.status_code == 402
    body = response.json()
    assert body["error"].startswith("Insufficient USD or Diem balance")
    assert "code" not in body
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]


def test_api_key_accounts_short_of_the_quote(sandbox):
    key = sandbox.create_api_key("0.2")

    response = client.post(
        sandbox.api_url + "/audio/queue", headers={"Authorization": f"Bearer {key}"}, json=SONG
    )

    assert response.status_code == 402
    assert response.json()["error"].startswith("Insufficient USD or Diem balance")


def test_quotes_and_models_need_no_credentials(sandbox):
    assert (
        client.post(
            sandbox.api_url + "/audio/quote", json={"model": "minimax-music-v25"}
        ).status_code
        == 200
    )
    assert client.get(sandbox.api_url + "/models?type=music").status_code == 200
