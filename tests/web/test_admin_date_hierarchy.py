"""The admin lists' date hierarchy walks the index instead of a DISTINCT over every row, and
offers exactly the years, months and days Django's own would."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import QuerySet

from wallets import keys
from wallets.admin.dates import LooseDatesQuerySet
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    wallet = keys.create_evm_wallet("team", make_default=True)
    start = datetime.datetime(2024, 11, 30, 23, 59, 59, tzinfo=datetime.UTC)
    for n in range(60):
        LedgerEntry.objects.create(
            wallet=wallet,
            venice_id=f"v{n}",
            type="CHARGE" if n % 3 else "REFUND",
            amount_usd=Decimal("1"),
            created_at=start + datetime.timedelta(days=n * 7, seconds=n),
        )


@pytest.mark.parametrize("kind", ["year", "month", "day"])
@pytest.mark.parametrize("filters", [{}, {"type": "REFUND"}, {"created_at__year": 2025}])
def test_the_same_periods_as_djangos(rows, kind, filters):
    django_qs = LedgerEntry.objects.filter(**filters)
    loose = LooseDatesQuerySet(model=LedgerEntry, query=django_qs.query.chain())
    expected = list(QuerySet.datetimes(django_qs, "created_at", kind))
    assert loose.datetimes("created_at", kind) == expected
    assert expected  # the case is not empty


def test_the_ledger_list_uses_it(staff_client, client, admin_user, rows):
    page = client.get("/admin/wallets/ledgerentry/").content.decode()
    assert "?created_at__year=2024" in page and "?created_at__year=2026" in page
    months = client.get("/admin/wallets/ledgerentry/", {"created_at__year": 2025}).content
    assert months.decode().count("created_at__month=") == 12
