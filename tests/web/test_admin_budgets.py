"""Budgets in the admin: limits are edited (and audited); reserved and spent are read-only and
never written back by a save."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import F

from review import spend
from wallets import budgets
from wallets.models import AuditEntry, Budget

pytestmark = pytest.mark.django_db
LIST = "/admin/wallets/budget/"


@pytest.fixture
def budget(member):
    month = spend.month_start(spend.utc_today())
    return Budget.objects.create(
        user=member,
        month=month,
        limit_usd=Decimal("25"),
        reserved_usd=Decimal("1.5"),
        spent_usd=Decimal("20.25"),
    )


def test_change_a_limit_audited_without_touching_reserved_or_spent(
    staff_client, admin_user, budget
):
    page = staff_client.get(f"{LIST}{budget.pk}/change/").content.decode()
    assert 'name="limit_usd"' in page
    assert 'name="spent_usd"' not in page and 'name="reserved_usd"' not in page
    # A job settles while the form is open.
    Budget.objects.filter(pk=budget.pk).update(spent_usd=F("spent_usd") + Decimal("0.5"))
    response = staff_client.post(
        f"{LIST}{budget.pk}/change/",
        {"limit_usd": "40", "spent_usd": "0", "reserved_usd": "0"},  # the last two are ignored
    )
    assert response.status_code == 302
    budget.refresh_from_db()
    assert budget.limit_usd == Decimal("40")
    assert (budget.spent_usd, budget.reserved_usd) == (Decimal("20.75"), Decimal("1.5"))
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action) == (admin_user, AuditEntry.Action.BUDGET_CHANGE)
    assert (entry.before, entry.after) == ({"limit_usd": "25.00"}, {"limit_usd": "40.00"})


def test_change_limits_from_the_list(staff_client, budget, admin_user):
    team = Budget.objects.create(user=None, month=budget.month, limit_usd=Decimal("500"))
    rows = list(Budget.objects.order_by("-month", "user__username"))
    data = {
        "form-TOTAL_FORMS": len(rows),
        "form-INITIAL_FORMS": len(rows),
        "form-MIN_NUM_FORMS": 0,
        "form-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    for i, row in enumerate(rows):
        data[f"form-{i}-id"] = row.pk
        data[f"form-{i}-limit_usd"] = "600" if row == team else str(row.limit_usd)
    assert staff_client.post(LIST, data).status_code == 302
    team.refresh_from_db()
    assert team.limit_usd == Decimal("600")
    entry = AuditEntry.objects.get()
    assert entry.object_repr.startswith("Team") and entry.after == {"limit_usd": "600.00"}


def test_lowering_a_limit_below_its_use_warns(staff_client, budget):
    response = staff_client.post(f"{LIST}{budget.pk}/change/", {"limit_usd": "10"}, follow=True)
    assert "new jobs will be refused this month" in response.content.decode()


def test_add_a_team_budget_for_next_month(staff_client, admin_user, budget):
    next_month = spend.month_end(budget.month) + datetime.timedelta(days=15)
    response = staff_client.post(
        f"{LIST}add/", {"month": next_month.isoformat(), "limit_usd": "750"}
    )
    assert response.status_code == 302
    created = Budget.objects.get(user=None)
    assert created.month == next_month.replace(day=1) and created.limit_usd == Decimal("750")
    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.BUDGET_CREATE and entry.actor == admin_user
    # A second team budget for that month is refused.
    again = staff_client.post(f"{LIST}add/", {"month": next_month.isoformat(), "limit_usd": "1"})
    assert again.status_code == 200 and Budget.objects.filter(user=None).count() == 1


def test_the_list_flags_budgets_from_80_percent(staff_client, budget, member):
    page = staff_client.get(LIST).content.decode()
    assert '<span class="budget-level warning">87 %</span>' in page  # (20.25 + 1.5) / 25
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("20"))
    assert '<span class="budget-level full">108 %</span>' in staff_client.get(LIST).content.decode()


def test_budgets_are_not_deleted(staff_client, budget):
    assert staff_client.get(f"{LIST}{budget.pk}/delete/").status_code == 403


def test_budget_levels():
    def use(limit, spent, reserved="0"):
        return budgets.BudgetUse(None, "x", Decimal(limit), Decimal(spent), Decimal(reserved))

    assert use("10", "7.99").level == "ok"
    assert use("10", "7", "1").level == "warning" and use("10", "7", "1").percent == 80
    assert use("10", "10").level == "full" and use("10", "12").percent == 120
    assert use("0", "0").level == "full"  # a zero budget allows nothing
