"""Topping up a wallet's credit: policy caps, settlement edge cases, receipts on chain."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from wallets import payments
from wallets.models import TopUp
from wallets.venice import client_for

pytestmark = pytest.mark.django_db


def credit(wallet) -> Decimal:
    return client_for(wallet).balance().balance_usd


def test_no_top_up_while_credit_is_above_the_threshold(wallet):
    payments.ensure_credit(wallet, Decimal("1"))
    assert credit(wallet) == Decimal("10")
    payments.ensure_credit(wallet, Decimal("1"))
    assert TopUp.objects.count() == 1


def test_a_job_bigger_than_one_top_up_buys_several(wallet):
    payments.ensure_credit(wallet, Decimal("15"))
    assert TopUp.objects.filter(status=TopUp.Status.CREDITED).count() == 2
    assert credit(wallet) == Decimal("20")


def test_the_daily_cap_refuses_before_signing(wallet):
    wallet.max_topup_per_day_usd = Decimal("15")
    wallet.save()
    payments.ensure_credit(wallet, Decimal("1"))
    with pytest.raises(payments.TopUpNotAllowed, match="daily cap"):
        payments.manual_top_up(wallet, Decimal("10"))
    assert TopUp.objects.count() == 1


def test_yesterdays_top_ups_do_not_count_against_today(wallet):
    wallet.max_topup_per_day_usd = Decimal("10")
    wallet.save()
    payments.ensure_credit(wallet, Decimal("1"))
    TopUp.objects.update(created_at=timezone.now() - datetime.timedelta(days=1))
    payments.manual_top_up(wallet, Decimal("10"))
    assert TopUp.objects.filter(status=TopUp.Status.CREDITED).count() == 2


def test_a_wallet_without_usdc_fails_its_top_up_and_it_does_not_count(venice, db):
    from wallets import keys

    poor = keys.create_evm_wallet("poor", make_default=True)  # never funded on chain
    with pytest.raises(payments.TopUpFailed, match="SETTLEMENT_FAILED|refused"):
        payments.ensure_credit(poor, Decimal("1"))
    assert TopUp.objects.get().status == TopUp.Status.FAILED
    assert payments.spent_today(poor) == 0


def test_a_top_up_above_the_per_top_up_amount_is_refused(wallet):
    with pytest.raises(payments.TopUpNotAllowed, match="per-top-up cap"):
        payments.manual_top_up(wallet, Decimal("25"))
    assert not TopUp.objects.exists()


def test_settlement_timeout_is_resent_not_resigned_and_credits_once(wallet, venice):
    venice.set_fault("top-up", settlement_timeout=True, count=1)
    payments.ensure_credit(wallet, Decimal("1"))
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.CREDITED and topup.attempts >= 2
    assert credit(wallet) == Decimal("10")


def test_a_payment_still_unknown_when_time_runs_out_blocks_new_signatures(
    wallet, venice, monkeypatch
):
    """Not knowing is not failing: the SENT row is re-sent later, and no second one is signed."""
    venice.set_fault("top-up", settlement_timeout=True, count=1)
    real_send = payments.send
    monkeypatch.setattr(
        payments, "send", lambda topup, client: real_send(topup, client, settle_wait_s=0)
    )
    with pytest.raises(payments.TopUpPending):
        payments.ensure_credit(wallet, Decimal("1"))
    assert TopUp.objects.get().status == TopUp.Status.SENT

    monkeypatch.setattr(payments, "send", real_send)
    payments.ensure_credit(wallet, Decimal("1"))
    assert TopUp.objects.get().status == TopUp.Status.CREDITED, "re-sent, not a second one signed"
    assert credit(wallet) == Decimal("10")


def test_a_credited_top_up_has_a_verified_receipt_on_chain(wallet):
    payments.ensure_credit(wallet, Decimal("1"))
    topup = payments.verify_receipt(TopUp.objects.get())
    assert topup.receipt == TopUp.Receipt.VERIFIED
    assert payments.refresh_usdc(wallet) == Decimal("990")


def test_a_receipt_that_does_not_match_is_flagged(wallet):
    payments.ensure_credit(wallet, Decimal("1"))
    topup = TopUp.objects.get()
    topup.amount_atomic = str(int(topup.amount_atomic) + 1)
    topup = payments.verify_receipt(topup)
    assert topup.receipt == TopUp.Receipt.MISMATCH and topup.receipt_note


def test_api_key_wallets_are_never_topped_up(venice, db):
    from wallets import keys

    wallet = keys.add_api_key_wallet("account", venice.create_api_key("20"), make_default=True)
    payments.ensure_credit(wallet, Decimal("5"))
    with pytest.raises(payments.TopUpNotAllowed, match="API key"):
        payments.manual_top_up(wallet, Decimal("10"))
    assert not TopUp.objects.exists()
