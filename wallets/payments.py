"""Keeping a wallet's Venice credit topped up, within the admin's policy, without paying twice.

The money rules (design.md): a signed payment is saved before it is sent and re-sent, never
re-signed, until Venice answers definitely. Only one worker at a time may top a wallet up: it
holds the wallet's top-up lease, taken with a conditional UPDATE.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from venice import TopUpPolicy, VeniceClient, errors
from venice.chain import check_transfer, usdc_balance

from . import leases
from .models import TopUp, Wallet
from .venice import client_for

log = logging.getLogger(__name__)

# Venice serves a wallet only while it holds at least this much credit.
ADMISSION_FLOOR_USD = Decimal("0.10")
MINIMUM_TOPUP_USD = Decimal("5")
LEASE = datetime.timedelta(seconds=90)
# How long a known credit figure may stand in for asking Venice (30 balance calls/min allowed).
CREDIT_FRESH_FOR = datetime.timedelta(seconds=60)


class TopUpNotAllowed(Exception):
    """The policy forbids the top-up this needs (e.g. today's allowance is used up)."""


class TopUpFailed(Exception):
    """Venice refused the payment for good (e.g. too little USDC); no funds moved."""


class TopUpPending(Exception):
    """A payment is still settling; whether it landed is not known yet. Try again later."""


class WalletBusy(Exception):
    """Another worker holds this wallet's top-up lease."""


def today_start() -> datetime.datetime:
    now = timezone.now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def spent_today(wallet: Wallet) -> Decimal:
    """Top-ups signed today that did or may still move money (everything but FAILED)."""
    total = (
        wallet.topups.filter(created_at__gte=today_start())
        .exclude(status=TopUp.Status.FAILED)
        .aggregate(total=Sum("amount_usd"))["total"]
    )
    return total or Decimal("0")


def policy_for(wallet: Wallet) -> TopUpPolicy:
    return TopUpPolicy(
        max_per_topup_usd=wallet.topup_amount_usd,
        max_per_day_usd=wallet.max_topup_per_day_usd,
        spent_today_usd=spent_today(wallet),
    )


@contextlib.contextmanager
def topup_lease(wallet: Wallet, wait_s: float = 20.0) -> Iterator[None]:
    """Held for leases.TERM and renewed by this process's heartbeat (up to LEASE): a killed
    worker's lease frees within seconds, not LEASE."""
    deadline = time.monotonic() + wait_s
    while True:
        now = timezone.now()
        holder_until = leases.term_from(now)
        taken = Wallet.objects.filter(
            Q(topup_lease_until__isnull=True) | Q(topup_lease_until__lt=now), pk=wallet.pk
        ).update(topup_lease_until=holder_until)
        if taken:
            break
        if time.monotonic() > deadline:
            raise WalletBusy(f"wallet {wallet.name} is being topped up by another worker")
        time.sleep(0.2)
    lease = leases.hold(Wallet, {"pk": wallet.pk}, "topup_lease_until", holder_until, LEASE)
    try:
        yield
    finally:
        lease.end()


def refresh_credit(wallet: Wallet, client: VeniceClient) -> Decimal:
    balance = client.balance()
    Wallet.objects.filter(pk=wallet.pk).update(
        credit_usd=balance.balance_usd, credit_checked_at=timezone.now()
    )
    wallet.credit_usd = balance.balance_usd
    return balance.balance_usd


def refresh_usdc(wallet: Wallet) -> Decimal:
    amount = usdc_balance(settings.CHAIN_RPC_URL, wallet.address)
    Wallet.objects.filter(pk=wallet.pk).update(usdc_balance=amount, usdc_checked_at=timezone.now())
    return amount


def note_spent(wallet: Wallet, amount: Decimal) -> None:
    """Lower the known credit by a job's price, so the next job need not ask Venice."""
    Wallet.objects.filter(pk=wallet.pk, credit_usd__isnull=False).update(
        credit_usd=F("credit_usd") - amount
    )


def forget_credit(wallet: Wallet) -> None:
    Wallet.objects.filter(pk=wallet.pk).update(credit_checked_at=None)


def _enough(wallet: Wallet, credit: Decimal, needed: Decimal) -> bool:
    return credit - needed >= max(wallet.topup_below_usd, ADMISSION_FLOOR_USD)


def ensure_credit(wallet: Wallet, needed_usd: Decimal) -> None:
    """Make sure the wallet can pay `needed_usd`, topping up under its policy if it must.

    Raises TopUpNotAllowed when the policy forbids the top-up that would be needed, TopUpPending
    when an earlier payment's outcome is still unknown, WalletBusy, or a venice error.
    """
    if not wallet.is_evm:
        return  # an API key's account is billed by Venice directly
    wallet.refresh_from_db(fields=["credit_usd", "credit_checked_at"])
    fresh = (
        wallet.credit_checked_at and timezone.now() - wallet.credit_checked_at < CREDIT_FRESH_FOR
    )
    if fresh and wallet.credit_usd is not None and _enough(wallet, wallet.credit_usd, needed_usd):
        return
    with client_for(wallet) as client, topup_lease(wallet):
        settle_open_topups(wallet, client)
        credit = refresh_credit(wallet, client)
        # Each round buys the policy's amount; the daily cap (checked before signing) bounds it.
        while not _enough(wallet, credit, needed_usd):
            amount = max(wallet.topup_amount_usd, MINIMUM_TOPUP_USD)
            topup = _sign(wallet, client, amount, reason="credit below policy threshold")
            send(topup, client)
            _require_credited(topup)
            credit = refresh_credit(wallet, client)


def manual_top_up(wallet: Wallet, amount_usd: Decimal, *, requested_by=None) -> TopUp:
    """An admin's top-up: same caps, same lease, same at-most-once rules as the worker's."""
    if not wallet.is_evm:
        raise TopUpNotAllowed(
            "Only an x402 wallet can be topped up; an API key is billed by Venice."
        )
    amount = Decimal(amount_usd)
    if amount != amount.quantize(Decimal("0.01")):
        raise TopUpNotAllowed("A top-up is a whole number of cents.")
    with client_for(wallet) as client, topup_lease(wallet):
        settle_open_topups(wallet, client)
        topup = _sign(wallet, client, amount, reason="manual", requested_by=requested_by)
        send(topup, client)
    return topup


def _require_credited(topup: TopUp) -> None:
    if topup.status == TopUp.Status.FAILED:
        raise TopUpFailed(f"Venice refused the top-up: {topup.last_error or topup.last_error_code}")
    if topup.status != TopUp.Status.CREDITED:
        raise TopUpPending(f"top-up {topup.pk} is still settling")


def _sign(
    wallet: Wallet, client: VeniceClient, amount: Decimal, *, reason: str, requested_by=None
) -> TopUp:
    policy = policy_for(wallet)
    if amount > policy.max_per_topup_usd:
        raise TopUpNotAllowed(
            f"${amount:.2f} is above the policy's ${policy.max_per_topup_usd:.2f} per top-up."
        )
    if policy.spent_today_usd + amount > policy.max_per_day_usd:
        raise TopUpNotAllowed(
            f"Today's top-ups would reach ${policy.spent_today_usd + amount:.2f}, above the "
            f"${policy.max_per_day_usd:.2f} a day the policy allows."
        )
    try:
        signed = client.top_up(amount, policy)
    except errors.PaymentRefused as exc:
        log.warning("top-up for wallet %s refused before signing: %s", wallet.name, exc)
        raise TopUpNotAllowed(str(exc)) from exc
    except errors.MalformedResponse as exc:
        log.warning("top-up for wallet %s: Venice's 402 answer is unreadable: %s", wallet.name, exc)
        raise
    # Saved, committed, before a single byte is sent: after a crash this row is re-sent.
    return TopUp.objects.create(
        wallet=wallet,
        amount_usd=signed.amount_usd,
        amount_atomic=str(signed.amount_atomic),
        network=signed.network,
        asset=signed.asset,
        pay_to=signed.pay_to,
        payer=signed.payer,
        nonce=signed.nonce,
        valid_before=datetime.datetime.fromtimestamp(int(signed.valid_before), tz=datetime.UTC),
        payment_header=signed.header,
        reason=reason,
        requested_by=requested_by,
    )


def settle_open_topups(wallet: Wallet, client: VeniceClient) -> None:
    """Re-send every payment without a definite answer; TopUpPending if one stays open."""
    for topup in wallet.topups.filter(status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT]):
        send(topup, client)
        if topup.is_open:
            raise TopUpPending(f"top-up {topup.pk} is still settling")


def send(topup: TopUp, client: VeniceClient, *, settle_wait_s: float = 15.0) -> TopUp:
    """Send (or re-send) the stored payment until Venice answers definitely or time runs out."""
    deadline = time.monotonic() + settle_wait_s
    delay = 0.25
    while True:
        TopUp.objects.filter(pk=topup.pk).update(
            status=TopUp.Status.SENT, attempts=F("attempts") + 1, sent_at=timezone.now()
        )
        topup.status = TopUp.Status.SENT
        try:
            result = client.send_payment(topup.payment_header)
        except (
            errors.PaymentInProgress,
            errors.SettlementTimeout,
            errors.UpstreamUnavailable,
            errors.RateLimited,
        ) as exc:
            _note_error(topup, exc)
        except errors.PaymentFailed as exc:
            _note_error(topup, exc)
            TopUp.objects.filter(pk=topup.pk).update(status=TopUp.Status.FAILED)
            topup.status = TopUp.Status.FAILED
            log.warning("top-up %s failed: %s", topup.pk, exc)
            return topup
        else:
            _credit(topup, result)
            return topup
        if time.monotonic() + delay > deadline:
            return topup
        time.sleep(delay)
        delay = min(delay * 2, 4.0)


def _note_error(topup: TopUp, exc: errors.VeniceError) -> None:
    code = getattr(exc, "code", "") or type(exc).__name__
    TopUp.objects.filter(pk=topup.pk).update(last_error_code=code[:60], last_error=str(exc)[:2000])


def _credit(topup: TopUp, result) -> None:
    with transaction.atomic():
        TopUp.objects.filter(pk=topup.pk).update(
            status=TopUp.Status.CREDITED,
            payment_id=result.payment_id or "",
            amount_credited_usd=result.amount_credited,
            new_balance_usd=result.new_balance,
            tx_hash=result.transaction_hash or "",
            settled_at=timezone.now(),
            last_error_code="",
            last_error="",
        )
        Wallet.objects.filter(pk=topup.wallet_id).update(
            credit_usd=result.new_balance, credit_checked_at=timezone.now()
        )
    topup.refresh_from_db()
    log.info("top-up %s credited %s USD (tx %s)", topup.pk, result.amount_credited, topup.tx_hash)


def verify_receipt(topup: TopUp) -> TopUp:
    """Check on chain that the top-up's transaction moved exactly its amount to its payTo."""
    if topup.status != TopUp.Status.CREDITED or not topup.tx_hash:
        return topup
    check = check_transfer(
        settings.CHAIN_RPC_URL, topup.tx_hash, topup.payer, topup.pay_to, int(topup.amount_atomic)
    )
    topup.receipt = TopUp.Receipt.VERIFIED if check.ok else TopUp.Receipt.MISMATCH
    topup.receipt_note = (check.reason or "")[:200]
    TopUp.objects.filter(pk=topup.pk).update(receipt=topup.receipt, receipt_note=topup.receipt_note)
    return topup
