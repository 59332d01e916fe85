"""How long a wallet's money lasts at the last seven days' pace."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from tests.review_helpers import ledger_row
from wallets.models import Wallet
from wallets.runway import runway

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 20, 12, 0, tzinfo=datetime.UTC)


def entry(wallet, kind: str, usd: str, days_ago: float) -> None:
    ledger_row(wallet, kind, usd, NOW - datetime.timedelta(days=days_ago))


@pytest.fixture
def busy_week(wallet):
    # 80 charged and 10 refunded in the last 7 UTC days, today's included (70 net: 10 a day);
    # older rows and top-ups are not the pace.
    for days_ago, usd in ((0.5, "30"), (3, "20"), (6.4, "30")):
        entry(wallet, "CHARGE", usd, days_ago)
    entry(wallet, "REFUND", "10", 2)
    entry(wallet, "CHARGE", "500", 6.6)  # December 13: the eighth day back
    entry(wallet, "TOP_UP", "100", 1)
    Wallet.objects.filter(pk=wallet.pk).update(
        credit_usd=Decimal("25"), usdc_balance=Decimal("40"), max_topup_per_day_usd=Decimal("50")
    )
    wallet.refresh_from_db()
    return wallet


def test_credit_and_usdc_last_so_many_days_at_the_weeks_net_pace(busy_week):
    left = runway(busy_week, now=NOW)
    assert left.burn_per_day == Decimal("10")
    assert left.credit_days == pytest.approx(2.5) and left.usdc_days == pytest.approx(4.0)
    assert left.total_days == pytest.approx(6.5)
    assert left.cap_falls_behind_on is None and left.warning == ""
    assert left.words == (
        "Venice credit lasts about 2 days at $10.00 a day (the last 7 days); "
        "with the USDC on chain, about 6 days in all."
    )


def test_a_daily_cap_below_the_pace_says_when_the_credit_runs_out(busy_week):
    Wallet.objects.filter(pk=busy_week.pk).update(max_topup_per_day_usd=Decimal("5"))
    busy_week.refresh_from_db()
    left = runway(busy_week, now=NOW)
    # The cap buys 5 of the 10 spent each day: 25 of credit lasts 5 days.
    assert left.cap_falls_behind_on == datetime.date(2026, 12, 25)
    assert "runs out around December 25 unless the cap is raised" in left.warning


def test_a_quiet_week_has_no_end_in_sight(wallet):
    entry(wallet, "CHARGE", "5", 8)
    left = runway(wallet, now=NOW)
    assert left.burn_per_day == 0 and left.credit_days is None
    assert left.words == "Nothing spent in the last 7 days: no end in sight."


def test_unknown_credit_is_said_so(wallet):
    entry(wallet, "CHARGE", "0.7", 1)
    Wallet.objects.filter(pk=wallet.pk).update(credit_usd=None)
    wallet.refresh_from_db()
    left = runway(wallet, now=NOW)
    assert left.credit_days is None
    assert left.words == "Spending at $0.10 a day (the last 7 days); the credit is not known yet."
