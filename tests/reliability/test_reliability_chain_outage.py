"""Fault isolation (issue 11, items 4 and 7): an unreachable chain RPC never fails a credited
top-up nor stops the Venice side; `manage.py reconcile` says so and exits 0."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from jobs import pipeline
from jobs.models import Job
from tests.jobs_helpers import MUSIC, run_to_end
from tests.reliability_helpers import record
from wallets import payments, sync
from wallets.models import LedgerEntry, TopUp

pytestmark = pytest.mark.django_db

UNREACHABLE_RPC = "http://127.0.0.1:9/rpc"  # the discard port: connection refused


def command(name: str, **options) -> tuple[dict, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, stdout=out, stderr=err, **options)
    return json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


def test_topup_with_the_chain_down_is_credited_and_its_receipt_left_unchecked(wallet, settings):
    settings.CHAIN_RPC_URL = UNREACHABLE_RPC
    line, err = command("topup", wallet="team", usd="10")
    assert line["status"] == "credited" and line["receipt"] == "unchecked"
    assert "Credited" in line["outcome"]
    assert "unchecked" in err and "Traceback" not in err
    record(
        "`topup` with the chain RPC unreachable (issue 11)",
        "Venice credits the payment: the command exits 0 with the credit, the receipt left "
        "unchecked and a one-line note, no traceback",
    )


def test_the_wallet_sync_runs_the_venice_side_while_the_chain_is_down(
    wallet, member, venice, settings, caplog
):
    job = run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    LedgerEntry.objects.all().delete()
    Job.objects.filter(pk=job.pk).update(charged_usd=None)
    settings.CHAIN_RPC_URL = UNREACHABLE_RPC
    with caplog.at_level(logging.WARNING):
        report = sync.sync_wallet(wallet.pk)
    assert set(report.failed) == {"usdc balance", "receipts"}
    assert report.chain_only and report.receipts_unchecked == 1
    assert sorted(LedgerEntry.objects.values_list("type", flat=True)) == ["CHARGE", "TOP_UP"]
    job.refresh_from_db()
    assert job.charged_usd == job.quoted_usd, "the ledger still settled the charge"
    assert TopUp.objects.get().receipt == TopUp.Receipt.UNCHECKED
    chain_lines = [r for r in caplog.records if "skipped this sync" in r.getMessage()]
    assert len(chain_lines) == 2, "one line per failed step"
    assert not any(r.exc_info for r in caplog.records), "no traceback"

    settings.CHAIN_RPC_URL = venice.rpc_url  # back: the next sync checks the receipt
    report = sync.sync_wallet(wallet.pk)
    assert not report.failed and report.receipts_verified == 1
    assert TopUp.objects.get().receipt == TopUp.Receipt.VERIFIED
    record(
        "Wallet sync with the chain RPC unreachable (issue 11)",
        "the ledger is read and the charge settled; only the USDC balance and receipts steps fail,"
        " one log line each, no traceback; the next sync with the chain back verifies the receipt",
    )


def test_reconcile_command_exits_0_when_only_the_chain_is_down(wallet, settings):
    payments.ensure_credit(wallet, Decimal("1"))
    settings.CHAIN_RPC_URL = UNREACHABLE_RPC
    line, _ = command("reconcile", wallet="team")
    assert line["chain_rpc"] == "down" and line["venice"] == "ok"
    assert line["ledger_rows_read"] == 1
    assert line["receipts_unchecked"] == 1 and line["receipts_verified"] == 0
    assert "chain RPC could not be read" in line["note"]
    record(
        "`manage.py reconcile` with only the chain down (issue 11)",
        "one JSON line: ledger rows read, open differences, receipts verified / unchecked, "
        "chain_rpc down with a note; exit 0",
    )


def test_reconcile_command_reports_the_ledger_and_receipts(wallet, member, settings):
    run_to_end(pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC))
    line, _ = command("reconcile")
    assert line["chain_rpc"] == "ok" and line["venice"] == "ok"
    assert line["ledger_rows_read"] == 2
    assert line["receipts_verified"] == 1 and line["receipts_unchecked"] == 0
    assert line["open_differences"] == 0


def test_reconcile_command_fails_when_venices_ledger_cannot_be_read(wallet, venice):
    payments.ensure_credit(wallet, Decimal("1"))
    venice.set_fault("transactions", status=403)
    with pytest.raises(CommandError, match="Venice's side"):
        command("reconcile", wallet="team")


def test_reconcile_command_names_an_unknown_wallet(db):
    with pytest.raises(CommandError, match="No wallet named 'nope'"):
        call_command("reconcile", wallet="nope")
