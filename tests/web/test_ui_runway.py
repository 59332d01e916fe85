"""Runway and the month-end forecast, read in Debian's chromium: a member on the wallet page,
an admin on the spend overview."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser_helpers import shot, sign_in, sign_in_admin
from tests.review_helpers import ledger_row
from wallets.models import Wallet
from wallets.runway import burn_since

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spending(wallet):
    """20 USD a day for the last week, 60 of credit, 100 USDC, a cap of 10 a day."""
    now = timezone.now()
    for day in range(7):  # each of the seven UTC days that end today
        at = burn_since(now) + datetime.timedelta(days=day, minutes=30)
        ledger_row(wallet, "CHARGE", "20", at, model_id="elevenlabs-music")
    Wallet.objects.filter(pk=wallet.pk).update(
        credit_usd=Decimal("60"),
        usdc_balance=Decimal("100"),
        max_topup_per_day_usd=Decimal("10"),
        credit_checked_at=now,
        usdc_checked_at=now,
    )
    return wallet


def test_a_member_reads_the_wallets_runway(page, member, spending):
    sign_in(page, "member", "member-pass-123")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Wallet").click()
    runway = page.locator("#runway")
    runway.wait_for()
    # 60 of credit at 20 a day: 3 days; with 100 USDC: 8 days. The cap buys 10 of the 20.
    assert runway.inner_text().startswith(
        "Venice credit lasts about 3 days at $20.00 a day (the last 7 days); "
        "with the USDC on chain, about 8 days in all."
    )
    on = (timezone.now() + datetime.timedelta(days=6)).date()
    assert f"runs out around {on:%B} {on.day} unless the cap is raised" in runway.inner_text()
    shot(page, "wallet-runway")


def test_an_admin_reads_the_forecast_and_each_wallets_runway(page, admin_user, spending):
    sign_in_admin(page, admin_user)
    page.goto("/admin/review/spend/")
    forecast = page.locator("#forecast")
    assert forecast.get_by_role("heading", name=re.compile("Forecast for")).is_visible()
    # The figure and its range (tests/review/test_forecast.py checks the arithmetic).
    low, high = re.search(r"likely \$([\d.,]+) to \$([\d.,]+)", forecast.inner_text()).groups()
    figure = page.locator("#spend-forecast").inner_text()
    assert Decimal(low) <= Decimal(figure.lstrip("$").replace(",", "")) <= Decimal(high)
    assert "a day over the last 7 days" in forecast.inner_text()
    wallets = page.locator("#wallets")
    assert "Venice credit lasts about 3 days" in wallets.locator("td.runway").inner_text()
    assert "unless the cap is raised" in wallets.locator("td.runway").inner_text()
    shot(page, "admin-spend-forecast")
