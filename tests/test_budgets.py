import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from wallets import budgets
from wallets.models import Budget

MONTH = datetime.date(2026, 11, 1)


@pytest.fixture
def small_budget(member, settings):
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "1.00"
    return budgets.member_budget(member.pk, MONTH)


def test_reserve_settle_and_release(small_budget, member):
    budgets.reserve(member.pk, MONTH, Decimal("0.40"))
    budgets.reserve(member.pk, MONTH, Decimal("0.40"))
    budgets.settle(member.pk, MONTH, Decimal("0.40"), Decimal("0.35"))
    budgets.release(member.pk, MONTH, Decimal("0.40"))
    small_budget.refresh_from_db()
    assert small_budget.reserved_usd == 0
    assert small_budget.spent_usd == Decimal("0.35")
    team = budgets.team_budget(MONTH)
    assert team.spent_usd == Decimal("0.35") and team.reserved_usd == 0


def test_a_reservation_over_the_limit_is_refused_and_holds_nothing(small_budget, member):
    budgets.reserve(member.pk, MONTH, Decimal("0.70"))
    with pytest.raises(budgets.BudgetExceeded, match=r"\$0.30 of \$1.00"):
        budgets.reserve(member.pk, MONTH, Decimal("0.31"))
    small_budget.refresh_from_db()
    assert small_budget.reserved_usd == Decimal("0.70")


def test_the_team_cap_binds_even_when_the_member_has_room(member, settings):
    settings.STUDIO_DEFAULT_TEAM_BUDGET_USD = "0.50"
    with pytest.raises(budgets.BudgetExceeded, match="team's budget"):
        budgets.reserve(member.pk, MONTH, Decimal("0.60"))
    assert budgets.member_budget(member.pk, MONTH).reserved_usd == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_overrun(member, settings):
    """20 threads race for a budget that fits 7 jobs: exactly 7 win (row locks on PostgreSQL)."""
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "7.00"
    budgets.member_budget(member.pk, MONTH)
    budgets.team_budget(MONTH)
    wins, barrier = [], threading.Barrier(20)

    def submit():
        barrier.wait()
        try:
            with transaction.atomic():
                budgets.reserve(member.pk, MONTH, Decimal("1.00"))
            wins.append(1)
        except budgets.BudgetExceeded:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 7
    assert Budget.objects.get(user=member, month=MONTH).reserved_usd == Decimal("7.00")


def test_many_small_amounts_add_up_exactly(member, settings):
    """0.1 + 0.2 is not 0.3 in binary floating point, which is what SQLite computes in."""
    settings.STUDIO_DEFAULT_MEMBER_BUDGET_USD = "0.70"
    amounts = [Decimal("0.1"), Decimal("0.2"), Decimal("0.4")]
    for amount in amounts:
        budgets.reserve(member.pk, MONTH, amount)  # exactly reaches the limit
    for amount in amounts:
        budgets.settle(member.pk, MONTH, amount, Decimal("0"))
    budget = budgets.member_budget(member.pk, MONTH)
    assert budget.reserved_usd == 0 and budget.spent_usd == 0
