"""Differences are stored once however often they are found, cleared when they go away, and
resolved by an admin with a note; the periodic task and the admin's button run the same thing."""

from __future__ import annotations

import datetime

import httpx
import pytest
from django.utils import timezone

from jobs import pipeline
from ops.leases import drop_lease, take_lease
from review import reconcile, spend, tasks
from review.models import Difference, ReconcileRun
from tests.jobs_helpers import MUSIC, run_to_end
from wallets.models import AuditEntry

pytestmark = pytest.mark.django_db
Kind = Difference.Kind


def stray_charge(venice, wallet, request_id="stray", amount="0.42") -> None:
    httpx.post(
        f"{venice.base_url}/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": "CHARGE",
            "amount": amount,
            "requestId": request_id,
            "modelId": "elevenlabs-music",
        },
    ).raise_for_status()


@pytest.fixture
def charged_job(wallet, member):
    return run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))


def test_the_same_difference_found_twice_is_one_row(charged_job, wallet, venice):
    stray_charge(venice, wallet)
    first = reconcile.run()
    second = reconcile.run()
    assert (first.found, first.new) == (1, 1)
    assert (second.found, second.new) == (1, 0)
    difference = Difference.objects.get()
    assert difference.last_seen_at >= second.started_at
    assert difference.opened_at < second.started_at


def test_a_difference_no_longer_found_is_cleared_and_reopened_if_it_returns(
    charged_job, wallet, venice, member
):
    stray_charge(venice, wallet, request_id="late-job")
    reconcile.run()
    difference = Difference.objects.get()
    assert difference.is_open
    # The charge turns out to be a job's after all (its queue answer had been lost).
    from decimal import Decimal

    from jobs.models import Job

    other = Job.objects.create(
        user=member,
        wallet=wallet,
        model_id="elevenlabs-music",
        prompt="adopted later",
        quoted_usd=Decimal("0.42"),
        budget_month=charged_job.budget_month,
        queue_id="late-job",
        state=Job.State.PROCESSING,
    )
    run = reconcile.run()
    difference.refresh_from_db()
    assert difference.status == "cleared" and run.cleared == 1
    assert spend.open_differences().count() == 0
    # It comes back (the job is deleted): the same row opens again.
    other.delete()
    reconcile.run()
    difference.refresh_from_db()
    assert difference.is_open and Difference.objects.count() == 1


def test_resolving_with_a_note(charged_job, wallet, venice, admin_user):
    stray_charge(venice, wallet)
    reconcile.run()
    difference = Difference.objects.get()
    with pytest.raises(ValueError):
        reconcile.resolve(difference, admin_user, "   ")
    assert reconcile.resolve(difference, admin_user, "Venice support: a test charge, refunded")
    assert not reconcile.resolve(difference, admin_user, "twice")
    difference.refresh_from_db()
    assert difference.status == "resolved" and difference.resolved_by == admin_user
    entry = AuditEntry.objects.get(action=AuditEntry.Action.DIFFERENCE_RESOLVE)
    assert entry.actor == admin_user and entry.note.startswith("Venice support")
    # Found again, it stays resolved (one row, not a new open one).
    reconcile.run()
    assert Difference.objects.count() == 1 and spend.open_differences().count() == 0


def test_the_admin_button_and_resolve_page(
    staff_client, client, admin_user, charged_job, wallet, venice
):
    stray_charge(venice, wallet)
    response = client.post("/admin/review/difference/reconcile/", {"next": "/admin/review/spend/"})
    assert response.status_code == 302 and response["Location"] == "/admin/review/spend/"
    run = ReconcileRun.objects.get()
    assert run.started_by == admin_user and run.found == 1
    assert AuditEntry.objects.get(action=AuditEntry.Action.RECONCILE).actor == admin_user
    page = client.get("/admin/review/difference/").content.decode()
    assert "Charge with no job" in page and "stray" in page
    difference = Difference.objects.get()
    url = f"/admin/review/difference/{difference.pk}/resolve/"
    assert "This field is required" in client.post(url, {"note": ""}).content.decode()
    response = client.post(url, {"note": "A refund is on its way."})
    assert response.status_code == 302
    difference.refresh_from_db()
    assert difference.note == "A refund is on its way." and difference.resolved_by == admin_user
    message = client.get(response["Location"]).content.decode()
    assert "Resolved: Charge with no job" in message
    assert list(client.get("/admin/review/difference/").context["cl"].result_list) == []
    resolved = client.get("/admin/review/difference/?status=resolved").context["cl"]
    assert list(resolved.result_list) == [difference]


def test_resolving_several_at_once(staff_client, client, admin_user, charged_job, wallet, venice):
    for request_id in ("one", "two", "three"):
        stray_charge(venice, wallet, request_id=request_id)
    reconcile.run()
    picked = list(Difference.objects.values_list("pk", flat=True)[:2])
    form = client.post(
        "/admin/review/difference/",
        {"action": "resolve_selected", "_selected_action": picked, "index": 0},
    )
    assert "Mark resolved" in form.content.decode()
    done = client.post(
        "/admin/review/difference/",
        {
            "action": "resolve_selected",
            "_selected_action": picked,
            "apply": "1",
            "note": "Both were test charges.",
        },
    )
    assert done.status_code == 302
    assert Difference.objects.filter(resolved_by=admin_user).count() == 2
    assert spend.open_differences().count() == 1


def test_one_reconciliation_at_a_time(staff_client, client, admin_user, wallet):
    assert take_lease(reconcile.LEASE_NAME, "someone-else", datetime.timedelta(minutes=5))
    try:
        assert tasks.reconcile_wallets() is None
        with pytest.raises(reconcile.ReconcileBusy):
            reconcile.run()
        response = client.post("/admin/review/difference/reconcile/", follow=True)
        assert "already running" in response.content.decode()
    finally:
        drop_lease(reconcile.LEASE_NAME, "someone-else")
    assert tasks.reconcile_wallets() == ReconcileRun.objects.get().pk


def test_an_unreachable_venice_is_reported_not_cleared(charged_job, wallet, venice):
    stray_charge(venice, wallet)
    reconcile.run()
    venice.set_fault("transactions", status=503)
    run = reconcile.run()
    assert "not reconciled" in run.errors
    assert Difference.objects.get().is_open  # not cleared by a run that could not look


def test_an_unreachable_chain_keeps_receipt_differences(charged_job, wallet, settings):
    from wallets.models import TopUp

    TopUp.objects.update(tx_hash="", receipt=TopUp.Receipt.UNCHECKED)
    reconcile.run()
    assert Difference.objects.get().kind == Kind.RECEIPT_MISSING
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9/nowhere"
    run = reconcile.run()
    assert "the chain could not be read" in run.errors
    assert Difference.objects.get().is_open


def test_a_charge_a_lost_submission_may_still_adopt_waits(charged_job, wallet, venice, member):
    from jobs.models import Job

    Job.objects.create(
        user=member,
        wallet=wallet,
        model_id="elevenlabs-music",
        prompt="answer lost",
        quoted_usd=charged_job.quoted_usd,
        budget_month=charged_job.budget_month,
        state=Job.State.NEEDS_REVIEW,
        queue_sent_at=timezone.now() - datetime.timedelta(seconds=2),
    )
    stray_charge(venice, wallet, request_id="maybe-ours")
    # Refused under the content policy, it is refunded before the review can adopt it.
    httpx.post(
        f"{venice.base_url}/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": "REFUND",
            "amount": "0.42",
            "requestId": "maybe-ours",
            "modelId": "elevenlabs-music",
        },
    ).raise_for_status()
    reconcile.run()
    assert not Difference.objects.exists()


def test_the_button_only_returns_to_this_site(staff_client, client, admin_user, wallet):
    for target in ("https://evil.example/admin/", "//evil.example/admin/"):
        response = client.post("/admin/review/difference/reconcile/", {"next": target})
        assert response["Location"] == "/admin/review/difference/"
