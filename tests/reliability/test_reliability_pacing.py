"""Pacing and the error budget (issue 11, item 3): balance and ledger reads stay under the x402
routes' own limits across processes, a long ledger is read over several windows and resumes
where it stopped, and a 429 without Retry-After is waited out rather than asked again."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from eth_account import Account

from tests.reliability_helpers import record
from venice import VeniceClient, WalletAuth, errors
from wallets import ledger
from wallets.models import LedgerEntry, RateSlot, Wallet
from wallets.venice import client_for

pytestmark = pytest.mark.django_db

RATE_LIMITED = {"error": "Rate limit exceeded. Please try again later."}  # §8, literally


class RecordingPacer:
    def __init__(self):
        self.waited: list[str] = []
        self.limited_routes: list[str] = []

    def wait(self, route: str) -> None:
        self.waited.append(route)

    def limited(self, route: str) -> None:
        self.limited_routes.append(route)


def test_a_429_without_retry_after_on_an_x402_route_is_not_asked_again_at_once():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(429, json=RATE_LIMITED)

    pacer = RecordingPacer()
    client = VeniceClient(
        auth=WalletAuth(Account.create().key),
        transport=httpx.MockTransport(handler),
        max_retries=3,
        sleep=lambda _: None,
        pacer=pacer,
    )
    with pytest.raises(errors.RateLimited) as caught:
        client.balance()
    assert len(sent) == 1, "a header-less 429 is not retried within the same minute"
    assert caught.value.retry_after == errors.DEFAULT_RATE_LIMIT_WAIT_S
    assert pacer.waited == ["balance"] and pacer.limited_routes == ["balance"]
    record(
        "x402 429 without Retry-After (issue 11)",
        "one request, not retried within the minute; the caller waits 30 s; the shared window is "
        "marked full",
    )


def test_a_400_on_a_read_is_never_sent_again():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(400, json={"error": "bad"})

    client = VeniceClient(
        auth=WalletAuth(Account.create().key),
        transport=httpx.MockTransport(handler),
        max_retries=3,
        sleep=lambda _: None,
    )
    for call in (client.balance, lambda: client.transactions(), lambda: client.complete("m", "q")):
        with pytest.raises(errors.VeniceError):
            call()
    assert len(sent) == 3, "one request per call: 4xx answers are never repeated"


def test_balance_reads_stop_at_the_wallets_limit_before_venice_sees_them(wallet, venice, settings):
    settings.BALANCE_PER_MINUTE = 3
    settings.X402_PACE_WAIT_S = 0
    before = venice.stats(wallet.address)["calls"].get("balance", 0)
    with client_for(wallet) as client:
        for _ in range(3):
            client.balance()
    # Another client (as another process would make): the same window.
    with client_for(wallet) as other, pytest.raises(errors.RateLimited, match="used up"):
        other.balance()
    assert venice.stats(wallet.address)["calls"]["balance"] - before == 3
    record(
        "Balance reads paced across clients (issue 11)",
        "two clients of one wallet share one per-minute window: the call over the limit waits or "
        "is refused locally, Venice never sees it",
    )


def test_a_429_fills_the_shared_window(wallet, venice):
    venice.set_fault("balance", status=429, count=1)
    with client_for(wallet) as client, pytest.raises(errors.RateLimited):
        client.balance()
    slots = RateSlot.objects.filter(wallet=wallet, endpoint="balance")
    assert slots.count() >= 1 and not slots.filter(used_at__isnull=True).exists()


def test_a_long_ledger_read_resumes_where_it_stopped(wallet, venice, settings, monkeypatch):
    for _ in range(5):
        venice.append_ledger(wallet.address, "TOP_UP", "1")
    monkeypatch.setattr(ledger, "PAGE", 1)
    settings.TRANSACTIONS_PER_MINUTE = 2
    settings.X402_PACE_WAIT_S = 0
    with client_for(wallet) as client, pytest.raises(errors.RateLimited):
        ledger.sync(wallet, client, full=True)
    assert LedgerEntry.objects.count() == 2, "the pages read are kept"
    wallet.refresh_from_db()
    assert wallet.ledger_resume_offset == 2

    # A minute later (the window's slots free again), with a new row on top meanwhile.
    RateSlot.objects.filter(wallet=wallet).update(used_at=None)
    settings.TRANSACTIONS_PER_MINUTE = 100
    venice.append_ledger(wallet.address, "TOP_UP", "1")
    before = venice.stats(wallet.address)["calls"]["transactions"]
    with client_for(wallet) as client:
        ledger.sync(wallet, client)  # the periodic sync, not a full one
    assert LedgerEntry.objects.count() == 6
    assert Wallet.objects.get(pk=wallet.pk).ledger_resume_offset is None
    read = venice.stats(wallet.address)["calls"]["transactions"] - before
    assert read < 6 + 2, "resumed near where it stopped, not from the top"
    assert sum(LedgerEntry.objects.values_list("amount_usd", flat=True)) == Decimal("6")
    record(
        "A long ledger read resumes where it stopped (issue 11)",
        "a full read cut off by the transactions limit keeps its pages and offset; the next sync "
        "reads the new rows on top, then resumes near the offset, and the copy is complete",
    )
