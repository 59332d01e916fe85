"""GET /x402/balance and /x402/transactions: the signer's own wallet, newest first, paged."""

import pytest
from eth_account import Account

from .sandbox_signing import client, credit, funded, ledger, siwx


def balance(sandbox, account, signer=None):
    return client.get(
        f"{sandbox.api_url}/x402/balance/{account.address}", headers=siwx(signer or account)
    )


def transactions(sandbox, account, **params):
    return client.get(
        f"{sandbox.api_url}/x402/transactions/{account.address}",
        headers=siwx(account),
        params=params,
    )


def test_balance_reports_credit_and_whether_it_can_be_spent(sandbox):
    wallet = Account.create()

    empty = balance(sandbox, wallet).json()
    credit(sandbox, wallet, "0.1")
    enough = balance(sandbox, wallet).json()

    assert empty == {
        "success": True,
        "data": {
            "walletAddress": wallet.address,
            "balanceUsd": 0,
            "canConsume": False,
            "minimumTopUpUsd": 5,
            "suggestedTopUpUsd": 10,
        },
    }
    assert enough["data"]["balanceUsd"] == 0.1 and enough["data"]["canConsume"]


def test_only_the_signer_may_read_its_wallet(sandbox):
    wallet, other = Account.create(), Account.create()

    assert balance(sandbox, wallet, signer=other).status_code == 403
    response = client.get(
        f"{sandbox.api_url}/x402/transactions/{wallet.address}", headers=siwx(other)
    )
    assert response.status_code == 403


def test_lowercase_path_addresses_are_the_same_wallet(sandbox):
    wallet = Account.create()

    response = client.get(
        f"{sandbox.api_url}/x402/balance/{wallet.address.lower()}", headers=siwx(wallet)
    )

    assert response.status_code == 200
    assert response.json()["data"]["walletAddress"] == wallet.address


def test_a_path_that_is_not_an_address_is_400(sandbox):
    wallet = Account.create()

    response = client.get(f"{sandbox.api_url}/x402/balance/not-a-wallet", headers=siwx(wallet))

    assert response.status_code == 400


def test_transactions_come_newest_first_in_pages(sandbox):
    wallet = Account.create()
    for amount in ("1", "2", "3", "4", "5"):
        credit(sandbox, wallet, amount)

    first = ledger(sandbox, wallet, limit=2)
    last = ledger(sandbox, wallet, limit=2, offset=4)
    everything = ledger(sandbox, wallet)

    assert [row["amount"] for row in first["transactions"]] == [5, 4]
    assert first["pagination"] == {"limit": 2, "offset": 0, "hasMore": True}
    assert [row["amount"] for row in last["transactions"]] == [1]
    assert last["pagination"] == {"limit": 2, "offset": 4, "hasMore": False}
    assert everything["currentBalance"] == 15
    assert [row["balanceAfter"] for row in everything["transactions"]] == [15, 10, 6, 3, 1]
    row = everything["transactions"][0]
    assert set(row) == {"id", "amount", "balanceAfter", "type", "createdAt", "requestId", "modelId"}
    assert row["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"offset": "x"}]
)
def test_bad_pagination_is_400(sandbox, params):
    assert transactions(sandbox, Account.create(), **params).status_code == 400


def test_a_charge_never_takes_the_balance_below_zero(sandbox):
    wallet = funded(sandbox, "3")

    response = client.post(
        sandbox.base_url + "/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": "CHARGE",
            "amount": "100",
            "requestId": "req-1",
            "modelId": "elevenlabs-music",
        },
    )

    assert response.json()["transaction"]["amount"] == -3  # collects what is left, negative
    assert ledger(sandbox, wallet)["currentBalance"] == 0
