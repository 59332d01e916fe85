import datetime
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from tests.jobs_helpers import race
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

    def submit() -> bool:
        try:
            with transaction.atomic():
                budgets.reserve(member.pk, MONTH, Decimal("1.00"))
        except budgets.BudgetExceeded:
            return False
        return True

    wins = [won for won in race(submit, 20) if won]
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["settle", "release", "adjust"])
def test_a_submission_and_a_settlement_never_deadlock(change, member):
    """Every writer locks the member's row, then the team's. A submission that holds the
    member's row while a settlement (a single UPDATE of both rows, in table order: the team's,
    created first, then the member's) waits for it would deadlock, and PostgreSQL would abort
    one: a member's submit answering 500, or a finished job's settlement rolled back."""
    budgets.team_budget(MONTH)  # first in the table, as in a team whose first job was another's
    budgets.member_budget(member.pk, MONTH)
    budgets.reserve(member.pk, MONTH, Decimal("1.00"))
    holding, settling = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def submission():
        try:
            with transaction.atomic():
                budgets._hold(budgets.member_budget(member.pk, MONTH), Decimal("1.00"))
                holding.set()
                settling.wait(5)
                time.sleep(0.3)  # the settlement is now waiting on the member's row
                budgets._hold(budgets.team_budget(MONTH), Decimal("1.00"))
        except Exception as exc:  # noqa: BLE001 - the failure under test
            errors.append(exc)
        finally:
            connection.close()

    def settlement():
        holding.wait(5)
        settling.set()
        try:
            if change == "settle":
                budgets.settle(member.pk, MONTH, Decimal("1.00"), Decimal("1.00"))
            elif change == "release":
                budgets.release(member.pk, MONTH, Decimal("1.00"))
            else:
                budgets.adjust_spent(member.pk, MONTH, Decimal("0.25"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submission), threading.Thread(target=settlement)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    spent = {"settle": Decimal("1.00"), "release": 0, "adjust": Decimal("0.25")}[change]
    for budget in Budget.objects.filter(month=MONTH):
        assert budget.spent_usd == spent
        assert budget.reserved_usd == (Decimal("1.00") if change == "adjust" else 0) + 1
