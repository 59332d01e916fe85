"""The overview reads a per-day summary of the ledger that database triggers keep exact through
every way a ledger row is written: the sync's bulk insert, linking to a job, a job deleted,
rows changed or deleted."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from jobs import accounting
from jobs.models import Job
from review import reconcile, spend
from review.models import SpendSummary
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


def summary() -> dict:
    return {
        (row["grain"], row["day"], row["type"], row["user_key"], row["model_key"]): (
            row["usd"],
            row["n"],
        )
        for row in SpendSummary.objects.values("grain", "day", "type", "user_key", "model_key")
        .annotate(usd=Sum("amount_usd"), n=Sum("entries"))
        .filter(n__gt=0)
    }


def job_of(user, wallet, model: str, **fields) -> Job:
    """A job for ledger rows to link to: what the summary counts is the ledger's, not the job's."""
    return Job.objects.create(
        user=user,
        wallet=wallet,
        model_id=model,
        prompt="a prompt",
        quoted_usd=Decimal("1"),
        budget_month=spend.month_start(spend.utc_today()),
        **fields,
    )


def assert_in_step():
    assert spend.rollup_drift() == 0
    today = spend.utc_today()
    start = today - datetime.timedelta(days=400)
    assert spend.totals(start, today) == spend.ledger_totals(start, today)


def test_every_write_keeps_the_summary_exact(wallet, member, admin_user):
    now = datetime.datetime.now(datetime.UTC).replace(hour=12)
    jobs = [
        job_of(user, wallet, model, queue_id=f"q{i}", state=Job.State.COMPLETED)
        for i, (user, model) in enumerate(
            [
                (member, "elevenlabs-music"),
                (admin_user, "elevenlabs-tts-v4"),
                (member, "elevenlabs-sound-effects-v2"),
            ]
        )
    ]
    rows = [
        LedgerEntry(
            wallet=wallet,
            venice_id=f"c{i}",
            type="CHARGE",
            amount_usd=Decimal("0.1") * (i + 1),
            model_id=jobs[i % 3].model_id,
            request_id=f"q{i % 3}",
            created_at=now - datetime.timedelta(days=i * 10),
        )
        for i in range(9)
    ]
    rows.append(
        LedgerEntry(
            wallet=wallet, venice_id="t", type="TOP_UP", amount_usd=Decimal("10"), created_at=now
        )
    )
    rows.append(
        LedgerEntry(
            wallet=wallet,
            venice_id="r",
            type="REFUND",
            amount_usd=Decimal("0.3"),
            request_id="q2",
            created_at=now,
            model_id="elevenlabs-sound-effects-v2",
        )
    )
    # As the ledger sync writes them: one bulk insert, a repeat of which adds nothing.
    LedgerEntry.objects.bulk_create(rows, ignore_conflicts=True)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                wallet=wallet,
                venice_id="c0",
                type="CHARGE",
                amount_usd=Decimal("99"),
                created_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    assert_in_step()
    assert {key[3] for key in summary() if key[0] != "T"} == {0}  # nothing linked: unattributed

    accounting.link_ledger(wallet)  # an UPDATE of job_id moves the sums to members
    assert_in_step()
    members = {key[3] for key in summary() if key[2] == "CHARGE" and key[0] != "T"}
    assert members == {member.pk, admin_user.pk}
    today = spend.utc_today()
    since = today - datetime.timedelta(days=100)
    lines = {line.label: line.spend for line in spend.by_member(since, today)}
    assert lines["member"] == sum(
        (r.amount_usd for r in rows if r.type == "CHARGE" and r.request_id in ("q0", "q2")),
        Decimal("0"),
    ) - Decimal("0.3")

    jobs[1].delete()  # its rows fall back to unattributed (SET NULL)
    assert_in_step()
    LedgerEntry.objects.filter(venice_id="c3").update(amount_usd=Decimal("7.25"))
    LedgerEntry.objects.filter(venice_id="c4").update(created_at=now - datetime.timedelta(days=1))
    LedgerEntry.objects.filter(venice_id="c5").delete()
    assert_in_step()


def test_a_drifted_summary_is_found_and_rebuilt(wallet, member):
    now = datetime.datetime.now(datetime.UTC)
    for i in range(5):
        LedgerEntry.objects.create(
            wallet=wallet,
            venice_id=f"x{i}",
            type="CHARGE",
            amount_usd=Decimal("1.5"),
            created_at=now,
        )
    before = summary()
    SpendSummary.objects.update(amount_usd=Decimal("0"))  # somebody wrote to it by hand
    assert spend.rollup_drift() == 3  # its day, month and day-total sums
    spend.rebuild_rollup()
    assert spend.rollup_drift() == 0 and summary() == before
    SpendSummary.objects.all().delete()
    run = reconcile.run(wallets=[])
    assert "rebuilt" in run.errors and summary() == before


def test_long_ranges_read_whole_months_and_match_the_ledger(wallet, member, admin_user):
    """A range is summed from monthly sums for its whole months and daily sums at its edges;
    by member and by model it equals the ledger's own sums, whatever the edges."""
    from collections import defaultdict

    jobs = {
        user.pk: job_of(user, wallet, model)
        for user, model in ((member, "elevenlabs-music"), (admin_user, "elevenlabs-tts-v4"))
    }
    first = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    for n in range(130):  # a row every 23 hours from January to mid-May
        job = jobs[member.pk] if n % 3 else jobs[admin_user.pk]
        LedgerEntry.objects.create(
            wallet=wallet,
            venice_id=f"r{n}",
            type="REFUND" if n % 11 == 0 else "CHARGE",
            amount_usd=Decimal("0.013") * (n + 1),
            created_at=first + datetime.timedelta(hours=23 * n),
            job=None if n % 7 == 0 else job,
            model_id=job.model_id,
        )
    rows = list(LedgerEntry.objects.select_related("job__user"))
    for start, end in [
        (datetime.date(2025, 1, 1), datetime.date(2025, 4, 30)),  # whole months only
        (datetime.date(2025, 1, 17), datetime.date(2025, 3, 3)),  # edges on both sides
        (datetime.date(2024, 12, 1), datetime.date(2025, 12, 31)),
        (datetime.date(2025, 2, 3), datetime.date(2025, 2, 20)),  # inside one month
    ]:
        expected_members, expected_models = defaultdict(Decimal), defaultdict(Decimal)
        for row in rows:
            if start <= row.created_at.date() <= end:
                sign = 1 if row.type == "CHARGE" else -1
                name = row.job.user.username if row.job else spend.UNATTRIBUTED
                expected_members[name] += sign * row.amount_usd
                model = row.job.model_id if row.job else row.model_id
                expected_models[model] += sign * row.amount_usd
        members = {line.label: line.spend for line in spend.by_member(start, end)}
        models = {line.label: line.spend for line in spend.by_model(start, end)}
        assert members == dict(expected_members), (start, end)
        assert models == dict(expected_models), (start, end)
        overview = spend.overview(start, end)
        assert overview.totals["range"] == spend.ledger_totals(start, end)
