"""The admin spend overview's figures: what was spent, on what, by whom, against which budget.

"Spend" is Venice's own ledger: CHARGE rows minus REFUND rows (LedgerEntry), attributed to a
member and a model through the job the row is linked to; rows without a job are
"unattributed". Days are UTC days, like the top-up policy's.

The figures are read from SpendSummary, sums of LedgerEntry per day and per month that database
triggers keep exact (wallets/migrations/0002): a range reads its whole months from the monthly
sums and only its partial months from the daily ones, so the overview costs about the same with
a thousand ledger rows or a million, for a week or a year. ``ledger_totals`` computes the same
sums straight from LedgerEntry, for checks.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from venice.payments import MIN_TOP_UP_USD

from .models import (
    OPEN_DIFFERENCE,
    Budget,
    Difference,
    LedgerEntry,
    ReconcileRun,
    SpendSummary,
    Wallet,
)

ZERO = Decimal("0")
UNATTRIBUTED = "Unattributed"
# Budget use at or above these fractions of the limit is flagged.
WARN_AT = Decimal("0.8")
FULL_AT = Decimal("1")
CHARGE, REFUND, TOP_UP = LedgerEntry.Type.CHARGE, LedgerEntry.Type.REFUND, LedgerEntry.Type.TOP_UP
DAY, MONTH, DAY_TOTAL = (
    SpendSummary.Grain.DAY,
    SpendSummary.Grain.MONTH,
    SpendSummary.Grain.DAY_TOTAL,
)


# --- dates --------------------------------------------------------------------------------------


def utc_today() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def month_end(day: datetime.date) -> datetime.date:
    following = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following - datetime.timedelta(days=1)


def day_bounds(start: datetime.date, end: datetime.date) -> tuple[datetime.datetime, ...]:
    """[start 00:00 UTC, the day after end 00:00 UTC): the instants of an inclusive day range."""
    begin = datetime.datetime.combine(start, datetime.time.min, tzinfo=datetime.UTC)
    after = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
    )
    return begin, after


# --- sums ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    charged: Decimal = ZERO
    refunded: Decimal = ZERO
    topped_up: Decimal = ZERO
    charges: int = 0
    refunds: int = 0
    topups: int = 0

    @property
    def spend(self) -> Decimal:
        return self.charged - self.refunded


@dataclass(frozen=True)
class Line:
    """One row of a breakdown (a member, a model or a day)."""

    key: str
    label: str
    charged: Decimal = ZERO
    refunded: Decimal = ZERO
    charges: int = 0
    refunds: int = 0
    topped_up: Decimal = ZERO  # days only: top-ups are not spend, nobody's or any model's
    topups: int = 0

    @property
    def spend(self) -> Decimal:
        return self.charged - self.refunded


def _usd(value) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(Decimal("0.000001"))


def _summary(
    grain: str, start: datetime.date, end: datetime.date, wallet: Wallet | None
) -> QuerySet:
    rows = SpendSummary.objects.filter(grain=grain, day__range=(start, end))
    return rows.filter(wallet=wallet) if wallet is not None else rows


def split_months(
    start: datetime.date, end: datetime.date
) -> tuple[tuple[datetime.date, datetime.date] | None, list[tuple[datetime.date, datetime.date]]]:
    """The whole months inside [start, end] (the first days of the first and the last of them),
    and the day ranges left over at either end."""
    one_day = datetime.timedelta(days=1)
    first = start if start.day == 1 else month_end(start) + one_day
    last = month_start(end if end == month_end(end) else month_start(end) - one_day)
    if first > last:
        return None, [(start, end)]
    edges = []
    if start < first:
        edges.append((start, first - one_day))
    if month_end(last) < end:
        edges.append((month_end(last) + one_day, end))
    return (first, last), edges


def totals(start: datetime.date, end: datetime.date, *, wallet: Wallet | None = None) -> Totals:
    return many_totals({"range": (start, end)}, wallet=wallet)["range"]


def many_totals(
    periods: dict[str, tuple[datetime.date, datetime.date]], *, wallet: Wallet | None = None
) -> dict[str, Totals]:
    """Totals for several (possibly overlapping) day ranges in one query."""
    low = min(start for start, _ in periods.values())
    high = max(end for _, end in periods.values())
    aggregates = {}
    for name, (start, end) in periods.items():
        for kind in (CHARGE, REFUND, TOP_UP):
            where = Q(day__range=(start, end), type=kind)
            aggregates[f"{name}__{kind}__usd"] = Sum("amount_usd", filter=where)
            aggregates[f"{name}__{kind}__n"] = Sum("entries", filter=where)
    sums = _summary(DAY_TOTAL, low, high, wallet).aggregate(**aggregates)
    return {
        name: Totals(
            charged=_usd(sums[f"{name}__{CHARGE}__usd"]),
            refunded=_usd(sums[f"{name}__{REFUND}__usd"]),
            topped_up=_usd(sums[f"{name}__{TOP_UP}__usd"]),
            charges=int(sums[f"{name}__{CHARGE}__n"] or 0),
            refunds=int(sums[f"{name}__{REFUND}__n"] or 0),
            topups=int(sums[f"{name}__{TOP_UP}__n"] or 0),
        )
        for name in periods
    }


_FIELDS = {
    CHARGE: ("charged", "charges"),
    REFUND: ("refunded", "refunds"),
    TOP_UP: ("topped_up", "topups"),
}


def _lines(rows, key: str) -> dict[str, dict]:
    out: dict[str, dict] = defaultdict(dict)
    for row in rows:
        line = out[str(row[key])]
        usd, count = _FIELDS[row["type"]]
        line[usd] = line.get(usd, ZERO) + _usd(row["usd"])
        line[count] = line.get(count, 0) + int(row["n"])
    return out


def _grouped(start, end, wallet, key: str, *, grain: str, types=(CHARGE, REFUND)):
    return (
        _summary(grain, start, end, wallet)
        .filter(type__in=list(types))
        .values(key, "type")
        .annotate(usd=Sum("amount_usd"), n=Sum("entries"))
        .order_by()
    )


def _grouped_range(start, end, wallet, key: str) -> list[dict]:
    """Sums per `key` over [start, end]: whole months from the monthly sums, the rest by day."""
    months, edges = split_months(start, end)
    rows = []
    if months:
        rows += _grouped(months[0], months[1], wallet, key, grain=MONTH)
    for first, last in edges:
        rows += _grouped(first, last, wallet, key, grain=DAY)
    return rows


def _by_spend(lines: list[Line]) -> list[Line]:
    # Rows whose every ledger row moved elsewhere (a job linked later) leave empty sums behind.
    kept = [line for line in lines if line.charges or line.refunds]
    return sorted(kept, key=lambda line: (-line.spend, line.label))


def by_member(start: datetime.date, end: datetime.date, *, wallet: Wallet | None = None):
    sums = _lines(_grouped_range(start, end, wallet, "user_key"), "user_key")
    ids = [int(key) for key in sums if key != "0"]
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return _by_spend(
        [
            Line(
                key=key,
                label=UNATTRIBUTED if key == "0" else names.get(int(key), f"user {key}"),
                **values,
            )
            for key, values in sums.items()
        ]
    )


def by_model(start: datetime.date, end: datetime.date, *, wallet: Wallet | None = None):
    sums = _lines(_grouped_range(start, end, wallet, "model_key"), "model_key")
    return _by_spend(
        [Line(key=key, label=key or UNATTRIBUTED, **values) for key, values in sums.items()]
    )


def by_day(start: datetime.date, end: datetime.date, *, wallet: Wallet | None = None):
    """Every day of the range, oldest first, days without spend included (as zeros)."""
    rows = _grouped(start, end, wallet, "day", grain=DAY_TOTAL, types=(CHARGE, REFUND, TOP_UP))
    sums = _lines(rows, "day")
    days = []
    day = start
    while day <= end:
        key = day.isoformat()
        days.append(Line(key=key, label=key, **sums.get(key, {})))
        day += datetime.timedelta(days=1)
    return days


def ledger_totals(
    start: datetime.date, end: datetime.date, *, wallet: Wallet | None = None
) -> Totals:
    """The same totals straight from LedgerEntry (slow on big ledgers: for checks and tests)."""
    begin, after = day_bounds(start, end)
    rows = LedgerEntry.objects.filter(created_at__gte=begin, created_at__lt=after)
    if wallet is not None:
        rows = rows.filter(wallet=wallet)
    sums = {
        row["type"]: row
        for row in rows.values("type").annotate(usd=Sum("amount_usd"), n=Count("pk")).order_by()
    }

    def pick(kind):
        row = sums.get(kind, {})
        return _usd(row.get("usd")), int(row.get("n", 0))

    (charged, charges), (refunded, refunds), (topped_up, topups) = (
        pick(CHARGE),
        pick(REFUND),
        pick(TOP_UP),
    )
    return Totals(charged, refunded, topped_up, charges, refunds, topups)


# --- budgets ------------------------------------------------------------------------------------


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
        return Decimal("1") if self.used > 0 else ZERO

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
        for budget in Budget.objects.filter(month=month_start(month)).select_related("user")
    ]
    return sorted(uses, key=lambda use: (not use.is_team, -use.fraction, use.label))


# --- wallets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextTopUp:
    amount: Decimal | None
    when: str
    problem: str = ""


def next_topup(wallet: Wallet, *, topped_up_today: Decimal | None = None) -> NextTopUp:
    """What the worker's top-up policy (payments.ensure_credit) would do next, in words."""
    from . import payments

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

    @property
    def left_today(self) -> Decimal:
        return max(ZERO, self.wallet.max_topup_per_day_usd - self.topped_up_today)


def wallet_status(wallet: Wallet) -> WalletStatus:
    from . import payments

    today = payments.spent_today(wallet) if wallet.is_evm else ZERO
    return WalletStatus(wallet, today, next_topup(wallet, topped_up_today=today))


# --- the page -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    start: datetime.date
    end: datetime.date
    today: datetime.date
    wallet: Wallet | None
    totals: dict[str, Totals]
    days: list[Line]
    members: list[Line]
    models: list[Line]
    budgets: list[BudgetUse]
    wallets: list[WalletStatus]
    open_differences: int
    last_run: ReconcileRun | None
    warnings: list[BudgetUse] = field(default_factory=list)


def open_differences() -> QuerySet:
    return Difference.objects.filter(OPEN_DIFFERENCE)


def overview(
    start: datetime.date,
    end: datetime.date,
    *,
    wallet: Wallet | None = None,
    today: datetime.date | None = None,
) -> Overview:
    today = today or utc_today()
    days = by_day(start, end, wallet=wallet)
    # Today and this month in one small query; the range's totals are the sum of its days.
    totals = many_totals(
        {"today": (today, today), "month": (month_start(today), today)}, wallet=wallet
    )
    totals["range"] = Totals(
        charged=sum((day.charged for day in days), ZERO),
        refunded=sum((day.refunded for day in days), ZERO),
        topped_up=sum((day.topped_up for day in days), ZERO),
        charges=sum(day.charges for day in days),
        refunds=sum(day.refunds for day in days),
        topups=sum(day.topups for day in days),
    )
    budgets = budget_use(today)
    wallets = Wallet.objects.order_by("-is_default", "name")
    return Overview(
        start=start,
        end=end,
        today=today,
        wallet=wallet,
        totals=totals,
        days=days,
        members=by_member(start, end, wallet=wallet),
        models=by_model(start, end, wallet=wallet),
        budgets=budgets,
        wallets=[wallet_status(w) for w in (wallets.filter(pk=wallet.pk) if wallet else wallets)],
        open_differences=open_differences().count(),
        last_run=ReconcileRun.objects.first(),
        warnings=[use for use in budgets if use.level != "ok"],
    )


# --- keeping the summary honest -----------------------------------------------------------------

# The summary as the triggers build it; SQLite sums decimals in floating point, so it rounds to
# the fields' six places like the triggers do.
_VENDOR = {
    "postgresql": {
        "day": "(l.created_at AT TIME ZONE 'UTC')::date",
        "month": "date_trunc('month', l.created_at AT TIME ZONE 'UTC')::date",
        "sum": "SUM(l.amount_usd)",
    },
    "sqlite": {
        "day": "date(l.created_at)",
        "month": "date(l.created_at, 'start of month')",
        "sum": "ROUND(SUM(l.amount_usd), 6)",
    },
}
_GRAIN_SELECT = """
    SELECT '{grain}' AS grain, {day} AS day, l.wallet_id AS wallet_id, l.type AS type,
           {user} AS user_key, {model} AS model_key, {sum} AS amount_usd, COUNT(*) AS entries
    FROM wallets_ledgerentry l LEFT JOIN jobs_job j ON j.id = l.job_id
    GROUP BY 1, 2, 3, 4, 5, 6
"""
_MEMBER = "COALESCE(j.user_id, 0)"
_MODEL = "COALESCE(NULLIF(j.model_id, ''), l.model_id, '')"


def _summary_select() -> str:
    vendor = _VENDOR[connection.vendor]
    grains = [
        (DAY, vendor["day"], _MEMBER, _MODEL),
        (MONTH, vendor["month"], _MEMBER, _MODEL),
        (DAY_TOTAL, vendor["day"], "-1", "''"),
    ]
    return " UNION ALL ".join(
        _GRAIN_SELECT.format(grain=grain, day=day, user=user, model=model, sum=vendor["sum"])
        for grain, day, user, model in grains
    )


def rollup_drift() -> int:
    """How many SpendSummary rows differ from a fresh summary of LedgerEntry (0 when in step).

    One statement, so on PostgreSQL both sides are read from the same snapshot.
    """
    sql = f"""
        SELECT COUNT(*) FROM (
            SELECT grain, day, wallet_id, type, user_key, model_key
            FROM (
                SELECT grain, day, wallet_id, type, user_key, model_key, amount_usd, entries
                FROM ({_summary_select()}) fresh
                UNION ALL
                SELECT grain, day, wallet_id, type, user_key, model_key, -amount_usd, -entries
                FROM wallets_spendsummary
            ) both_sides
            GROUP BY grain, day, wallet_id, type, user_key, model_key
            HAVING ABS(SUM(amount_usd)) > 0.0000005 OR SUM(entries) <> 0
        ) drift
    """  # noqa: S608 - no user input: table names and per-vendor date expressions
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def rebuild_rollup() -> None:
    """Recompute SpendSummary from LedgerEntry (a repair; the triggers keep it exact otherwise)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Ledger writes wait until the summary is rebuilt, so none is counted twice or lost.
            cursor.execute("LOCK TABLE wallets_ledgerentry IN SHARE MODE")
        cursor.execute("DELETE FROM wallets_spendsummary")
        cursor.execute(
            "INSERT INTO wallets_spendsummary "
            "(grain, day, wallet_id, type, user_key, model_key, amount_usd, entries) "
            + _summary_select()
        )
