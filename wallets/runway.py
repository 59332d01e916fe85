"""How long a wallet's money lasts at the team's recent pace: days of Venice credit, days of the
USDC on chain behind it, and the day the top-up policy's daily cap stops keeping up.

The pace is the last BURN_DAYS UTC days (today so far and the six before) of Venice's own ledger
for the wallet, charges less refunds, per day: a quiet week reads as a long runway and a busy
one as a short one. The spend overview passes the same figure read from its daily sums
(review/spend.py), so a million-row ledger costs it nothing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from .models import LedgerEntry, Wallet
from .money import format_usd

BURN_DAYS = 7
ZERO = Decimal("0")


@dataclass(frozen=True)
class Runway:
    since: datetime.datetime
    burn_per_day: Decimal
    credit_days: float | None  # None: unknown credit, or nothing spent (no end in sight)
    usdc_days: float | None  # the USDC on chain, once bought as credit, at the same pace
    cap_falls_behind_on: datetime.date | None  # None: the cap keeps up (or no cap applies)

    @property
    def total_days(self) -> float | None:
        if self.credit_days is None:
            return None
        return self.credit_days + (self.usdc_days or 0.0)

    @property
    def words(self) -> str:
        if self.burn_per_day <= 0:
            return f"Nothing spent in the last {BURN_DAYS} days: no end in sight."
        per_day = format_usd(self.burn_per_day.quantize(Decimal("0.01")))
        pace = f"at {per_day} a day (the last {BURN_DAYS} days)"
        if self.credit_days is None:
            return f"Spending {pace}; the credit is not known yet."
        said = f"Venice credit lasts {_days(self.credit_days)} {pace}"
        if self.usdc_days is not None:
            said += f"; with the USDC on chain, {_days(self.total_days)} in all"
        return said + "."

    @property
    def warning(self) -> str:
        if self.cap_falls_behind_on is None:
            return ""
        day = self.cap_falls_behind_on
        return (
            f"The daily top-up cap cannot keep up with this pace: the credit runs out around "
            f"{day:%B} {day.day} unless the cap is raised."
        )


def _days(days: float) -> str:
    if days < 1:
        return "under a day"
    return f"about {days:,.0f} day{'' if round(days) == 1 else 's'}"


def burn_since(now: datetime.datetime) -> datetime.datetime:
    """00:00 UTC of the first of the BURN_DAYS days that end today."""
    today = now.astimezone(datetime.UTC).date()
    first = today - datetime.timedelta(days=BURN_DAYS - 1)
    return datetime.datetime.combine(first, datetime.time.min, tzinfo=datetime.UTC)


def burn_per_day(wallet: Wallet, now: datetime.datetime) -> Decimal:
    sums = LedgerEntry.objects.filter(wallet=wallet, created_at__gte=burn_since(now)).aggregate(
        charged=Sum("amount_usd", filter=Q(type=LedgerEntry.Type.CHARGE)),
        refunded=Sum("amount_usd", filter=Q(type=LedgerEntry.Type.REFUND)),
    )
    return net_per_day((sums["charged"] or ZERO) - (sums["refunded"] or ZERO))


def net_per_day(net: Decimal) -> Decimal:
    return max(ZERO, net) / BURN_DAYS


def runway(
    wallet: Wallet, now: datetime.datetime | None = None, *, burn: Decimal | None = None
) -> Runway:
    """`burn`: the wallet's net spend per day, where the caller has it already."""
    now = now or timezone.now()
    burn = burn_per_day(wallet, now) if burn is None else burn
    since = burn_since(now)
    if burn <= 0 or wallet.credit_usd is None:
        return Runway(since, burn, None, None, None)
    credit_days = float(max(wallet.credit_usd, ZERO) / burn)
    usdc_days = None
    cap_date = None
    if wallet.is_evm:
        if wallet.usdc_balance is not None:
            usdc_days = float(max(wallet.usdc_balance, ZERO) / burn)
        # Top-ups add at most the cap a day: past it, credit shrinks by what the cap misses.
        shortfall = burn - wallet.max_topup_per_day_usd
        if shortfall > 0:
            days = float(max(wallet.credit_usd, ZERO) / shortfall)
            cap_date = (now + datetime.timedelta(days=days)).date()
    return Runway(since, burn, credit_days, usdc_days, cap_date)
