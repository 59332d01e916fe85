"""POST /x402/top-up: requirements, verification codes, at-most-once crediting, the chain."""

import base64
import json
import time

import pytest
from eth_account import Account
from x402.http.utils import decode_payment_response_header, encode_payment_signature_header

from .sandbox_signing import (
    BASE,
    PAY_TO,
    USDC,
    base_rail,
    client,
    handmade_payment,
    holding,
    ledger,
    pay,
    payment_header,
    sdk_payment_header,
    signed_payment,
    siwx,
    top_up,
    top_up_challenge,
    usdc_balance,
)


def refused(response, status, code):
    """Top-up puts the machine code in ``error`` and the words in ``message`` (§8)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and "code" not in body
    assert isinstance(body["message"], str) and body["message"]
    return True


def refused_elsewhere(response, code):
    """Every other route keeps the human message in ``error`` and the code in ``code``."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code and body["error"] != code
    return True


def test_without_payment_it_states_the_requirements(sandbox):
    response = client.post(sandbox.api_url + "/x402/top-up")

    assert response.status_code == 402
    body = response.json()
    assert body["x402Version"] == 2
    assert len({rail["network"] for rail in body["accepts"]}) >= 2  # clients must choose
    assert body["accepts"][0]["network"] != BASE
    base = next(rail for rail in body["accepts"] if rail["network"] == BASE)
    assert base == {
        "scheme": "exact",
        "network": BASE,
        "amount": "5000000",
        "asset": USDC,
        "payTo": base["payTo"],
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USD Coin", "version": "2"},
    }
    assert base["payTo"].lower() == PAY_TO
    header = json.loads(base64.b64decode(response.headers["PAYMENT-REQUIRED"]))
    assert header["accepts"] == body["accepts"]


def test_the_sdk_client_pays_and_is_credited(sandbox):
    wallet = holding(sandbox, "5")
    receiver_before = usdc_balance(sandbox, PAY_TO)

    response = pay(sandbox, sdk_payment_header(wallet, top_up_challenge(sandbox)))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["walletAddress"] == wallet.address
    assert data["amountCredited"] == 5 and data["newBalance"] == 5 and data["paymentId"]
    settled = decode_payment_response_header(response.headers["PAYMENT-RESPONSE"])
    assert settled.success and settled.network == BASE and settled.payer == wallet.address
    assert settled.transaction.startswith("0x") and len(settled.transaction) == 66
    assert usdc_balance(sandbox, wallet.address) == 0
    assert usdc_balance(sandbox, PAY_TO) == receiver_before + 5_000_000
    rows = ledger(sandbox, wallet)["transactions"]
    assert [(row["type"], row["amount"], row["balanceAfter"]) for row in rows] == [("TOP_UP", 5, 5)]


def test_a_chosen_amount_is_a_signed_copy_of_the_requirement(sandbox):
    wallet = Account.create()

    response = top_up(sandbox, wallet, "37.5")

    assert response.status_code == 200
    assert response.json()["data"]["amountCredited"] == 37.5


def test_a_resent_payment_is_credited_once(sandbox):
    wallet = holding(sandbox, "50")
    header = payment_header(wallet, sandbox, "20")

    answers = [pay(sandbox, header) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[1].json() == answers[0].json() == answers[2].json()
    assert len({answer.headers["PAYMENT-RESPONSE"] for answer in answers}) == 1
    assert usdc_balance(sandbox, wallet.address) == 30_000_000
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]


@pytest.mark.parametrize("name", ["X-PAYMENT", "X-402-Payment", "payment-signature"])
def test_every_payment_header_name_is_accepted(sandbox, name):
    wallet = holding(sandbox, "5")

    assert pay(sandbox, payment_header(wallet, sandbox), name).status_code == 200


def test_a_tampered_payment_fails_verification(sandbox):
    wallet = holding(sandbox, "100")
    payload = json.loads(base64.b64decode(payment_header(wallet, sandbox, "5")))
    payload["payload"]["authorization"]["value"] = "50000000"
    payload["accepted"]["amount"] = "50000000"
    tampered = base64.b64encode(json.dumps(payload).encode()).decode()

    assert refused(pay(sandbox, tampered), 400, "PAYMENT_VERIFICATION_FAILED")
    forged = handmade_payment(wallet, signer=Account.create())
    assert refused(pay(sandbox, forged), 400, "PAYMENT_VERIFICATION_FAILED")
    assert usdc_balance(sandbox, wallet.address) == 100_000_000


def test_wrong_receiver_asset_network_or_scheme(sandbox):
    wallet, stranger = Account.create(), Account.create()
    sandbox.faucet(wallet.address, "100")

    assert refused(
        pay(sandbox, handmade_payment(wallet, pay_to=stranger.address, to=stranger.address)),
        400,
        "INVALID_PAYMENT_RECIPIENT",
    )
    assert refused(
        pay(sandbox, handmade_payment(wallet, to=stranger.address)),
        400,
        "INVALID_PAYMENT_RECIPIENT",
    )
    base_sepolia_usdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    assert refused(
        pay(sandbox, handmade_payment(wallet, asset=base_sepolia_usdc)), 400, "UNSUPPORTED_TOKEN"
    )
    assert refused(
        pay(sandbox, handmade_payment(wallet, network="eip155:84532")), 400, "UNSUPPORTED_NETWORK"
    )
    solana = top_up_challenge(sandbox).accepts[0]
    assert refused(
        pay(sandbox, handmade_payment(wallet, network=solana.network)), 400, "UNSUPPORTED_NETWORK"
    )
    assert refused(pay(sandbox, handmade_payment(wallet, scheme="upto")), 400, "UNSUPPORTED_SCHEME")
    assert usdc_balance(sandbox, wallet.address) == 100_000_000


def test_amount_bounds(sandbox):
    wallet = holding(sandbox, "10001")

    assert refused(pay(sandbox, handmade_payment(wallet, usd="4.99")), 400, "AMOUNT_TOO_LOW")
    assert refused(pay(sandbox, handmade_payment(wallet, usd="10000.01")), 400, "AMOUNT_TOO_HIGH")
    assert refused(
        pay(sandbox, handmade_payment(wallet, usd="20", value=10_000_000)), 400, "INVALID_AMOUNT"
    )
    assert pay(sandbox, handmade_payment(wallet, usd="10000")).status_code == 200
    assert pay(sandbox, handmade_payment(wallet, usd="1")).status_code == 400
    assert ledger(sandbox, wallet)["currentBalance"] == 10000


def test_the_validity_window_is_enforced(sandbox):
    wallet = holding(sandbox, "100")
    now = int(time.time())

    expired = handmade_payment(wallet, valid_before=now - 1)
    not_yet = handmade_payment(wallet, valid_after=now + 600)

    assert refused(pay(sandbox, expired), 400, "INVALID_PAYMENT")
    assert refused(pay(sandbox, not_yet), 400, "INVALID_PAYMENT")


def test_malformed_payments(sandbox):
    wallet = holding(sandbox, "100")
    valid = json.loads(base64.b64decode(payment_header(wallet, sandbox)))

    def encoded(payload):
        return base64.b64encode(json.dumps(payload).encode()).decode()

    assert refused(pay(sandbox, "not-base64!"), 400, "INVALID_PAYMENT_FORMAT")
    assert refused(pay(sandbox, encoded({"x402Version": 2})), 400, "INVALID_PAYMENT_FORMAT")
    no_signature = json.loads(json.dumps(valid))
    del no_signature["payload"]["signature"]
    assert refused(pay(sandbox, encoded(no_signature)), 400, "INVALID_PAYMENT_FORMAT")
    permit2 = {**valid, "payload": {"permit2Authorization": {}, "signature": "0x00"}}
    assert refused(pay(sandbox, encoded(permit2)), 400, "INVALID_PAYMENT")
    self_paying = json.loads(json.dumps(valid))
    self_paying["payload"]["authorization"]["from"] = PAY_TO
    assert refused(pay(sandbox, encoded(self_paying)), 400, "INVALID_PAYMENT_PAYER")


def test_insufficient_usdc_fails_settlement_and_moves_nothing(sandbox):
    wallet = holding(sandbox, "4")
    header = encode_payment_signature_header(
        signed_payment(wallet, base_rail(top_up_challenge(sandbox)))
    )

    assert refused(pay(sandbox, header), 402, "SETTLEMENT_FAILED")
    assert usdc_balance(sandbox, wallet.address) == 4_000_000
    assert ledger(sandbox, wallet)["transactions"] == []

    sandbox.faucet(wallet.address, "1")  # nothing moved, so the same payment may land now
    assert pay(sandbox, header).status_code == 200


def test_payment_headers_are_refused_elsewhere(sandbox):
    wallet = Account.create()
    header = {"PAYMENT-SIGNATURE": "anything"}

    for method, path in [
        ("GET", "/models?type=music"),
        ("POST", "/audio/quote"),
        ("POST", "/audio/queue"),
    ]:
        response = client.request(
            method,
            sandbox.api_url + path,
            headers={**header, **siwx(wallet)},
            json={"model": "elevenlabs-music"},
        )
        assert refused_elsewhere(response, "PAYMENT_HEADER_NOT_ACCEPTED")
    response = client.post(sandbox.api_url + "/audio/queue", headers={"X-PAYMENT": "x"})
    assert refused_elsewhere(response, "PAYMENT_HEADER_NOT_ACCEPTED")
