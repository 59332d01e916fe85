from decimal import Decimal


def format_usd(amount: Decimal | str | int | None) -> str:
    """$0.69, $12.40; prices under a dollar keep their fractions of a cent ($0.018)."""
    if amount is None or amount == "":
        return "–"
    amount = Decimal(amount)
    if amount.quantize(Decimal("0.01")) != amount and abs(amount) < 1:
        return f"${amount.quantize(Decimal('0.0001')).normalize():f}"
    return f"${amount:,.2f}"


def usd(amount: Decimal | None) -> str:
    """$0.50, $0.018, -$1.25: at least cents, and every significant digit up to six places."""
    if amount is None:
        return "nothing"
    whole, _, fraction = f"{abs(Decimal(amount)):,.6f}".partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{'-' if amount < 0 else ''}${whole}.{fraction}"
