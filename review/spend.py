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
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from wallets import runway
from wallets.budgets import BudgetUse, budget_use
from wallets.models import BudgetRequest, LedgerEntry, Wallet
from wallets.policy import WalletStatus, wallet_status

from .models import OPEN_DIFFERENCE, Difference, ReconcileRun, SpendSummary

ZERO = Decimal("0")
UNATTRIBUTED = "Unattributed"
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


# --- the month-end forecast ----------------------------------------------------------------------
# Month to date plus the rest of the month at the last FORECAST_DAYS whole days' mean daily
# spend; the range is that mean less and plus one standard deviation of those days, so a steady
# team gets a narrow range and a bursty one a wide one.

FORECAST_DAYS = 7
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Forecast:
    month_to_date: Decimal
    per_day: Decimal
    days_left: float
    expected: Decimal
    low: Decimal
    high: Decimal


def month_end_forecast(
    now: datetime.datetime, *, wallet: Wallet | None = None, spent: Decimal | None = None
) -> Forecast:
    """`spent`: the month to date, where the caller has it already."""
    now = now.astimezone(datetime.UTC)
    today = now.date()
    if spent is None:
        spent = totals(month_start(today), today, wallet=wallet).spend
    recent = [
        line.spend
        for line in by_day(
            today - datetime.timedelta(days=FORECAST_DAYS),
            today - datetime.timedelta(days=1),
            wallet=wallet,
        )
    ]
    mean = sum(recent, ZERO) / len(recent)
    spread = Decimal(str(statistics.pstdev(float(value) for value in recent)))
    month_over = datetime.datetime.combine(
        month_end(today) + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
    )
    days_left = (month_over - now).total_seconds() / 86400
    left = Decimal(str(days_left))

    def at(pace: Decimal) -> Decimal:
        return (spent + left * max(pace, ZERO)).quantize(CENTS)

    return Forecast(
        month_to_date=spent,
        per_day=mean.quantize(CENTS),
        days_left=days_left,
        expected=at(mean),
        low=at(mean - spread),
        high=at(mean + spread),
    )


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
    forecast: Forecast
    waiting_requests: int
    warnings: list[BudgetUse] = field(default_factory=list)


def _burns(today: datetime.date) -> dict[int, Decimal]:
    """Each wallet's net spend per day over runway.BURN_DAYS days, from the daily sums."""
    first = today - datetime.timedelta(days=runway.BURN_DAYS - 1)
    net: dict[int, Decimal] = defaultdict(lambda: ZERO)
    rows = _grouped(first, today, None, "wallet_id", grain=DAY_TOTAL)
    for row in rows:
        net[row["wallet_id"]] += _usd(row["usd"]) * (1 if row["type"] == CHARGE else -1)
    return {wallet_id: runway.net_per_day(usd) for wallet_id, usd in net.items()}


def _moment_of(today: datetime.date) -> datetime.datetime:
    """Now, or midday of the day the overview is drawn for (tests draw past days)."""
    now = timezone.now()
    if now.astimezone(datetime.UTC).date() == today:
        return now
    return datetime.datetime.combine(today, datetime.time(12), tzinfo=datetime.UTC)


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
    burns = _burns(today)
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
        wallets=[
            wallet_status(w, burn=burns.get(w.pk, ZERO))
            for w in (wallets.filter(pk=wallet.pk) if wallet else wallets)
        ],
        open_differences=open_differences().count(),
        last_run=ReconcileRun.objects.first(),
        forecast=month_end_forecast(_moment_of(today), wallet=wallet, spent=totals["month"].spend),
        waiting_requests=BudgetRequest.objects.filter(status=BudgetRequest.Status.PENDING).count(),
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
