"""Top-up safety: every unsafe challenge or amount is refused before anything is signed; a safe
one is signed by the x402 SDK for the chosen amount and the challenge's own receiver."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from x402.mechanisms.evm.exact.client import ExactEvmScheme

from tests.x402_helpers import (
    ATTACKER,
    RECEIVER,
    TRANSFER_WITH_AUTHORIZATION,
    USDC,
    USDC_DOMAIN,
    accept,
)
from venice import SignedPayment, TopUpPolicy, VeniceClient, WalletAuth, errors
from venice.payments import check_challenge_origin, choose_offer, parse_challenge, sign_top_up

POLICY = TopUpPolicy(max_per_topup_usd=Decimal(50), max_per_day_usd=Decimal(100))


def challenge(*accepts: dict, header: dict | None = None) -> httpx.Response:
    body = {
        "x402Version": 2,
        "error": "Payment required",
        "resource": {"url": "https://api.venice.ai/api/v1/x402/top-up"},
        "accepts": list(accepts) or [accept()],
    }
    encoded = base64.b64encode(json.dumps(header or body).encode()).decode()
    return httpx.Response(402, json=body, headers={"PAYMENT-REQUIRED": encoded})


@pytest.fixture
def signatures(monkeypatch) -> list:
    """Every EIP-712 signature the x402 scheme produces."""
    made: list = []
    original = ExactEvmScheme._sign_authorization

    def spy(self, authorization, requirements):
        made.append(authorization)
        return original(self, authorization, requirements)

    monkeypatch.setattr(ExactEvmScheme, "_sign_authorization", spy)
    return made


def client_for(response: httpx.Response, account=None, base_url="https://api.venice.ai/api/v1"):
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return response

    client = VeniceClient(
        base_url,
        auth=WalletAuth((account or Account.create()).key),
        transport=httpx.MockTransport(handler),
        sleep=lambda _: None,
    )
    return client, sent


def recover_signer(payment: SignedPayment) -> str:
    payload = json.loads(base64.b64decode(payment.header))
    auth = payload["payload"]["authorization"]
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "TransferWithAuthorization": TRANSFER_WITH_AUTHORIZATION,
        },
        "primaryType": "TransferWithAuthorization",
        "domain": USDC_DOMAIN,
        "message": {
            "from": auth["from"],
            "to": auth["to"],
            "value": int(auth["value"]),
            "validAfter": int(auth["validAfter"]),
            "validBefore": int(auth["validBefore"]),
            "nonce": bytes.fromhex(auth["nonce"][2:]),
        },
    }
    return Account.recover_message(
        encode_typed_data(full_message=typed), signature=payload["payload"]["signature"]
    )


def test_signs_the_chosen_amount_for_the_challenge_receiver(signatures):
    account = Account.create()
    client, sent = client_for(challenge(), account)
    payment = client.top_up(Decimal("12.5"), POLICY)

    assert len(sent) == 1 and "PAYMENT-SIGNATURE" not in sent[0].headers  # signed, not sent
    assert payment.amount_usd == Decimal("12.5") and payment.amount_atomic == 12_500_000
    assert (payment.pay_to, payment.asset, payment.network) == (RECEIVER, USDC, "eip155:8453")
    assert payment.payer == account.address
    payload = json.loads(base64.b64decode(payment.header))
    assert payload["x402Version"] == 2
    assert payload["accepted"]["amount"] == "12500000"
    assert payload["accepted"]["payTo"] == RECEIVER
    authorization = payload["payload"]["authorization"]
    assert authorization["to"] == RECEIVER and authorization["value"] == "12500000"
    assert authorization["nonce"] == payment.nonce and len(payment.nonce) == 66
    assert int(authorization["validBefore"]) == payment.valid_before
    assert recover_signer(payment) == account.address
    assert len(signatures) == 1


def test_signed_payment_round_trips_through_json():
    client, _ = client_for(challenge())
    payment = client.top_up(Decimal(5), POLICY)
    stored = json.loads(json.dumps(payment.to_dict()))
    assert SignedPayment.from_dict(stored) == payment


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (challenge(accept(), accept(payTo=ATTACKER)), "receivers"),
        (challenge(header={"x402Version": 2, "accepts": [accept(payTo=ATTACKER)]}), "receivers"),
        (challenge(accept(asset="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")), "no exact USDC"),
        (challenge(accept(network="eip155:1")), "no exact USDC"),
        (challenge(accept(scheme="upto")), "no exact USDC"),
        (challenge(accept(amount="10000000000")), "per-top-up cap"),
        (challenge(accept(amount="20000000000")), "10000 USD"),
        (challenge(accept(maxTimeoutSeconds=86400 * 365)), "authorization valid"),
        (challenge(accept(payTo="not-an-address")), "not an address"),
        (challenge(accept(extra={"name": "USDC", "version": "2"})), "token domain"),
        (challenge(accept(extra={"name": "USD Coin", "version": "1"})), "token domain"),
        (challenge(accept(extra={})), "token domain"),
        (
            challenge(
                accept(extra={"name": "USD Coin", "version": "2", "assetTransferMethod": "permit2"})
            ),
            "EIP-3009 only",
        ),
    ],
)
def test_unsafe_challenges_are_refused_before_signing(signatures, response, why):
    client, _ = client_for(response)
    with pytest.raises(errors.PaymentRefused) as caught:
        client.top_up(Decimal(10), POLICY)
    assert why in caught.value.reason
    assert signatures == []


def test_other_rails_in_the_challenge_are_ignored(signatures):
    solana = accept(network="solana:mainnet", asset="EPjFWdd5", payTo="SoLReceiver")
    client, _ = client_for(challenge(solana, accept()))
    assert client.top_up(Decimal(5), POLICY).pay_to == RECEIVER


@pytest.mark.parametrize(
    ("amount", "policy", "why"),
    [
        (Decimal(4), POLICY, "below Venice's minimum"),
        (Decimal(51), POLICY, "per-top-up cap"),
        (
            Decimal(40),
            TopUpPolicy(max_per_topup_usd=50, max_per_day_usd=100, spent_today_usd=70),
            "daily cap",
        ),
        (Decimal(10_001), TopUpPolicy(max_per_topup_usd=20_000, max_per_day_usd=20_000), "10000"),
        (Decimal("5.0000001"), POLICY, "whole USDC units"),
        (Decimal(-5), POLICY, "positive"),
    ],
)
def test_amounts_outside_bounds_or_caps_are_refused(signatures, amount, policy, why):
    client, _ = client_for(challenge())
    with pytest.raises(errors.PaymentRefused) as caught:
        client.top_up(amount, policy)
    assert why in caught.value.reason
    assert signatures == []


def test_the_x402_spend_cap_follows_the_policy(signatures):
    # Bypass our own amount check: the SDK, capped from the policy, must still refuse.
    offer = choose_offer(parse_challenge(None, challenge().headers["PAYMENT-REQUIRED"]))
    with pytest.raises(errors.PaymentRefused, match="spend_controls"):
        sign_top_up(Account.create(), offer, 60_000_000, POLICY)
    assert signatures == []


def test_requirements_must_come_from_the_configured_origin():
    base = "https://api.venice.ai/api/v1"
    for answered, why in [
        ("http://api.venice.ai/api/v1/x402/top-up", "unsafe origin"),
        ("http://evil.example/api/v1/x402/top-up", "unsafe origin"),
        ("https://evil.example/api/v1/x402/top-up", "not the configured"),
        ("https://api.venice.ai:8443/api/v1/x402/top-up", "not the configured"),
    ]:
        with pytest.raises(errors.PaymentRefused, match=why):
            check_challenge_origin(answered, base)
    check_challenge_origin("https://api.venice.ai/api/v1/x402/top-up", base)
    check_challenge_origin("http://127.0.0.1:9/api/v1/x402/top-up", "http://127.0.0.1:9/api/v1")


def test_plain_http_is_only_for_loopback():
    for url in ("http://127.0.0.1:8000/api/v1", "http://localhost/api/v1", "http://[::1]:9/v1"):
        VeniceClient(url)
    for url in ("http://api.venice.ai/api/v1", "http://10.0.0.1/api/v1", "ftp://x/api"):
        with pytest.raises(ValueError):
            VeniceClient(url)


def test_v1_challenge_on_base_is_signed_with_the_v1_scheme(signatures):
    body = {
        "x402Version": 1,
        "accepts": [
            {
                "scheme": "exact",
                "network": "base",
                "maxAmountRequired": "5000000",
                "resource": "https://api.venice.ai/api/v1/x402/top-up",
                "payTo": RECEIVER,
                "asset": USDC.lower(),
                "maxTimeoutSeconds": 300,
                "extra": {"name": "USD Coin", "version": "2"},
            }
        ],
    }
    client, _ = client_for(httpx.Response(402, json=body))
    payment = client.top_up(Decimal(6), POLICY)
    assert payment.network == "base" and payment.amount_atomic == 6_000_000
    assert json.loads(base64.b64decode(payment.header))["x402Version"] == 1


def test_top_up_needs_a_wallet():
    client = VeniceClient(transport=httpx.MockTransport(lambda r: challenge()))
    with pytest.raises(ValueError, match="WalletAuth"):
        client.top_up(Decimal(5), POLICY)


def test_policy_refuses_floats():
    with pytest.raises(TypeError):
        TopUpPolicy(max_per_topup_usd=50.0, max_per_day_usd=Decimal(100))
    assert TopUpPolicy(max_per_topup_usd="50", max_per_day_usd=100).max_per_topup_usd == 50


def test_send_payment_sends_the_exact_bytes_and_reads_the_settlement():
    settlement = {
        "success": True,
        "network": "eip155:8453",
        "payer": "0xPayer",
        "transaction": "0x" + "ab" * 32,
    }
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            200,
            json={
                "success": True,
                "data": {
                    "walletAddress": "0xPayer",
                    "amountCredited": 12.5,
                    "newBalance": 12.6,
                    "paymentId": "pay_1",
                },
            },
            headers={
                "PAYMENT-RESPONSE": base64.b64encode(json.dumps(settlement).encode()).decode()
            },
        )

    client = VeniceClient(
        auth=WalletAuth(Account.create().key), transport=httpx.MockTransport(handler)
    )
    result = client.send_payment("exact-bytes")
    assert sent[0].headers["PAYMENT-SIGNATURE"] == "exact-bytes"
    assert "sign-in-with-x" not in sent[0].headers
    assert result.payment_id == "pay_1"
    assert result.amount_credited == Decimal("12.5") and result.new_balance == Decimal("12.6")
    assert result.transaction_hash == settlement["transaction"]
    assert result.network == "eip155:8453"


def top_up_error(status: int, code: str, message: str, kind: type, **body):
    """The top-up route's error body as §8 gives it: the code is in `error`, and kept."""
    return pytest.param(status, {"error": code, "message": message, **body}, kind, code, id=code)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        top_up_error(
            409,
            "PAYMENT_IN_PROGRESS",
            "Payment already processed or still settling",
            errors.PaymentInProgress,
            details={"walletAddress": RECEIVER},
        ),
        top_up_error(504, "SETTLEMENT_TIMEOUT", "timeout", errors.SettlementTimeout),
        top_up_error(402, "SETTLEMENT_FAILED", "Settlement failed", errors.PaymentFailed),
        top_up_error(
            400, "PAYMENT_VERIFICATION_FAILED", "signature does not match", errors.PaymentFailed
        ),
        top_up_error(
            400, "INVALID_PAYMENT_RECIPIENT", "payTo is not Venice's receiver", errors.PaymentFailed
        ),
        pytest.param(
            503,
            {"error": "X402_NOT_CONFIGURED", "message": "down"},
            errors.UpstreamUnavailable,
            None,
            id="X402_NOT_CONFIGURED",
        ),
        pytest.param(
            402,
            {"x402Version": 2, "accepts": [accept()]},
            errors.PaymentFailed,
            None,
            id="a-new-challenge",
        ),
    ],
)
def test_send_payment_failures(status, body, kind, code):
    client = VeniceClient(
        auth=WalletAuth(Account.create().key),
        transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)),
    )
    with pytest.raises(kind) as caught:
        client.send_payment("exact-bytes")
    assert type(caught.value) is kind
    if code is not None:
        assert caught.value.code == code and caught.value.message == body["message"]
