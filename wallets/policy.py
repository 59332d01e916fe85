"""A wallet's top-up policy in words, for the admin: what the worker will buy next, and when.

The policy itself is applied by payments.ensure_credit; this only describes it (the wallet list,
the top-up page, the spend overview's wallets).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from venice.payments import MIN_TOP_UP_USD

from . import payments
from .models import Wallet
from .runway import Runway, runway


@dataclass(frozen=True)
class NextTopUp:
    amount: Decimal | None
    when: str
    problem: str = ""


def next_topup(wallet: Wallet, *, topped_up_today: Decimal | None = None) -> NextTopUp:
    """What the worker's top-up policy (payments.ensure_credit) would do next, in words."""
    if not wallet.is_evm:
        return NextTopUp(None, "Never: an API key's account is billed by Venice.")
    today = payments.spent_today(wallet) if topped_up_today is None else topped_up_today
    amount = max(wallet.topup_amount_usd, MIN_TOP_UP_USD)
    threshold = max(wallet.topup_below_usd, payments.ADMISSION_FLOOR_USD)
    if wallet.credit_usd is None:
        when = "When the worker first learns the credit."
    elif wallet.credit_usd < threshold:
        when = f"Now: credit ${wallet.credit_usd:.2f} is below ${threshold:.2f}."
    else:
        when = f"When credit falls below ${threshold:.2f} (now ${wallet.credit_usd:.2f})."
    problem = ""
    if wallet.topup_amount_usd < MIN_TOP_UP_USD:
        problem = (
            f"The policy's ${wallet.topup_amount_usd:.2f} per top-up is below Venice's "
            f"${MIN_TOP_UP_USD:.2f} minimum: the worker's top-ups will be refused."
        )
    elif today + amount > wallet.max_topup_per_day_usd:
        problem = (
            f"Blocked until 00:00 UTC: today's top-ups (${today:.2f}) plus ${amount:.2f} would "
            f"pass the ${wallet.max_topup_per_day_usd:.2f} daily cap."
        )
    elif wallet.usdc_balance is not None and wallet.usdc_balance < amount:
        problem = (
            f"The wallet holds ${wallet.usdc_balance:.2f} USDC on chain, less than the "
            f"${amount:.2f} top-up: it would fail."
        )
    return NextTopUp(amount, when, problem)


@dataclass(frozen=True)
class WalletStatus:
    wallet: Wallet
    topped_up_today: Decimal
    next_topup: NextTopUp
    burn: Decimal | None = None  # net spend per day, where the caller read it already

    @cached_property
    def runway(self) -> Runway:
        # Only the pages that show it pay for it (the top-up page does not).
        return runway(self.wallet, burn=self.burn)

    @property
    def left_today(self) -> Decimal:
        return max(Decimal("0"), self.wallet.max_topup_per_day_usd - self.topped_up_today)


def wallet_status(wallet: Wallet, *, burn: Decimal | None = None) -> WalletStatus:
    """`burn`: the wallet's net spend per day (wallets.runway), where the caller has it."""
    today = payments.spent_today(wallet) if wallet.is_evm else Decimal("0")
    topup = next_topup(wallet, topped_up_today=today)
    return WalletStatus(wallet, today, topup, burn)
