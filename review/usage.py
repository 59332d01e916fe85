"""A member's own usage this month (the page at /usage/): what they spent, what is left, when
the budget resets, on which models and days, where the month is heading at this pace, and the
takes they kept with what each keeper cost (review.keepers).

The figures are the budget's own (what enforcement counts: settled jobs, held reservations and
Venice's later corrections), so the page and a refused submission never disagree. The split by
model and by day comes from the member's settled jobs of the month.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from jobs.models import Job
from wallets import budgets
from wallets.models import Budget

from .keepers import BY_MODEL, KeeperLine, by_prompt, cost_per_keeper, total
from .spend import ZERO, Line, month_end, utc_today

# The pace of the first hours of a month says little: the forecast divides by at least a day.
MIN_ELAPSED_DAYS = 1.0


@dataclass(frozen=True)
class Usage:
    month: datetime.date
    budget: Budget
    team: Budget
    resets_at: datetime.datetime
    by_model: list[Line]
    by_day: list[Line]
    completed: int
    forecast_usd: Decimal
    runs_out_on: datetime.date | None
    keepers: list[KeeperLine]  # cost per keeper, by model
    keepers_by_prompt: list[KeeperLine]  # and by the library prompt the jobs came from
    kept: KeeperLine  # all the month's takes

    @property
    def use(self) -> budgets.BudgetUse:
        return budgets.BudgetUse(
            budget=self.budget,
            label="Yours",
            limit=self.budget.limit_usd,
            spent=self.budget.spent_usd,
            reserved=self.budget.reserved_usd,
        )

    @property
    def days_to_reset(self) -> int:
        return (self.resets_at.date() - utc_today()).days

    @property
    def forecast_over_limit(self) -> bool:
        return self.forecast_usd > self.budget.limit_usd


def usage(user_id: int, now: datetime.datetime | None = None) -> Usage:
    now = (now or timezone.now()).astimezone(datetime.UTC)
    month = budgets.month_of(now)
    last_day = month_end(month)
    budget = budgets.member_budget(user_id, month)
    per_model: dict[str, list] = defaultdict(lambda: [ZERO, 0])
    per_day: dict[datetime.date, list] = defaultdict(lambda: [ZERO, 0])
    completed = 0
    for model_id, state, settled, finished_at in Job.objects.filter(
        user_id=user_id, budget_month=month
    ).values_list("model_id", "state", "settled_usd", "finished_at"):
        completed += state == Job.State.COMPLETED
        if settled and finished_at:
            for sums, key in ((per_model, model_id), (per_day, finished_at.date())):
                sums[key][0] += settled
                sums[key][1] += 1
    by_model = sorted(
        (Line(key=k, label=k, charged=usd, charges=n) for k, (usd, n) in per_model.items()),
        key=lambda line: (-line.spend, line.label),
    )
    by_day = []
    for day in _days(month, min(now.date(), last_day)):
        usd, n = per_day.get(day, (ZERO, 0))
        by_day.append(Line(key=day.isoformat(), label=day.isoformat(), charged=usd, charges=n))
    forecast, runs_out_on = _forecast(budget, now, month, last_day)
    month_jobs = Job.objects.filter(user_id=user_id, budget_month=month)
    keepers = cost_per_keeper(month_jobs, BY_MODEL)
    return Usage(
        month=month,
        budget=budget,
        team=budgets.team_budget(month),
        resets_at=datetime.datetime.combine(
            last_day + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
        ),
        by_model=by_model,
        by_day=by_day,
        completed=completed,
        forecast_usd=forecast,
        runs_out_on=runs_out_on,
        keepers=keepers,
        keepers_by_prompt=by_prompt(month_jobs, seen_by=user_id),
        kept=total(keepers),
    )


def _days(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def _forecast(
    budget: Budget, now: datetime.datetime, month: datetime.date, last_day: datetime.date
) -> tuple[Decimal, datetime.date | None]:
    """Month-end spend if the month goes on at its pace so far, and the day the budget would
    run out at that pace (None if it lasts the month)."""
    start = datetime.datetime.combine(month, datetime.time.min, tzinfo=datetime.UTC)
    elapsed = max(MIN_ELAPSED_DAYS, (now - start).total_seconds() / 86400)
    days = last_day.day
    per_day = budget.spent_usd / Decimal(str(elapsed))
    forecast = (per_day * days).quantize(Decimal("0.01"))
    if per_day <= 0:
        return forecast, None
    left_days = (budget.limit_usd - budget.used_usd) / per_day
    runs_out = (now + datetime.timedelta(days=float(max(left_days, ZERO)))).date()
    return forecast, runs_out if runs_out <= last_day else None
