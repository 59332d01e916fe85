"""Monthly budgets, reserved and settled atomically.

Every change is a single conditional UPDATE, so two submissions racing for the last dollars
cannot both pass: on PostgreSQL the UPDATE takes the row lock and re-checks its WHERE against
the committed row; on SQLite the IMMEDIATE transaction serialises writers.

SQLite does decimal arithmetic in binary floating point, so every sum is rounded in SQL to the
fields' six places: 0.1 + 0.2 - 0.3 must be 0 there too, not -5.6e-17 (which the CHECK
constraint would refuse) or a hair over a limit it exactly meets.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Round

from .models import Budget


class BudgetExceeded(Exception):
    def __init__(self, budget: Budget, amount: Decimal):
        self.budget = budget
        self.amount = amount
        whose = "your" if budget.user_id else "the team's"
        super().__init__(
            f"This job's price (${amount:.2f}) is more than what is left of {whose} budget for "
            f"{budget.month:%B %Y} (${budget.remaining_usd:.2f} of ${budget.limit_usd:.2f})."
        )


def _usd(expression):
    return Round(expression, 6)


def month_of(moment: datetime.datetime | datetime.date) -> datetime.date:
    return datetime.date(moment.year, moment.month, 1)


def _get_or_create(user_id: int | None, month: datetime.date) -> Budget:
    default = (
        settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD
        if user_id
        else settings.STUDIO_DEFAULT_TEAM_BUDGET_USD
    )
    try:
        with transaction.atomic():
            budget, _ = Budget.objects.get_or_create(
                user_id=user_id, month=month, defaults={"limit_usd": Decimal(default)}
            )
    except IntegrityError:  # created concurrently
        budget = Budget.objects.get(user_id=user_id, month=month)
    return budget


def member_budget(user_id: int, month: datetime.date) -> Budget:
    return _get_or_create(user_id, month)


def team_budget(month: datetime.date) -> Budget:
    return _get_or_create(None, month)


def reserve(user_id: int, month: datetime.date, amount: Decimal) -> None:
    """Hold `amount` against the member's and the team's budget, or raise BudgetExceeded.

    Call inside the transaction that creates the job, so a rolled-back submission holds
    nothing; a refusal by either budget undoes the other's hold here already.
    """
    member, team = member_budget(user_id, month), team_budget(month)
    with transaction.atomic():
        for budget in (member, team):
            _hold(budget, amount)


def _hold(budget: Budget, amount: Decimal) -> None:
    held = (
        Budget.objects.filter(pk=budget.pk)
        .alias(after=_usd(F("reserved_usd") + F("spent_usd") + amount))
        .filter(after__lte=F("limit_usd"))
        .update(reserved_usd=_usd(F("reserved_usd") + amount))
    )
    if not held:
        budget.refresh_from_db()
        raise BudgetExceeded(budget, amount)


def _update_both(user_id: int, month: datetime.date, **changes) -> None:
    """Change the member's row, then the team's, as `reserve` does: writers that take the two
    row locks in one order never deadlock. (One UPDATE of both would lock them in table order,
    and PostgreSQL would abort one of two such writers.)"""
    with transaction.atomic():
        Budget.objects.filter(month=month, user_id=user_id).update(**changes)
        Budget.objects.filter(month=month, user__isnull=True).update(**changes)


def release(user_id: int, month: datetime.date, reserved: Decimal) -> None:
    """Give back a reservation (job failed before being charged, or cancelled)."""
    if reserved:
        _update_both(user_id, month, reserved_usd=_usd(F("reserved_usd") - reserved))


def settle(user_id: int, month: datetime.date, reserved: Decimal, spent: Decimal) -> None:
    """Turn a reservation into what the job really cost (which may be zero)."""
    _update_both(
        user_id,
        month,
        reserved_usd=_usd(F("reserved_usd") - reserved),
        spent_usd=_usd(F("spent_usd") + spent),
    )


def adjust_spent(user_id: int, month: datetime.date, delta: Decimal) -> None:
    """Apply a late correction from Venice's ledger (a refund, or a charge unlike the quote)."""
    if delta:
        _update_both(user_id, month, spent_usd=_usd(F("spent_usd") + delta))


# --- how much of a budget is used (the admin's meters) ------------------------------------------

# Budget use at or above these fractions of the limit is flagged.
WARN_AT = Decimal("0.8")
FULL_AT = Decimal("1")


@dataclass(frozen=True)
class BudgetUse:
    budget: Budget
    label: str
    limit: Decimal
    spent: Decimal
    reserved: Decimal

    @property
    def used(self) -> Decimal:
        return self.spent + self.reserved

    @property
    def fraction(self) -> Decimal:
        if self.limit > 0:
            return self.used / self.limit
        return Decimal("1") if self.used > 0 else Decimal("0")

    @property
    def percent(self) -> int:
        return int((self.fraction * 100).to_integral_value(rounding="ROUND_FLOOR"))

    @property
    def level(self) -> str:
        """ "full" at 100 % of the limit (or a zero limit), "warning" from 80 %, else "ok"."""
        if self.fraction >= FULL_AT or (self.limit <= 0):
            return "full"
        return "warning" if self.fraction >= WARN_AT else "ok"

    @property
    def is_team(self) -> bool:
        return self.budget.user_id is None


def budget_use(month: datetime.date) -> list[BudgetUse]:
    """The month's budgets: the team's first, then members by how much of theirs is used."""
    uses = [
        BudgetUse(
            budget=budget,
            label="Team" if budget.user_id is None else budget.user.get_username(),
            limit=budget.limit_usd,
            spent=budget.spent_usd,
            reserved=budget.reserved_usd,
        )
        for budget in Budget.objects.filter(month=month_of(month)).select_related("user")
    ]
    return sorted(uses, key=lambda use: (not use.is_team, -use.fraction, use.label))
