from decimal import Decimal


def format_usd(amount: Decimal | str | int | None) -> str:
    """$0.50, $0.018, $1,234.5678, -$1.25: at least cents, and every significant digit up to six
    places, so that a sub-cent price or a ledger difference is never rounded away; – for none."""
    if amount is None or amount == "":
        return "–"
    amount = Decimal(amount)
    whole, _, fraction = f"{abs(amount):,.6f}".partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{'-' if amount < 0 else ''}${whole}.{fraction}"


def usd(amount: Decimal | None) -> str:
    """An amount in a sentence (the admin's messages, a difference's detail): "nothing" when
    there is none, else as format_usd prints it."""
    return "nothing" if amount is None else format_usd(amount)
