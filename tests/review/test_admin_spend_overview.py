"""The spend overview: its sums equal the ledger's, split by member, model and day, and it shows
budgets, wallets and open differences."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

import httpx
import pytest
from django.db.models import F
from django.urls import reverse

from jobs import pipeline
from review import reconcile, spend
from review.models import Difference
from tests.jobs_helpers import MUSIC, run_to_end
from wallets.models import Budget, LedgerEntry
from wallets.money import usd

pytestmark = pytest.mark.django_db
URL = "/admin/review/spend/"


def ledger_sums(rows) -> dict:
    """Charges, refunds and net spend from LedgerEntry rows, in Python."""
    charged = sum((r.amount_usd for r in rows if r.type == "CHARGE"), Decimal("0"))
    refunded = sum((r.amount_usd for r in rows if r.type == "REFUND"), Decimal("0"))
    return {"charged": charged, "refunded": refunded, "spend": charged - refunded}


@pytest.fixture
def spent(wallet, member, admin_user, venice):
    """Two members' jobs (one refunded), a second model, and a charge nobody can explain."""
    for user, model_id, fields in (
        (member, "elevenlabs-music", MUSIC),
        (member, "elevenlabs-music", {**MUSIC, "prompt": "contraband swing"}),
        (
            admin_user,
            "elevenlabs-sound-effects-v2",
            {"prompt": "glass shattering on stone", "duration_seconds": 4},
        ),
    ):
        run_to_end(pipeline.create_job(user=user, model_id=model_id, fields=fields))
    httpx.post(
        f"{venice.base_url}/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": "CHARGE",
            "amount": "0.33",
            "requestId": "stranger",
            "modelId": "minimax-music-v25",
        },
    ).raise_for_status()
    reconcile.run()
    return spend.utc_today()


def test_the_overviews_sums_equal_the_ledgers(spent, member, admin_user):
    today = spent
    rows = list(LedgerEntry.objects.select_related("job"))
    assert {r.type for r in rows} == {"TOP_UP", "CHARGE", "REFUND"}
    expected = ledger_sums(rows)
    overview = spend.overview(today, today)
    for period in ("today", "month", "range"):
        totals = overview.totals[period]
        assert (totals.charged, totals.refunded, totals.spend) == (
            expected["charged"],
            expected["refunded"],
            expected["spend"],
        )
    assert overview.totals["range"].topped_up == sum(
        r.amount_usd for r in rows if r.type == "TOP_UP"
    )
    assert overview.totals["range"] == spend.ledger_totals(today, today)

    # By member: through each row's job; the stranger's charge is unattributed.
    per_member = defaultdict(list)
    for row in rows:
        if row.type != "TOP_UP":
            per_member[row.job.user.username if row.job else "Unattributed"].append(row)
    assert {line.label: line.spend for line in overview.members} == {
        name: ledger_sums(member_rows)["spend"] for name, member_rows in per_member.items()
    }
    assert {line.label for line in overview.members} == {"member", "admin", "Unattributed"}
    # member's refunded job cost nothing: only the first job counts.
    assert next(line for line in overview.members if line.label == "member").refunded > 0

    # By model and by day: the same total, split differently.
    assert {line.label for line in overview.models} == {
        "elevenlabs-music",
        "elevenlabs-sound-effects-v2",
        "minimax-music-v25",
    }
    assert sum(line.spend for line in overview.models) == expected["spend"]
    assert sum(line.spend for line in overview.members) == expected["spend"]
    assert [line.key for line in overview.days] == [today.isoformat()]
    assert overview.days[0].spend == expected["spend"]
    assert overview.open_differences == 1  # the stranger's charge


def test_ranges_follow_utc_days(wallet, member):
    """Rows on several days (inserted directly): each range sums exactly its own days."""
    today = spend.utc_today()
    start_of_day = datetime.datetime.combine(today, datetime.time.min, tzinfo=datetime.UTC)
    amounts = {
        -40: "1.000001",
        -31: "2.5",
        -1: "0.25",
        0: "0.125",
    }
    for offset, amount in amounts.items():
        for seconds in (0, 86399):  # the first and the last second of the day
            LedgerEntry.objects.create(
                wallet=wallet,
                venice_id=f"{offset}-{seconds}",
                type="CHARGE",
                amount_usd=Decimal(amount),
                model_id="elevenlabs-music",
                created_at=start_of_day + datetime.timedelta(days=offset, seconds=seconds),
            )
    last_30 = spend.totals(today - datetime.timedelta(days=29), today)
    assert last_30.charged == Decimal("0.75") and last_30.charges == 4
    everything = spend.totals(today - datetime.timedelta(days=40), today)
    assert everything.charged == Decimal("7.750002")
    assert everything == spend.ledger_totals(today - datetime.timedelta(days=40), today)
    days = spend.by_day(today - datetime.timedelta(days=40), today)
    assert len(days) == 41 and sum(d.spend for d in days) == everything.spend
    assert days[0].spend == Decimal("2.000002") and days[-1].spend == Decimal("0.25")


def test_the_page_shows_totals_budgets_wallets_and_warnings(
    staff_client, client, admin_user, spent, member
):
    Budget.objects.filter(user=member).update(limit_usd=F("spent_usd") / Decimal("0.9"))
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    overview = response.context["overview"]
    range_spend = usd(overview.totals["range"].spend)
    assert f'id="spend-range">{range_spend}<' in page
    assert f'id="spend-today">{range_spend}<' in page
    assert "1 open difference" in page
    use = next(u for u in overview.budgets if u.label == "member")
    assert use.level == "warning" and 80 <= use.percent < 100
    assert f"member has used {use.percent} % of their" in page
    assert "<svg" in page and "Spend per day" in page
    assert "USDC on chain" in page and "Next top-up" in page
    assert "team" in page  # the wallet


def test_a_chosen_range_and_wallet(staff_client, client, admin_user, spent, wallet):
    day = spent - datetime.timedelta(days=3)
    response = client.get(URL, {"start": day, "end": day, "wallet": wallet.pk})
    overview = response.context["overview"]
    assert (overview.start, overview.end, overview.wallet) == (day, day, wallet)
    assert overview.totals["range"].spend == 0 and overview.members == []
    bad = client.get(URL, {"start": spent, "end": day})
    assert "The range starts after it ends." in bad.content.decode()


def test_drilldown_links_lead_to_the_same_rows(staff_client, client, admin_user, spent):
    links = client.get(URL).context["links"]
    for line, link in links["members"]:
        listed = client.get(link)
        assert listed.status_code == 200
        total = sum(
            (r.amount_usd if r.type == "CHARGE" else -r.amount_usd)
            for r in listed.context["cl"].queryset
        )
        assert total == line.spend, link


def test_the_admin_index_links_the_overview(staff_client, client, admin_user, spent):
    page = client.get(reverse("admin:index")).content.decode()
    assert URL in page and "1 open difference" in page
    assert Difference.objects.count() == 1
