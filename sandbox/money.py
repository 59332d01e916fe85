"""USD amounts: exact decimals inside the sandbox, JSON numbers on the wire."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# USDC has 6 decimals, so no amount the sandbox handles is finer than a micro-dollar.
USD_QUANTUM = Decimal("0.000001")
USDC_ATOMIC_PER_USD = 10**6


def usd(value: Decimal | int | float | str) -> Decimal:
    """A USD amount rounded to USDC precision; floats go through ``str`` to avoid binary noise."""
    if isinstance(value, float):
        value = str(value)
    return Decimal(value).quantize(USD_QUANTUM, rounding=ROUND_HALF_UP)


def usd_from_atomic(atomic: int) -> Decimal:
    return usd(Decimal(atomic) / USDC_ATOMIC_PER_USD)


def atomic_from_usd(amount: Decimal) -> int:
    return int((amount * USDC_ATOMIC_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))


def json_number(amount: Decimal) -> int | float:
    """Venice reports money as plain JSON numbers; whole amounts print without a fraction."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)
