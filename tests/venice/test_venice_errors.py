"""Every Venice failure maps to the exception a caller must handle, and malformed answers raise
a clear error instead of a KeyError."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from eth_account import Account

from venice import TopUpPolicy, VeniceClient, WalletAuth, errors


def client_for(*responses: httpx.Response, auth=None) -> VeniceClient:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    return VeniceClient(
        auth=auth or WalletAuth(Account.create().key),
        transport=httpx.MockTransport(handler),
        max_retries=0,
        sleep=lambda _: None,
    )


def raised(response: httpx.Response, call=lambda c: c.complete("m", "q")) -> errors.VeniceError:
    with pytest.raises(errors.VeniceError) as caught:
        call(client_for(response))
    return caught.value


def test_insufficient_balance_below_admission_floor_carries_the_numbers():
    error = raised(
        httpx.Response(
            402,
            json={
                "error": "Payment required",
                "code": "PAYMENT_REQUIRED",
                "reason": "insufficient_balance",
                "currentBalanceUsd": 0.04,
                "minimumBalanceUsd": 0.1,
                "suggestedTopUpUsd": 10,
                "minimumTopUpUsd": 5,
                "topUpInstructions": {},
                "siwxChallenge": {},
            },
        )
    )
    assert type(error) is errors.InsufficientBalance
    assert error.current_balance_usd == Decimal("0.04")
    assert error.minimum_balance_usd == Decimal("0.1")
    assert error.suggested_top_up_usd == Decimal(10)
    assert error.minimum_top_up_usd == Decimal(5)
    assert error.code == "PAYMENT_REQUIRED"


def test_insufficient_balance_for_a_quote_has_no_numbers():
    error = raised(httpx.Response(402, json={"error": "Insufficient USD or Diem balance"}))
    assert type(error) is errors.InsufficientBalance
    assert error.current_balance_usd is None
    assert "Insufficient" in error.message


def test_402_with_auth_options_means_no_credentials():
    error = raised(httpx.Response(402, json={"x402Version": 2, "accepts": [], "authOptions": {}}))
    assert type(error) is errors.AuthFailed


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (401, {"error": "reused", "code": "X402_SIGN_IN_NONCE_REUSED"}, {}, errors.AuthFailed),
        (403, {"error": "Forbidden"}, {}, errors.Forbidden),
        (404, {"error": "Model not found"}, {}, errors.NotFound),
        (409, {"error": "settling", "code": "PAYMENT_IN_PROGRESS"}, {}, errors.PaymentInProgress),
        (429, {"error": "slow down"}, {"Retry-After": "7"}, errors.RateLimited),
        (429, {"error": "busy", "code": "X402_CONCURRENCY_LIMIT"}, {}, errors.ConcurrencyLimit),
        (500, {"error": "Inference failed"}, {}, errors.UpstreamUnavailable),
        (502, None, {}, errors.UpstreamUnavailable),
        (503, {"error": "Model at capacity"}, {}, errors.UpstreamUnavailable),
        (504, {"error": "late", "code": "SETTLEMENT_TIMEOUT"}, {}, errors.SettlementTimeout),
        (402, {"error": "failed", "code": "SETTLEMENT_FAILED"}, {}, errors.PaymentFailed),
        (400, {"error": "too low", "code": "AMOUNT_TOO_LOW"}, {}, errors.PaymentFailed),
        (400, {"error": "Request ID is invalid."}, {}, errors.InvalidRequest),
    ],
)
def test_status_and_code_mapping(status, body, headers, kind):
    response = (
        httpx.Response(status, json=body, headers=headers)
        if body is not None
        else httpx.Response(status, text="<html>Bad gateway</html>", headers=headers)
    )
    error = raised(response)
    assert type(error) is kind
    assert error.status == status
    if body:
        assert error.code == body.get("code")
        assert error.message == body["error"]


def test_auth_failed_keeps_the_sign_in_code():
    error = raised(httpx.Response(401, json={"error": "x", "code": "X402_SIGN_IN_EXPIRED"}))
    assert error.code == "X402_SIGN_IN_EXPIRED"


def test_rate_limit_retry_after_seconds():
    error = raised(httpx.Response(429, json={"error": "slow"}, headers={"Retry-After": "12"}))
    assert error.retry_after == 12.0


def test_content_policy_suggested_prompt():
    error = raised(
        httpx.Response(
            422,
            json={"error": "Content policy violation", "suggested_prompt": "a gentle lullaby"},
        )
    )
    assert type(error) is errors.ContentPolicy
    assert error.suggested_prompt == "a gentle lullaby"


def test_invalid_voice_carries_supported_voices():
    error = raised(
        httpx.Response(
            400,
            json={"error": "Invalid voice", "details": {"supported_voices": ["Rachel", "Adam"]}},
        )
    )
    assert isinstance(error, errors.InvalidRequest)
    assert error.details["supported_voices"] == ["Rachel", "Adam"]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b'{"quo', headers={"content-type": "application/json"}),
        httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"price": 1}),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"quote": "lots"}),
    ],
)
def test_malformed_quote_answers(response):
    error = raised(response, call=lambda c: c.quote("elevenlabs-music"))
    assert type(error) is errors.MalformedResponse


def test_malformed_balance_and_transactions():
    assert type(raised(httpx.Response(200, json={"data": {}}), lambda c: c.balance())) is (
        errors.MalformedResponse
    )
    page = {"data": {"transactions": [{"id": "t1"}], "pagination": {"hasMore": False}}}
    assert type(raised(httpx.Response(200, json=page), lambda c: c.transactions())) is (
        errors.MalformedResponse
    )


def test_top_up_402_without_accepts_is_malformed():
    policy = TopUpPolicy(max_per_topup_usd=Decimal(50), max_per_day_usd=Decimal(100))
    for response in (
        httpx.Response(402, json={"x402Version": 2}),
        httpx.Response(402, text="Payment required"),
        httpx.Response(402, json={"x402Version": 2, "accepts": "USDC please"}),
        httpx.Response(402, headers={"PAYMENT-REQUIRED": "%%%not base64"}),
    ):
        error = raised(response, call=lambda c: c.top_up(Decimal(10), policy))
        assert type(error) is errors.MalformedResponse, response


def test_errors_print_usefully():
    error = raised(httpx.Response(401, json={"error": "bad sig", "code": "X402_SIGN_IN_X"}))
    assert str(error) == "bad sig (HTTP 401 X402_SIGN_IN_X)"
