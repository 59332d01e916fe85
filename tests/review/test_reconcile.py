"""Reconciliation finds each kind of difference when Venice's ledger (or our records) disagree."""

from __future__ import annotations

import datetime
import secrets
from decimal import Decimal

import httpx
import pytest
from django.db.models import F
from django.utils import timezone

from jobs import pipeline
from jobs.models import Job
from review import checks, reconcile
from review.models import Difference
from tests.jobs_helpers import MUSIC, run_to_end
from wallets.models import Budget, LedgerEntry, TopUp

pytestmark = pytest.mark.django_db
Kind = Difference.Kind


def append(venice, wallet, kind: str, amount: str, request_id=None, model_id=None) -> None:
    """Write a row into the wallet's Venice ledger behind Studio's back."""
    httpx.post(
        f"{venice.base_url}/sandbox/ledger",
        json={
            "wallet": wallet.address,
            "type": kind,
            "amount": amount,
            "requestId": request_id,
            "modelId": model_id,
        },
    ).raise_for_status()


def open_kinds() -> list[str]:
    return sorted(
        Difference.objects.filter(resolved_at=None, cleared_at=None).values_list("kind", flat=True)
    )


def only(kind: str) -> Difference:
    return Difference.objects.get(kind=kind, resolved_at=None, cleared_at=None)


@pytest.fixture
def job(wallet, member):
    """A finished, charged job (which made the wallet's first top-up), reconciled clean."""
    done = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    assert done.state == Job.State.COMPLETED
    run = reconcile.run()
    assert open_kinds() == [], Difference.objects.values_list("detail", flat=True)
    assert run.found == 0 and run.errors == ""
    done.refresh_from_db()
    return done


def test_records_that_agree_show_no_difference(job, wallet):
    assert LedgerEntry.objects.filter(wallet=wallet).count() == 2  # the top-up and the charge
    assert TopUp.objects.get().receipt == TopUp.Receipt.VERIFIED
    job.refresh_from_db()
    assert job.charged_usd == job.settled_usd == job.quoted_usd


def test_a_charge_with_no_job(job, wallet, venice):
    append(venice, wallet, "CHARGE", "0.42", "not-one-of-ours", "elevenlabs-music")
    reconcile.run()
    assert open_kinds() == [Kind.CHARGE_WITHOUT_JOB]
    difference = only(Kind.CHARGE_WITHOUT_JOB)
    assert difference.actual_usd == Decimal("0.42")
    assert difference.ledger_entry.request_id == "not-one-of-ours"
    assert "$0.42" in difference.detail and "not-one-of-ours" in difference.detail


def test_a_refund_with_no_job(job, wallet, venice):
    append(venice, wallet, "REFUND", "0.30", "unknown-request", "elevenlabs-music")
    reconcile.run()
    assert open_kinds() == [Kind.REFUND_WITHOUT_JOB]


def test_a_job_charged_twice(job, wallet, venice):
    append(venice, wallet, "CHARGE", str(job.quoted_usd), job.queue_id, job.model_id)
    reconcile.run()
    assert open_kinds() == [Kind.DOUBLE_CHARGE]
    difference = only(Kind.DOUBLE_CHARGE)
    assert difference.job == job
    assert difference.expected_usd == job.quoted_usd
    assert difference.actual_usd == job.quoted_usd * 2
    # The member's budget was still corrected to what Venice charged (by the ledger sync).
    job.refresh_from_db()
    assert job.settled_usd == job.quoted_usd * 2


def test_a_refund_not_applied_to_the_budget(job, wallet, venice, monkeypatch):
    append(venice, wallet, "REFUND", str(job.quoted_usd), job.queue_id, job.model_id)
    # The worker keeps dying between linking the refund to its job and settling the budget.
    monkeypatch.setattr("jobs.accounting.settle_to_ledger", lambda *args: None)
    reconcile.run()
    assert open_kinds() == [Kind.REFUND_NOT_APPLIED]
    difference = only(Kind.REFUND_NOT_APPLIED)
    assert difference.job == job
    assert difference.expected_usd == 0  # charged and refunded: it cost nothing
    assert difference.actual_usd == job.quoted_usd  # but the budget still carries the charge


def test_a_full_refund_applied_is_no_difference(job, wallet, venice, member):
    append(venice, wallet, "REFUND", str(job.quoted_usd), job.queue_id, job.model_id)
    reconcile.run()
    assert open_kinds() == []
    job.refresh_from_db()
    assert job.settled_usd == 0
    assert Budget.objects.get(user=member).spent_usd == 0


def test_a_refund_of_another_amount_than_the_charge(job, wallet, venice):
    append(venice, wallet, "REFUND", "0.10", job.queue_id, job.model_id)
    reconcile.run()
    assert open_kinds() == [Kind.AMOUNT_MISMATCH]
    difference = only(Kind.AMOUNT_MISMATCH)
    assert (difference.expected_usd, difference.actual_usd) == (job.quoted_usd, Decimal("0.1"))


def test_a_job_accepted_but_never_charged(job, wallet, member):
    Job.objects.create(
        user=member,
        wallet=wallet,
        model_id="elevenlabs-music",
        prompt="a job Venice never charged",
        state=Job.State.COMPLETED,
        quoted_usd=Decimal("0.50"),
        settled_usd=Decimal("0.50"),
        budget_month=job.budget_month,
        queue_id="queued-but-free",
        queued_at=timezone.now() - datetime.timedelta(minutes=5),
    )
    Budget.objects.filter(user=member).update(spent_usd=F("spent_usd") + Decimal("0.50"))
    Budget.objects.filter(user=None).update(spent_usd=F("spent_usd") + Decimal("0.50"))
    reconcile.run()
    assert open_kinds() == [Kind.AMOUNT_MISMATCH]
    assert "no charge" in only(Kind.AMOUNT_MISMATCH).detail


def test_a_top_up_venice_credited_that_we_did_not_record(job, wallet, venice):
    append(venice, wallet, "TOP_UP", "7.00")
    reconcile.run()
    assert open_kinds() == [Kind.TOPUP_NOT_RECORDED]
    assert only(Kind.TOPUP_NOT_RECORDED).actual_usd == Decimal("7")


def _recorded_topup(wallet, amount: str, **fields) -> TopUp:
    """A credited top-up in Studio's records that Venice never saw."""
    values = {
        "wallet": wallet,
        "status": TopUp.Status.CREDITED,
        "amount_usd": Decimal(amount),
        "amount_credited_usd": Decimal(amount),
        "amount_atomic": str(int(Decimal(amount) * 10**6)),
        "network": "eip155:8453",
        "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "pay_to": "0x2670b922ef37c7df47158725c0cc407b5382293f",
        "payer": wallet.address,
        "nonce": "0x" + secrets.token_hex(32),
        "valid_before": timezone.now(),
        "payment_header": "not a real payment",
        "payment_id": "pay-" + secrets.token_hex(4),
        "settled_at": timezone.now() - datetime.timedelta(minutes=1),
        # Its receipt was checked (this test is about the ledger, not the chain).
        "tx_hash": "0x" + secrets.token_hex(32),
        "receipt": TopUp.Receipt.VERIFIED,
    }
    values.update(fields)
    return TopUp.objects.create(**values)


def test_a_top_up_we_recorded_that_venice_did_not_credit(job, wallet):
    topup = _recorded_topup(wallet, "10")
    reconcile.run()
    assert open_kinds() == [Kind.TOPUP_NOT_CREDITED]
    assert only(Kind.TOPUP_NOT_CREDITED).topup == topup


def test_a_top_up_credited_for_another_amount(job, wallet, venice):
    topup = _recorded_topup(wallet, "10")
    append(venice, wallet, "TOP_UP", "9.50")
    reconcile.run()
    assert open_kinds() == [Kind.AMOUNT_MISMATCH]
    difference = only(Kind.AMOUNT_MISMATCH)
    assert difference.topup == topup
    assert (difference.expected_usd, difference.actual_usd) == (Decimal("10"), Decimal("9.5"))


def test_a_receipt_missing_on_chain(job, wallet):
    topup = TopUp.objects.get()
    TopUp.objects.filter(pk=topup.pk).update(
        tx_hash="0x" + secrets.token_hex(32), receipt=TopUp.Receipt.UNCHECKED
    )
    reconcile.run()
    assert open_kinds() == [Kind.RECEIPT_MISSING]
    assert "no receipt" in only(Kind.RECEIPT_MISSING).detail


def test_a_credited_top_up_without_a_transaction(job, wallet):
    TopUp.objects.update(tx_hash="")
    reconcile.run()
    assert open_kinds() == [Kind.RECEIPT_MISSING]


def test_a_receipt_that_does_not_match(job, wallet):
    topup = TopUp.objects.get()
    # Our record says we paid more than the transaction moved.
    TopUp.objects.filter(pk=topup.pk).update(
        amount_atomic=str(int(topup.amount_atomic) + 1), receipt=TopUp.Receipt.UNCHECKED
    )
    reconcile.run()
    assert open_kinds() == [Kind.RECEIPT_MISMATCH]
    assert "expected" in only(Kind.RECEIPT_MISMATCH).detail


def test_verified_receipts_are_read_again_only_when_asked(job, wallet):
    TopUp.objects.update(amount_atomic="1")  # still marked verified
    reconcile.run()
    assert open_kinds() == []
    reconcile.run(all_receipts=True)
    assert open_kinds() == [Kind.RECEIPT_MISMATCH]


def test_a_budget_that_differs_from_its_jobs(job, member):
    Budget.objects.filter(user=member).update(spent_usd=F("spent_usd") + Decimal("1.25"))
    reconcile.run()
    assert open_kinds() == [Kind.BUDGET_MISMATCH]
    difference = only(Kind.BUDGET_MISMATCH)
    assert difference.wallet is None and difference.budget.user == member
    assert difference.actual_usd - difference.expected_usd == Decimal("1.25")


def test_a_row_of_our_copy_venice_no_longer_lists(job, wallet):
    LedgerEntry.objects.create(
        wallet=wallet,
        venice_id="vanished-row",
        type="CHARGE",
        amount_usd=Decimal("0.5"),
        created_at=timezone.now(),
        request_id=job.queue_id,
        model_id=job.model_id,
        job=job,
    )
    reconcile.run()
    kinds = open_kinds()
    assert Kind.ROW_GONE in kinds
    assert Difference.objects.get(kind=Kind.ROW_GONE).venice_id == "vanished-row"


def test_a_ledger_that_does_not_add_up_to_its_balance(wallet):
    from venice.types import LedgerTransaction

    def row(kind, amount, balance):
        return LedgerTransaction(
            id=secrets.token_hex(4),
            amount=Decimal(amount),
            balance_after=Decimal(balance),
            type=kind,
            created_at=timezone.now(),
            request_id=None,
            model_id=None,
        )

    newest_first = [row("CHARGE", "0.5", "9.00"), row("TOP_UP", "10", "10")]
    found = checks.check_balance(wallet, newest_first)
    assert [f.kind for f in found] == [Kind.BALANCE_MISMATCH]
    assert (found[0].expected, found[0].actual) == (Decimal("9.5"), Decimal("9.00"))
    assert checks.check_balance(wallet, [row("CHARGE", "1", "9"), *newest_first[1:]]) == []
