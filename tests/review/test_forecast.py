"""The team's month-end spend forecast on the spend overview."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from review import spend
from tests.review_helpers import ledger_row
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 20, 12, 0, tzinfo=datetime.UTC)  # 11.5 days left


def charge(wallet, day: int, usd: str) -> None:
    ledger_row(wallet, "CHARGE", usd, datetime.datetime(2026, 12, day, 9, tzinfo=datetime.UTC))


def test_the_month_goes_on_at_the_last_weeks_pace_with_its_spread(wallet):
    charge(wallet, 2, "100")  # this month, before the last seven days
    for day in range(13, 20):  # the last seven whole days: 4 and 6 by turns
        charge(wallet, day, "4" if day % 2 else "6")
    charge(wallet, 20, "3")  # today so far
    forecast = spend.month_end_forecast(NOW)
    assert forecast.month_to_date == Decimal("137")
    mean = Decimal(34) / 7  # 6+4+6+4+6+4+4 (the 13th, 15th, 17th and 19th are odd)
    assert forecast.per_day == mean.quantize(Decimal("0.01"))
    assert forecast.days_left == pytest.approx(11.5)
    assert forecast.expected == (Decimal("137") + Decimal("11.5") * mean).quantize(Decimal("0.01"))
    assert forecast.low < forecast.expected < forecast.high
    # One standard deviation of the seven days either way (about 0.99 a day).
    assert float(forecast.high - forecast.expected) == pytest.approx(11.5 * 0.9897, abs=0.02)


def test_a_steady_team_gets_a_narrow_range_and_a_quiet_one_its_spend_so_far(wallet):
    for day in range(13, 20):
        charge(wallet, day, "5")
    steady = spend.month_end_forecast(NOW)
    assert steady.low == steady.expected == steady.high == Decimal("92.50")  # 35 + 11.5 x 5
    LedgerEntry.objects.all().delete()
    quiet = spend.month_end_forecast(NOW)
    assert quiet.expected == quiet.high == Decimal("0")
