"""A member's own usage: the month's figures, its split by model and day, and the forecast."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from jobs.models import Job
from review.usage import usage
from tests.web.ui_helpers import make_job
from wallets import budgets
from wallets.models import Budget

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 10, 12, 0, tzinfo=UTC)  # 9.5 days into a 31-day month
MONTH = datetime.date(2026, 12, 1)


def job(user, wallet, model, settled, finished, **fields):
    money = {"quoted_usd": settled, "settled_usd": settled, "budget_month": MONTH}
    return make_job(user, wallet, model_id=model, finished_at=finished, **money | fields)


@pytest.fixture
def month_of_work(member, other_member, wallet):
    day = lambda d, h=10: datetime.datetime(2026, 12, d, h, tzinfo=UTC)  # noqa: E731
    job(member, wallet, "elevenlabs-music", Decimal("4.5"), day(3))
    job(member, wallet, "elevenlabs-music", Decimal("2.5"), day(9))
    job(member, wallet, "elevenlabs-sound-effects-v2", Decimal("2"), day(9, 23))
    job(member, wallet, "elevenlabs-music", Decimal("0"), None, state=Job.State.FAILED)
    # Not this member's, or not this month's: not on the page.
    job(other_member, wallet, "elevenlabs-music", Decimal("50"), day(4))
    job(
        member,
        wallet,
        "elevenlabs-music",
        Decimal("7"),
        day(1),
        budget_month=datetime.date(2026, 11, 1),
    )
    budgets.member_budget(member.pk, MONTH)
    Budget.objects.filter(user=member, month=MONTH).update(
        limit_usd=Decimal("20"), spent_usd=Decimal("9"), reserved_usd=Decimal("1.25")
    )


@pytest.fixture
def other_member(django_user_model):
    return django_user_model.objects.create_user("other")


def test_the_months_figures_come_from_the_members_budget_and_settled_jobs(member, month_of_work):
    figures = usage(member.pk, now=NOW)
    assert figures.month == MONTH
    assert figures.budget.spent_usd == Decimal("9")
    assert figures.budget.reserved_usd == Decimal("1.25")
    assert figures.budget.remaining_usd == Decimal("9.75")
    assert figures.completed == 3
    assert figures.resets_at == datetime.datetime(2027, 1, 1, tzinfo=UTC)
    assert figures.use.percent == 51  # 10.25 of 20 held or spent


def test_spend_is_split_by_model_largest_first_and_by_every_day_so_far(member, month_of_work):
    figures = usage(member.pk, now=NOW)
    assert [(line.label, line.spend, line.charges) for line in figures.by_model] == [
        ("elevenlabs-music", Decimal("7"), 2),
        ("elevenlabs-sound-effects-v2", Decimal("2"), 1),
    ]
    assert [line.label for line in figures.by_day] == [f"2026-12-{d:02}" for d in range(1, 11)]
    spent = {line.label: line.spend for line in figures.by_day if line.spend}
    assert spent == {"2026-12-03": Decimal("4.5"), "2026-12-09": Decimal("4.5")}


def test_the_forecast_carries_the_pace_so_far_to_the_month_end(member, month_of_work):
    figures = usage(member.pk, now=NOW)
    # 9 USD in 9.5 days, over 31 days.
    assert figures.forecast_usd == Decimal("29.37")
    assert figures.forecast_over_limit
    # 9.75 left (the held 1.25 counts as used) at 0.947 a day: 10.3 days more.
    assert figures.runs_out_on == datetime.date(2026, 12, 20)


def test_a_budget_that_lasts_the_month_has_no_run_out_day(member, month_of_work):
    Budget.objects.filter(user=member, month=MONTH).update(limit_usd=Decimal("100"))
    figures = usage(member.pk, now=NOW)
    assert figures.runs_out_on is None and not figures.forecast_over_limit


def test_the_first_hours_of_a_month_are_not_extrapolated_as_a_whole_day(member, wallet):
    budgets.member_budget(member.pk, MONTH)
    Budget.objects.filter(user=member, month=MONTH).update(spent_usd=Decimal("2"))
    figures = usage(member.pk, now=datetime.datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert figures.forecast_usd == Decimal("62.00")  # 2 a day (not 48 a day) over 31 days


def test_a_member_with_nothing_this_month_sees_zeros(member, wallet):
    figures = usage(member.pk, now=NOW)
    assert figures.by_model == [] and figures.completed == 0
    assert figures.forecast_usd == 0 and figures.runs_out_on is None
