"""Settling takes time: 409 while it runs, and a 504 timeout after which it still lands."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .sandbox_signing import client, holding, ledger, pay, payment_header, siwx, usdc_balance


def balance_of(sandbox, wallet):
    response = client.get(f"{sandbox.api_url}/x402/balance/{wallet.address}", headers=siwx(wallet))
    return response.json()["data"]["balanceUsd"]


def test_a_resend_while_settling_gets_409(sandbox):
    sandbox.configure(settle_delay_s=100)  # half a real second at the session's time scale
    wallet = holding(sandbox, "10")
    header = payment_header(wallet, sandbox, "10")

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(pay, sandbox, header)
        time.sleep(0.2)
        second = pool.submit(pay, sandbox, header)
        answers = sorted([first.result(), second.result()], key=lambda r: r.status_code)

    assert [answer.status_code for answer in answers] == [200, 409]
    conflict = answers[1].json()
    assert conflict == {
        "error": "PAYMENT_IN_PROGRESS",
        "message": conflict["message"],
        "details": conflict["details"],
    }
    assert pay(sandbox, header).json() == answers[0].json()
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]


def test_a_settlement_timeout_still_lands_later(sandbox):
    # The 504 comes after 0.1 s; the transfer lands a second after that.
    sandbox.configure(settle_delay_s=20, late_settlement_s=200)
    sandbox.set_fault("top-up", settlement_timeout=True, count=1)
    wallet = holding(sandbox, "10")
    header = payment_header(wallet, sandbox, "10")

    timed_out = pay(sandbox, header)
    assert timed_out.status_code == 504
    assert timed_out.json()["error"] == "SETTLEMENT_TIMEOUT"
    resent = pay(sandbox, header)
    assert resent.status_code == 409 and resent.json()["error"] == "PAYMENT_IN_PROGRESS"

    deadline = time.monotonic() + 10
    while balance_of(sandbox, wallet) == 0:
        assert time.monotonic() < deadline, "the timed-out payment never landed"
        time.sleep(0.05)

    assert balance_of(sandbox, wallet) == 10
    settled = pay(sandbox, header)
    assert settled.status_code == 200
    assert settled.json()["data"]["amountCredited"] == 10
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]
    assert usdc_balance(sandbox, wallet.address) == 0


@pytest.mark.parametrize(
    ("status", "code"), [(402, "SETTLEMENT_FAILED"), (400, "PAYMENT_VERIFICATION_FAILED")]
)
def test_a_refusal_fault_never_meets_a_payment_already_taken(sandbox, status, code):
    """A refusal means no funds moved (reference §8). A payment Venice has taken answers a
    resend with its receipt or a 409, so an injected refusal passes over it and still refuses
    a payment it has never seen."""
    sandbox.configure(settle_delay_s=20, late_settlement_s=20)
    sandbox.set_fault("top-up", settlement_timeout=True, count=1)
    wallet = holding(sandbox, "20")
    header = payment_header(wallet, sandbox, "10")
    unseen = payment_header(wallet, sandbox, "10")
    assert pay(sandbox, header).status_code == 504
    deadline = time.monotonic() + 10
    while balance_of(sandbox, wallet) == 0:
        assert time.monotonic() < deadline, "the timed-out payment never landed"
        time.sleep(0.05)

    sandbox.set_fault("top-up", status=status)
    resent = pay(sandbox, header)
    assert resent.status_code == 200, resent.text
    assert resent.json()["data"]["amountCredited"] == 10
    fresh = pay(sandbox, unseen)
    assert fresh.status_code == status
    assert fresh.json()["error"] == code
    sandbox.clear_faults()
    assert pay(sandbox, header).status_code == 200
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]
    assert usdc_balance(sandbox, wallet.address) == 10_000_000
