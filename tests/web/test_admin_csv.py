"""CSV export gives exactly the rows of the filtered, searched and sorted admin list."""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from jobs.models import Job
from review.models import Difference
from wallets import keys
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def listed(client, url: str, params: dict) -> list:
    response = client.get(url, params)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.result_count == len(cl.result_list)  # everything on one page
    return list(cl.result_list)


@pytest.fixture
def ledger(db, django_user_model):
    """A hundred ledger rows: two members, two models, an unattributed charge, refunds, days."""
    wallet = keys.create_evm_wallet("team", make_default=True)
    ana = django_user_model.objects.create_user("ana", password="ana-pass-123")
    ben = django_user_model.objects.create_user("ben", password="ben-pass-123")
    now = timezone.now()
    month = now.date().replace(day=1)
    for i in range(100):
        user = ana if i % 3 else ben
        model = "elevenlabs-music" if i % 2 else "elevenlabs-tts-v4"
        job = Job.objects.create(
            user=user,
            wallet=wallet,
            model_id=model,
            prompt=f"prompt number {i}",
            quoted_usd=Decimal("0.5"),
            budget_month=month,
            queue_id=f"q{i}",
            state=Job.State.FAILED if i % 10 == 0 else Job.State.COMPLETED,
        )
        kind = "REFUND" if i % 10 == 0 else "CHARGE"
        LedgerEntry.objects.create(
            wallet=wallet,
            venice_id=f"v{i}",
            type=kind,
            amount_usd=Decimal("0.5") + i,
            created_at=now - datetime.timedelta(days=i % 20, minutes=i),
            request_id=f"q{i}",
            model_id=model,
            job=None if i == 7 else job,
        )
    return {"wallet": wallet, "ana": ana, "ben": ben}


LEDGER = "/admin/wallets/ledgerentry/"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"type__exact": "CHARGE"},
        {"type__exact": "CHARGE", "member": "ana", "o": "4"},  # member id filled in below
        {"member": "none"},
        {"model": "elevenlabs-tts-v4", "o": "-4.1"},
        {"q": "q42"},
        {"created_at__gte": "__week_ago__", "type__in": "CHARGE,REFUND"},
    ],
)
def test_ledger_export_matches_the_filtered_list(staff_client, client, admin_user, ledger, params):
    params = dict(params)
    if params.get("member") == "ana":
        params["member"] = str(ledger["ana"].pk)
    if params.get("created_at__gte") == "__week_ago__":
        params["created_at__gte"] = str(timezone.now() - datetime.timedelta(days=7))
    shown = listed(client, LEDGER, params)
    exported = rows_of(client.get(LEDGER + "export.csv", params))
    assert [row["id"] for row in exported] == [str(entry.pk) for entry in shown]  # same order
    assert [Decimal(row["amount_usd"]) for row in exported] == [e.amount_usd for e in shown]
    for row, entry in zip(exported, shown, strict=True):
        assert row["type"] == entry.type
        assert row["member"] == (entry.job.user.username if entry.job else "")


def test_the_list_page_links_its_own_export(staff_client, client, admin_user, ledger):
    page = client.get(LEDGER, {"type__exact": "REFUND", "q": "q10"}).content.decode()
    href = html.unescape(re.search(r'href="([^"]*export\.csv[^"]*)"', page).group(1))
    path, _, query = href.partition("?")
    assert path == LEDGER + "export.csv"
    assert parse_qs(query) == {"type__exact": ["REFUND"], "q": ["q10"]}


def test_job_export_matches_the_filtered_and_searched_list(
    staff_client, client, admin_user, ledger
):
    params = {"state__exact": "completed", "q": '"prompt number 1"', "o": "-1"}
    shown = listed(client, "/admin/jobs/job/", params)
    exported = rows_of(client.get("/admin/jobs/job/export.csv", params))
    assert len(shown) == 10  # 1 and 10..19, minus the failed 10
    assert [row["id"] for row in exported] == [str(job.pk) for job in shown]
    assert {row["state"] for row in exported} == {"completed"}


def test_differences_export_only_the_open_ones_by_default(staff_client, client, admin_user, ledger):
    now = timezone.now()
    for i, resolved in enumerate([None, now, None]):
        Difference.objects.create(
            kind="charge_without_job",
            key=f"k{i}",
            detail=f"d{i}",
            last_seen_at=now,
            resolved_at=resolved,
        )
    exported = rows_of(client.get("/admin/review/difference/export.csv"))
    assert sorted(row["detail"] for row in exported) == ["d0", "d2"]
    everything = rows_of(client.get("/admin/review/difference/export.csv", {"status": "all"}))
    assert len(everything) == 3


def test_export_of_selected_rows(staff_client, client, admin_user, ledger):
    picked = list(LedgerEntry.objects.order_by("pk").values_list("pk", flat=True)[:3])
    response = client.post(
        LEDGER, {"action": "export_selected_csv", "_selected_action": picked, "index": 0}
    )
    assert sorted(int(row["id"]) for row in rows_of(response)) == picked


def test_a_cell_that_would_be_a_formula_is_defused(staff_client, client, admin_user, ledger):
    job = Job.objects.first()
    Job.objects.filter(pk=job.pk).update(prompt='=HYPERLINK("http://evil.example","x")')
    exported = rows_of(client.get("/admin/jobs/job/export.csv", {"q": str(job.pk)}))
    assert exported[0]["prompt"].startswith("'=HYPERLINK")
    assert exported[0]["quoted_usd"] == "0.500000"  # numbers stay numbers


def test_bad_filters_send_back_to_the_list(staff_client, client, admin_user, ledger):
    response = client.get(LEDGER + "export.csv", {"created_at__gte": "not a date"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
