"""Balance and the paged ledger, read with the wallet's own SIWX identity."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from eth_account import Account

from venice import ApiKeyAuth, VeniceClient, WalletAuth


def row(n: int, kind: str = "CHARGE") -> dict:
    return {
        "id": f"tx-{n}",
        "amount": "-0.35" if kind == "CHARGE" else "10",
        "balanceAfter": 9.65,
        "type": kind,
        "createdAt": f"2026-04-24T15:{n:02d}:00.000Z",
        "requestId": f"q-{n}",
        "modelId": "elevenlabs-music",
    }


def test_balance_reads_the_wallet_path():
    account = Account.create()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/api/v1/x402/balance/{account.address}"
        assert "sign-in-with-x" in request.headers
        return httpx.Response(
            200,
            json={
                "success": True,
                "data": {
                    "walletAddress": account.address,
                    "balanceUsd": 12.34,
                    "canConsume": True,
                    "minimumTopUpUsd": 5,
                    "suggestedTopUpUsd": 10,
                },
            },
        )

    balance = VeniceClient(auth=WalletAuth(account.key), transport=httpx.MockTransport(handler))
    result = balance.balance()
    assert result.balance_usd == Decimal("12.34") and isinstance(result.balance_usd, Decimal)
    assert result.can_consume is True
    assert result.minimum_top_up_usd == 5 and result.diem_balance_usd is None


def test_transactions_reads_every_page_newest_first_without_duplicates():
    # 5 rows newest first; a new row lands between page 1 and 2, shifting offsets by one.
    pages = {
        0: ([row(5), row(4)], True),
        2: ([row(4), row(3)], True),  # tx-4 seen again because of the shift
        4: ([row(2), row(1, "TOP_UP")], False),
    }
    offsets: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["limit"] == "2"
        offset = int(request.url.params["offset"])
        offsets.append(offset)
        rows, more = pages[offset]
        return httpx.Response(
            200,
            json={
                "data": {
                    "walletAddress": "0x",
                    "currentBalance": 9.65,
                    "transactions": rows,
                    "pagination": {"limit": 2, "offset": offset, "hasMore": more},
                }
            },
        )

    client = VeniceClient(
        auth=WalletAuth(Account.create().key), transport=httpx.MockTransport(handler)
    )
    ledger = client.transactions(page_size=2)
    assert offsets == [0, 2, 4]
    assert [t.id for t in ledger] == ["tx-5", "tx-4", "tx-3", "tx-2", "tx-1"]
    assert ledger[0].amount == Decimal("-0.35") and ledger[-1].type == "TOP_UP"
    assert ledger[0].request_id == "q-5" and ledger[0].created_at.tzinfo is not None


def test_an_empty_page_claiming_more_ends_the_walk():
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            200, json={"data": {"transactions": [], "pagination": {"hasMore": True}}}
        )

    client = VeniceClient(
        auth=WalletAuth(Account.create().key), transport=httpx.MockTransport(handler)
    )
    assert client.transactions() == []
    assert len(calls) == 1


def test_wallet_calls_need_a_wallet():
    client = VeniceClient(auth=ApiKeyAuth("vk"), transport=httpx.MockTransport(lambda r: None))
    with pytest.raises(ValueError, match="WalletAuth"):
        client.balance()
    with pytest.raises(ValueError, match="page_size"):
        VeniceClient(auth=WalletAuth(Account.create().key)).transactions(page_size=500)
