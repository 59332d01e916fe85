"""Malformed or unsafe answers from upstream: refused with a logged reason, nothing signed.

Driven through Studio's own top-up path (wallets.payments, as the worker and the admin use it)
with a Venice client on an httpx.MockTransport. tests/venice/test_venice_payments.py checks the
client's rules one by one; this checks what Studio does with each refusal: a log line saying
why, no TopUp row, no EIP-712 signature made, and for an unreadable settlement answer, the
stored payment re-sent later rather than a second one signed.
"""

from __future__ import annotations

import base64
import json
import logging
from decimal import Decimal

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from tests.reliability_helpers import record
from tests.x402_helpers import ATTACKER, accept
from venice import VeniceClient, WalletAuth, errors
from wallets import crypto, payments
from wallets.models import TopUp

pytestmark = pytest.mark.django_db

DAI = "0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb"
BASE = "https://api.venice.ai/api/v1"


def required(*accepts: dict) -> dict:
    return {
        "x402Version": 2,
        "error": "Payment required",
        "resource": {"url": f"{BASE}/x402/top-up"},
        "accepts": list(accepts),
    }


def header(challenge: dict) -> str:
    return base64.b64encode(json.dumps(challenge).encode()).decode()


def answer_402(body=None, *, raw: bytes | None = None, content_type="application/json", hdr=None):
    headers = {"content-type": content_type}
    if hdr is not None:
        headers["PAYMENT-REQUIRED"] = hdr
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.Response(402, content=content, headers=headers)


class FakeVenice:
    """The top-up route answers `discovery` (or `settlement` once a payment is sent); balance
    answers the credit credited so far."""

    def __init__(self, discovery: httpx.Response, settlement: httpx.Response | None = None):
        self.discovery = discovery
        self.settlement = settlement
        self.payments: list[str] = []
        self.credit = Decimal(0)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/x402/top-up"):
            payment = request.headers.get("PAYMENT-SIGNATURE")
            if payment is None:
                return self.discovery
            self.payments.append(payment)
            if self.settlement is not None:
                return self.settlement
            self.credit += Decimal(10)
            return httpx.Response(
                200,
                json={
                    "success": True,
                    "data": {
                        "walletAddress": "0x0",
                        "amountCredited": 10,
                        "newBalance": float(self.credit),
                        "paymentId": f"pay_{len(self.payments)}",
                    },
                },
            )
        if "/x402/balance/" in request.url.path:
            return httpx.Response(
                200,
                json={
                    "success": True,
                    "data": {"walletAddress": "0x0", "balanceUsd": float(self.credit)},
                },
            )
        return httpx.Response(404, json={"error": "not here"})


@pytest.fixture
def typed_data_signatures(monkeypatch) -> list:
    """Every EIP-712 signature any account makes (payments are EIP-712; SIWX is EIP-191)."""
    made: list = []
    original = LocalAccount.sign_typed_data

    def spy(self, *args, **kwargs):
        made.append(kwargs.get("full_message") or args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LocalAccount, "sign_typed_data", spy)
    return made


@pytest.fixture
def venice_answers(monkeypatch, wallet):
    """Point Studio's top-ups at a FakeVenice; returns a function installing one."""

    def install(fake: FakeVenice) -> FakeVenice:
        def client_for(w, **kwargs):
            return VeniceClient(
                BASE,
                auth=WalletAuth(crypto.decrypt(w.secret_encrypted)),
                transport=httpx.MockTransport(fake),
                sleep=lambda _: None,
            )

        monkeypatch.setattr(payments, "client_for", client_for)
        return fake

    return install


UNSAFE = [
    ("truncated JSON", answer_402(raw=b'{"x402Version": 2, "accepts": [{"scheme": "ex')),
    (
        "an HTML page",
        answer_402(raw=b"<html><body>402 Payment Required</body></html>", content_type="text/html"),
    ),
    ("no accepts", answer_402({"x402Version": 2, "error": "Payment required"})),
    ("empty accepts", answer_402(required())),
    ("another token", answer_402(raw=b"", hdr=header(required(accept(asset=DAI))))),
    ("another network", answer_402(raw=b"", hdr=header(required(accept(network="eip155:1"))))),
    ("another scheme", answer_402(raw=b"", hdr=header(required(accept(scheme="upto"))))),
    (
        "another recipient",
        answer_402(required(accept()), hdr=header(required(accept(payTo=ATTACKER)))),
    ),
    ("more than the cap", answer_402(raw=b"", hdr=header(required(accept(amount="50000000"))))),
    (
        "a year-long authorization",
        answer_402(raw=b"", hdr=header(required(accept(maxTimeoutSeconds=86400 * 365)))),
    ),
    ("a header that is not base64", answer_402(raw=b"", hdr="%%% not base64 %%%")),
    ("a 200 instead of a 402", httpx.Response(200, json={"ok": True})),
    ("a redirect", httpx.Response(302, headers={"location": "https://evil.example/pay"})),
]


@pytest.mark.parametrize(("what", "discovery"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_an_unsafe_or_unreadable_402_is_refused_before_anything_is_signed(
    wallet, venice_answers, typed_data_signatures, caplog, what, discovery
):
    fake = venice_answers(FakeVenice(discovery))
    with pytest.raises((payments.TopUpNotAllowed, errors.VeniceError)) as refused:
        payments.manual_top_up(wallet, Decimal(10))
    assert str(refused.value).strip(), what
    assert typed_data_signatures == [], f"{what}: something was signed"
    assert fake.payments == [] and not TopUp.objects.exists()
    if isinstance(refused.value, payments.TopUpNotAllowed):
        logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(str(refused.value) in r.getMessage() for r in logged), what
    record(
        "Malformed or unsafe 402 answers",
        "truncated JSON, HTML, no or empty accepts, another token, network, scheme or "
        "recipient, more than the cap, a year-long authorization, a bad header, a 200, a "
        "redirect: refused, reason logged (unsafe ones), nothing signed, no TopUp",
        case=what,
        refusal=type(refused.value).__name__,
    )


@pytest.mark.parametrize(
    ("what", "discovery"), [u for u in UNSAFE if u[0] in ("truncated JSON", "no accepts")]
)
def test_an_unreadable_402_is_logged_with_its_reason(
    wallet, venice_answers, typed_data_signatures, caplog, what, discovery
):
    venice_answers(FakeVenice(discovery))
    with pytest.raises(errors.MalformedResponse) as refused:
        payments.manual_top_up(wallet, Decimal(10))
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(refused.value.message in message for message in logged), (what, logged)
    assert typed_data_signatures == []


@pytest.mark.parametrize(
    "header_accept",
    [accept(asset=DAI), accept(network="eip155:1"), accept(amount="50000000")],
    ids=["another token", "another network", "another amount"],
)
def test_a_header_that_disagrees_with_the_body_is_refused(
    wallet, venice_answers, typed_data_signatures, header_accept
):
    venice_answers(FakeVenice(answer_402(required(accept()), hdr=header(required(header_accept)))))
    with pytest.raises(payments.TopUpNotAllowed):
        payments.manual_top_up(wallet, Decimal(10))
    assert typed_data_signatures == [] and not TopUp.objects.exists()


def test_a_safe_402_is_signed_once_and_credited(wallet, venice_answers, typed_data_signatures):
    """The refusals above are not a client that refuses everything."""
    good = answer_402(required(accept()), hdr=header(required(accept())))
    fake = venice_answers(FakeVenice(good))
    topup = payments.manual_top_up(wallet, Decimal(10))
    assert topup.status == TopUp.Status.CREDITED and len(typed_data_signatures) == 1
    assert fake.payments == [topup.payment_header]


@pytest.mark.parametrize(
    "settlement",
    [
        httpx.Response(
            200,
            content=b'{"success": true, "data": {"amountCr',
            headers={"content-type": "application/json"},
        ),
        httpx.Response(200, content=b"<html>ok</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"success": True}),
    ],
    ids=["truncated", "HTML", "no data"],
)
def test_an_unreadable_settlement_leaves_the_payment_open_to_be_resent_not_resigned(
    wallet, venice_answers, typed_data_signatures, settlement
):
    good = answer_402(required(accept()), hdr=header(required(accept())))
    fake = venice_answers(FakeVenice(good, settlement=settlement))
    with pytest.raises(errors.MalformedResponse):
        payments.ensure_credit(wallet, Decimal("1"))
    topup = TopUp.objects.get()
    assert topup.is_open and len(typed_data_signatures) == 1, (
        "its outcome is unknown: kept, not dropped"
    )

    # Venice answers properly the next time: the stored bytes are sent again, nothing new is
    # signed, and the need is met by that one payment.
    fake.settlement = None
    wallet.refresh_from_db()
    payments.ensure_credit(wallet, Decimal("1"))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert len(typed_data_signatures) == 1 and TopUp.objects.count() == 1
    assert fake.payments == [topup.payment_header] * 2
    record(
        "Unreadable settlement answers",
        "truncated, HTML or incomplete answer to a sent payment: kept open, re-sent byte for "
        "byte once Venice answers, never re-signed, credited once",
        case=str(settlement.content[:20]),
    )
