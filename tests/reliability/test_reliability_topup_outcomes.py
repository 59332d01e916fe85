"""Every top-up ends definite (issue 11, item 2): credited, refused for good with Venice's own
code and words, or, when no answer came before its validBefore, settled from the ledger and the
chain. A refused payment is never sent again, and an open one never blocks new ones forever."""

from __future__ import annotations

import base64
import datetime
import json
import time
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.reliability_helpers import record
from venice import errors
from venice.chain import authorization_used
from wallets import keys, payments
from wallets.models import LedgerEntry, TopUp
from wallets.venice import client_for

pytestmark = pytest.mark.django_db

UNREACHABLE_RPC = "http://127.0.0.1:9/rpc"  # the discard port: connection refused


def credit(wallet) -> Decimal:
    with client_for(wallet) as client:
        return client.balance().balance_usd


def sign(wallet, amount="10") -> TopUp:
    with client_for(wallet) as client:
        return payments._sign(wallet, client, Decimal(amount), reason="test")


def tampered(header: str) -> str:
    """The same payment with one byte of its signature changed: Venice's verification fails."""
    payload = json.loads(base64.b64decode(header))
    signature = payload["payload"]["signature"]
    payload["payload"]["signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return base64.b64encode(json.dumps(payload).encode()).decode()


def send_refused(wallet) -> TopUp:
    """A top-up whose signature Venice's verification refuses, sent once."""
    topup = sign(wallet)
    TopUp.objects.filter(pk=topup.pk).update(payment_header=tampered(topup.payment_header))
    topup.refresh_from_db()
    with client_for(wallet) as client:
        payments.send(topup, client)
    return topup


def expire(topup: TopUp) -> None:
    TopUp.objects.filter(pk=topup.pk).update(
        valid_before=timezone.now() - payments.EXPIRY_MARGIN - datetime.timedelta(seconds=5)
    )
    topup.refresh_from_db()


def test_a_refusal_in_the_error_field_fails_the_top_up_with_venices_code_and_words(wallet):
    topup = send_refused(wallet)
    assert topup.status == TopUp.Status.FAILED
    assert topup.last_error_code == "PAYMENT_VERIFICATION_FAILED"
    assert "signature" in topup.last_error  # Venice's `message`, not its code twice
    assert "never sent again" in topup.outcome and "PAYMENT_VERIFICATION_FAILED" in topup.outcome
    assert payments.spent_today(wallet) == 0


def test_a_refused_top_up_is_never_sent_again_and_the_next_one_credits_once(wallet):
    """The issue's bug: `topup --usd 10` refused, then `topup --usd 10` credited 20."""
    refused = send_refused(wallet)
    second = payments.manual_top_up(wallet, Decimal("10"))
    assert second.status == TopUp.Status.CREDITED
    refused.refresh_from_db()
    assert refused.status == TopUp.Status.FAILED and refused.attempts == 1, "not sent again"
    assert credit(wallet) == Decimal("10")
    record(
        "A refused top-up is never sent again (issue 11)",
        "a payment Venice refuses with a 400 whose code is in `error` "
        "(PAYMENT_VERIFICATION_FAILED) is FAILED with that code and message after one send; the "
        "next top-up signs anew and the wallet holds 10 USD, not 20",
    )


def test_topup_command_twice_after_a_settlement_failure_credits_only_the_second(venice, db):
    poor = keys.create_evm_wallet("poor", make_default=True)  # no USDC yet: settlement fails
    with pytest.raises(CommandError, match="SETTLEMENT_FAILED.*No funds moved"):
        call_command("topup", wallet="poor", usd="10")
    venice.faucet(poor.address, "100")
    call_command("topup", wallet="poor", usd="10")
    first, second = TopUp.objects.order_by("pk")
    assert first.status == TopUp.Status.FAILED and first.attempts == 1
    assert second.status == TopUp.Status.CREDITED
    assert credit(poor) == Decimal("10"), "10 credited for the one payment that went through"
    record(
        "`topup --usd 10` twice after a refusal credits 10 (issue 11)",
        "402 SETTLEMENT_FAILED: the command says why and that no funds moved; the second command "
        "credits once; the first payment sent once",
    )


def test_a_409_for_a_payment_already_credited_is_settled_from_the_ledger(wallet, venice):
    topup = sign(wallet)
    with client_for(wallet) as client:
        client.send_payment(topup.payment_header)  # credited, but the answer never recorded
    venice.set_fault("top-up", mode="credited_conflict")
    with client_for(wallet) as client:
        payments.settle_open_topups(wallet, client)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert "ledger" in topup.settled_from and "ledger" in topup.outcome
    assert LedgerEntry.objects.get(type=LedgerEntry.Type.TOP_UP).topup_id == topup.pk
    assert credit(wallet) == Decimal("10"), "a 409 is not a reason to sign another"
    record(
        "A 409 for a payment already credited (issue 11)",
        "a credited payment whose answer was lost keeps answering 409 PAYMENT_IN_PROGRESS: "
        "Venice's ledger settles it CREDITED and links its row; nothing signed anew",
    )


@pytest.mark.parametrize(
    ("status", "code"), [(402, "SETTLEMENT_FAILED"), (400, "PAYMENT_VERIFICATION_FAILED")]
)
def test_a_payment_that_timed_out_and_landed_is_not_lost_to_a_refusal_fault(
    wallet, venice, status, code
):
    """The merged soak's lost top-up: the first send got 504 SETTLEMENT_TIMEOUT and the payment
    landed moments later; its resend met the sandbox's injected refusal, and Studio, told "no
    funds moved", recorded FAILED what Venice had credited. Venice answers a payment it has
    taken with its receipt or 409, never a refusal (reference §5, §8)."""
    topup = sign(wallet)
    venice.set_fault("top-up", settlement_timeout=True, count=1)
    with client_for(wallet) as client, pytest.raises(errors.SettlementTimeout):
        client.send_payment(topup.payment_header)
    TopUp.objects.filter(pk=topup.pk).update(status=TopUp.Status.SENT, attempts=1)
    deadline = time.monotonic() + 10
    while credit(wallet) == 0:  # it lands a few simulated seconds after its 504
        assert time.monotonic() < deadline, "the timed-out payment never landed"
        time.sleep(0.05)

    venice.set_fault("top-up", status=status)  # every top-up call meets this refusal
    with client_for(wallet) as client:
        payments.settle_open_topups(wallet, client)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED, topup.outcome
    assert topup.amount_credited_usd == Decimal("10")
    venice.clear_faults()
    assert credit(wallet) == Decimal("10")
    fresh = sign(wallet)  # a payment Venice has not taken is still refused, and never lands
    venice.set_fault("top-up", status=status)
    with client_for(wallet) as client:
        payments.send(fresh, client)
    venice.clear_faults()
    assert fresh.status == TopUp.Status.FAILED and fresh.last_error_code == code
    assert credit(wallet) == Decimal("10")
    record(
        "A timed-out payment that landed is not lost to a refusal (fix-soak)",
        f"504 SETTLEMENT_TIMEOUT, the payment lands, its resend meets an injected {status} "
        f"{code}: the sandbox answers a payment it has taken with its receipt, so Studio records "
        "it CREDITED; a payment it has not taken is still refused",
    )


def test_an_expired_payment_that_never_landed_fails_from_the_chain(wallet):
    topup = sign(wallet)
    TopUp.objects.filter(pk=topup.pk).update(status=TopUp.Status.SENT)
    expire(topup)
    payments.ensure_credit(wallet, Decimal("1"))  # settles it, then tops up anew
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and topup.last_error_code == "EXPIRED_UNUSED"
    assert topup.attempts == 0, "an expired payment is not sent: it could only be refused"
    assert TopUp.objects.filter(status=TopUp.Status.CREDITED).count() == 1
    assert credit(wallet) == Decimal("10")
    record(
        "A payment past validBefore that never landed (issue 11)",
        "no definite answer by validBefore + 60 s: authorizationState on chain says unused, so "
        "FAILED EXPIRED_UNUSED without a resend; a new top-up credits once",
    )


def test_an_expired_payment_that_landed_is_credited_from_the_ledger(wallet):
    topup = sign(wallet)
    with client_for(wallet) as client:
        client.send_payment(topup.payment_header)
    expire(topup)
    payments.ensure_credit(wallet, Decimal("1"))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert TopUp.objects.count() == 1, "its credit counts: no second payment was needed"
    assert credit(wallet) == Decimal("10")
    record(
        "A payment past validBefore that landed (issue 11)",
        "sent and credited, answer lost, then expired: settled CREDITED from Venice's ledger; no "
        "second payment",
    )


def test_authorization_state_reads_the_chain(wallet, venice):
    topup = sign(wallet)
    assert authorization_used(venice.rpc_url, topup.payer, topup.nonce) is False
    with client_for(wallet) as client:
        client.send_payment(topup.payment_header)
    assert authorization_used(venice.rpc_url, topup.payer, topup.nonce) is True


def test_an_expired_payment_the_chain_cannot_tell_does_not_block_new_ones(wallet, venice, settings):
    topup = sign(wallet)
    TopUp.objects.filter(pk=topup.pk).update(status=TopUp.Status.SENT)
    expire(topup)
    settings.CHAIN_RPC_URL = UNREACHABLE_RPC
    second = payments.manual_top_up(wallet, Decimal("10"))
    assert second.status == TopUp.Status.CREDITED
    topup.refresh_from_db()
    assert topup.is_open and "does not block" in topup.outcome
    assert payments.spent_today(wallet) == Decimal("20"), "it may still have moved money"

    settings.CHAIN_RPC_URL = venice.rpc_url
    with client_for(wallet) as client:  # the chain is back: the next sync settles it
        payments.settle_open_topups(wallet, client)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and topup.last_error_code == "EXPIRED_UNUSED"
    record(
        "An expired payment while the chain RPC is down (issue 11)",
        "neither ledger nor chain can tell: it stays open with words saying so, blocks no new top-"
        "up, still counts against the daily cap, and is settled FAILED once the chain answers",
    )


def test_after_a_refusal_the_worker_signs_no_new_payment_for_a_while(venice, db):
    poor = keys.create_evm_wallet("poor", make_default=True)  # no USDC: settlement fails
    with pytest.raises(payments.TopUpFailed, match="SETTLEMENT_FAILED"):
        payments.ensure_credit(poor, Decimal("1"))
    with pytest.raises(payments.TopUpPaused, match="signs no new one"):
        payments.ensure_credit(poor, Decimal("1"))
    assert TopUp.objects.count() == 1, "no second payment signed, none re-sent"
    assert TopUp.objects.get().attempts == 1

    TopUp.objects.update(settled_at=timezone.now() - payments.refusal_pause("SETTLEMENT_FAILED"))
    venice.faucet(poor.address, "100")
    payments.ensure_credit(poor, Decimal("1"))  # the pause is over: a new payment
    assert TopUp.objects.filter(status=TopUp.Status.CREDITED).count() == 1


def test_a_job_waits_while_top_ups_are_paused_after_a_refusal(venice, member):
    from jobs import pipeline
    from jobs.models import Job
    from tests.jobs_helpers import MUSIC

    keys.create_evm_wallet("poor", make_default=True)  # no USDC: settlement fails
    first = pipeline.create_job(user=member, model_id="elevenlabs-music", fields=MUSIC)
    pipeline.submit(first.pk)
    first.refresh_from_db()
    assert first.state == Job.State.FAILED and first.error_code == "topup_failed"
    assert "SETTLEMENT_FAILED" in first.error_message

    second = pipeline.create_job(
        user=member, model_id="elevenlabs-music", fields={**MUSIC, "prompt": "another one"}
    )
    pipeline.submit(second.pk)
    second.refresh_from_db()
    assert second.state == Job.State.PENDING, "it waits for the pause to end"
    assert "signs no new one" in second.events.order_by("-pk").first().note
    assert TopUp.objects.count() == 1
    record(
        "Jobs after a refused top-up (issue 11)",
        "the job whose top-up was refused fails with Venice's reason; the next one waits (PENDING,"
        " in words) instead of signing another payment during the pause",
    )
