"""Venice's ledger copied into Studio, matched to jobs and top-ups, and budgets settled to it."""

from decimal import Decimal

import httpx
import pytest

from jobs import accounting, pipeline, states
from jobs.models import Job
from tests.jobs_helpers import MUSIC, run_to_end
from wallets import budgets, ledger
from wallets.models import LedgerEntry, TopUp
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


def sync(wallet):
    ledger.sync(wallet, client_for(wallet))
    accounting.apply_ledger(wallet)


def test_rows_are_copied_once_and_matched(wallet, member):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    sync(wallet)
    sync(wallet)
    types = sorted(LedgerEntry.objects.values_list("type", flat=True))
    assert types == ["CHARGE", "TOP_UP"]
    assert LedgerEntry.objects.get(type="CHARGE").job == job
    assert LedgerEntry.objects.get(type="TOP_UP").topup == TopUp.objects.get()


def test_a_charge_in_several_rows_is_summed(wallet, member):
    job = run_to_end(
        pipeline.create_job(
            user=member,
            model_id="elevenlabs-sound-effects-v2",
            fields={"prompt": "glass shattering on stone", "duration_seconds": 4},
        )
    )
    sync(wallet)
    job.refresh_from_db()
    assert LedgerEntry.objects.filter(job=job, type="CHARGE").count() == 2
    assert job.charged_usd == job.quoted_usd == job.settled_usd


def test_a_refunded_failure_costs_nothing(wallet, member):
    job = run_to_end(
        pipeline.create_job(
            user=member, model_id="elevenlabs-music", fields={**MUSIC, "prompt": "contraband blues"}
        )
    )
    sync(wallet)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.charged_usd == job.refunded_usd == job.quoted_usd
    assert job.settled_usd == 0
    assert budgets.member_budget(member.pk, job.budget_month).spent_usd == 0


def test_a_charge_that_differs_from_the_quote_corrects_the_budget(wallet, member, venice):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    # Venice's ledger says the job cost more than quoted (a second CHARGE row).
    httpx.post(
        f"{venice.base_url}/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": "CHARGE",
            "amount": "0.25",
            "requestId": job.queue_id,
            "modelId": job.model_id,
        },
    ).raise_for_status()
    sync(wallet)
    job.refresh_from_db()
    assert job.charged_usd == job.quoted_usd + Decimal("0.25") == job.settled_usd
    assert budgets.member_budget(member.pk, job.budget_month).spent_usd == job.settled_usd


def test_budgets_equal_the_sum_of_their_jobs_charges(wallet, member, admin_user):
    for user, prompt in (
        (member, "sunny acoustic folk"),
        (admin_user, "contraband jazz"),
        (member, "dark ambient drone"),
    ):
        run_to_end(
            pipeline.create_job(
                user=user, model_id="elevenlabs-music", fields={**MUSIC, "prompt": prompt}
            )
        )
    sync(wallet)
    for user in (member, admin_user):
        jobs = Job.objects.filter(user=user)
        budget = budgets.member_budget(user.pk, jobs[0].budget_month)
        assert budget.spent_usd == sum(j.charged_usd - j.refunded_usd for j in jobs)
        assert budget.reserved_usd == 0


def test_a_charge_seen_while_running_is_settled_when_the_job_fails_unrefunded(wallet, member):
    """Venice charged; the job then failed on our side (its audio expired), and no refund came."""
    job = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    pipeline.submit(job.pk)
    sync(wallet)  # the CHARGE is linked while the job still runs
    job.refresh_from_db()
    assert job.charged_usd == job.quoted_usd and job.settled_usd == 0

    states.fail(job, "media_expired", "Venice no longer has the audio.")
    sync(wallet)
    job.refresh_from_db()
    assert job.settled_usd == job.charged_usd
    assert budgets.member_budget(member.pk, job.budget_month).spent_usd == job.charged_usd


def test_the_periodic_sync_reads_only_new_pages(wallet, member, venice):
    for n in range(3):
        run_to_end(
            pipeline.create_job(
                user=member,
                model_id="elevenlabs-music",
                fields={**MUSIC, "prompt": f"{MUSIC['prompt']} {n}"},
            )
        )
    client = client_for(wallet)
    calls = venice.stats(wallet.address)["calls"].get("transactions", 0)
    ledger.sync(wallet, client)  # first sync: everything
    assert LedgerEntry.objects.count() == 4
    first = venice.stats(wallet.address)["calls"]["transactions"] - calls

    real = client.transactions
    client.transactions = lambda page_size=100, **kw: real(page_size=1, **kw)  # one row a page
    before = venice.stats(wallet.address)["calls"]["transactions"]
    assert ledger.sync(wallet, client) == 0
    assert venice.stats(wallet.address)["calls"]["transactions"] - before == 1, (
        "stopped at the newest known row"
    )
    assert first >= 1
