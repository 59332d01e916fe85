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

from ops import leases
from venice import TopUpPolicy, VeniceClient, errors
from venice.chain import authorization_used, check_transfer, usdc_balance
from venice.payments import MIN_TOP_UP_USD, check_caps

from . import approvals, ledger, signals
from .models import LedgerEntry, TopUp, TopUpApproval, Wallet
from .venice import WORKER_PACE_WAIT_S, client_for

log = logging.getLogger(__name__)

# Venice serves a wallet only while it holds at least this much credit.
ADMISSION_FLOOR_USD = Decimal("0.10")
LEASE = datetime.timedelta(seconds=90)
# How long a known credit figure may stand in for asking Venice (30 balance calls/min allowed).
CREDIT_FRESH_FOR = datetime.timedelta(seconds=60)
# A signed authorization can settle only before its validBefore. This long after it, whatever
# Venice did with it shows on chain and in its ledger, so the payment is settled from those.
EXPIRY_MARGIN = datetime.timedelta(seconds=60)
# A top-up row of Venice's ledger this much older than our signature cannot be our payment.
LEDGER_SLACK = datetime.timedelta(seconds=30)
# After Venice refuses a payment the worker signs no new one for a while (settings
# TOPUP_REFUSAL_PAUSE_S; TOPUP_SETTLEMENT_FAILED_PAUSE_S after a 402 SETTLEMENT_FAILED, which
# may sign anew sooner): the cause (too little USDC, a wrong setting) is rarely gone a second
# later, and each refusal counts against Venice's error budget. An operator's own top-up is not
# held back.
SETTLEMENT_FAILED = "SETTLEMENT_FAILED"


def refusal_pause(code: str) -> datetime.timedelta:
    seconds = (
        settings.TOPUP_SETTLEMENT_FAILED_PAUSE_S
        if code == SETTLEMENT_FAILED
        else settings.TOPUP_REFUSAL_PAUSE_S
    )
    return datetime.timedelta(seconds=seconds)


EXPIRED_UNUSED = "EXPIRED_UNUSED"
# A payment without a definite answer yet.
OPEN = (TopUp.Status.SIGNED, TopUp.Status.SENT)


class TopUpNotAllowed(Exception):
    """The policy forbids the top-up this needs (e.g. today's allowance is used up)."""


class TopUpFailed(Exception):
    """Venice refused the payment for good (e.g. too little USDC); no funds moved."""


class TopUpPending(Exception):
    """A payment is still settling; whether it landed is not known yet. Try again later."""


class TopUpPaused(TopUpPending):
    """Venice refused a payment moments ago: no new one is signed until the pause is over.
    A kind of TopUpPending, so that work needing credit waits and tries again later."""


class TopUpAwaitingApproval(TopUpPending):
    """The top-up is above the wallet's approval amount and no second admin has approved it."""


class TopUpDenied(TopUpNotAllowed):
    """An admin denied the approval a top-up needs, after the work asking for it began: that
    work ends (releasing what it reserved) rather than asking the admins again and again."""


class WalletBusy(Exception):
    """Another worker holds this wallet's top-up lease."""


# What an admin's top-up (manual_top_up) raises when it did not happen: each says why, in words
# fit to show that admin.
MANUAL_TOP_UP_REFUSED = (TopUpNotAllowed, TopUpPending, TopUpFailed, WalletBusy, errors.VeniceError)


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
    try:
        balance = client.balance()
    except errors.InsufficientBalance as exc:
        # A wallet Venice has never credited may be answered with a 402 instead of a zero
        # balance: that is a known credit too (what it says, else none), not an error.
        if (
            exc.current_balance_usd is None
            and wallet.topups.filter(status=TopUp.Status.CREDITED).exists()
        ):
            raise
        amount = exc.current_balance_usd or Decimal("0")
        Wallet.objects.filter(pk=wallet.pk).update(
            credit_usd=amount, credit_checked_at=timezone.now()
        )
        wallet.credit_usd = amount
        return amount
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


def ensure_credit(
    wallet: Wallet, needed_usd: Decimal, *, asked_since: datetime.datetime | None = None
) -> None:
    """Make sure the wallet can pay `needed_usd`, topping up under its policy if it must.

    Raises TopUpNotAllowed when the policy forbids the top-up that would be needed (TopUpDenied
    when an admin denied its approval since `asked_since`, when the work needing it began),
    TopUpPending when an earlier payment's outcome is still unknown, WalletBusy, or a venice error.
    """
    if not wallet.is_evm:
        return  # an API key's account is billed by Venice directly
    wallet.refresh_from_db(fields=["credit_usd", "credit_checked_at"])
    fresh = (
        wallet.credit_checked_at and timezone.now() - wallet.credit_checked_at < CREDIT_FRESH_FOR
    )
    if fresh and wallet.credit_usd is not None and _enough(wallet, wallet.credit_usd, needed_usd):
        return
    with client_for(wallet, pace_wait_s=WORKER_PACE_WAIT_S) as client, topup_lease(wallet):
        settle_open_topups(wallet, client)
        credit = refresh_credit(wallet, client)
        # Each round buys the policy's amount; the daily cap (checked before signing) bounds it.
        while not _enough(wallet, credit, needed_usd):
            _pause_after_refusal(wallet)
            amount = max(wallet.topup_amount_usd, MIN_TOP_UP_USD)
            topup = _sign(
                wallet,
                client,
                amount,
                reason="credit below policy threshold",
                asked_since=asked_since,
            )
            send(topup, client)
            _require_credited(topup)
            credit = refresh_credit(wallet, client)


def manual_top_up(
    wallet: Wallet, amount_usd: Decimal, *, requested_by=None, reason: str = "manual"
) -> TopUp:
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
        topup = _sign(wallet, client, amount, reason=reason, requested_by=requested_by)
        send(topup, client)
    return topup


def use_approval(approval_id: int) -> None:
    """The worker's task once a second admin approved a top-up: sign and send it now."""
    approval = TopUpApproval.objects.select_related("wallet", "requested_by").get(pk=approval_id)
    if approval.status != TopUpApproval.Status.APPROVED:
        return  # the worker's own next top-up used it already
    manual_top_up(
        approval.wallet,
        approval.amount_usd,
        requested_by=approval.requested_by,
        reason=approval.reason,
    )


def _pause_after_refusal(wallet: Wallet) -> None:
    longest = max(refusal_pause(""), refusal_pause(SETTLEMENT_FAILED))
    now = timezone.now()
    refused = (
        wallet.topups.filter(status=TopUp.Status.FAILED, settled_at__gte=now - longest)
        .exclude(last_error_code=EXPIRED_UNUSED)
        .order_by("-settled_at")
        .first()
    )
    if refused is None:
        return
    until = refused.settled_at + refusal_pause(refused.last_error_code)
    if until > now:
        raise TopUpPaused(
            f"Top-up {refused.pk} was refused at {refused.settled_at:%H:%M:%S} UTC; the worker "
            f"signs no new one before {until:%H:%M:%S} UTC. {refused.outcome}"
        )


def _require_credited(topup: TopUp) -> None:
    if topup.status == TopUp.Status.FAILED:
        raise TopUpFailed(f"Top-up {topup.pk}: {topup.outcome}")
    if topup.status != TopUp.Status.CREDITED:
        raise TopUpPending(f"top-up {topup.pk} is still settling")


def _sign(
    wallet: Wallet,
    client: VeniceClient,
    amount: Decimal,
    *,
    reason: str,
    requested_by=None,
    asked_since: datetime.datetime | None = None,
) -> TopUp:
    policy = policy_for(wallet)
    try:  # before an approval is asked for: nobody approves what the policy forbids
        check_caps(amount, policy)
    except errors.PaymentRefused as exc:
        raise TopUpNotAllowed(str(exc)) from exc
    approval = None
    if approvals.needs_approval(wallet, amount):
        approval = approvals.approved(wallet, amount)
        if approval is None:
            if asked_since is not None and (denial := approvals.denied_since(wallet, asked_since)):
                raise TopUpDenied(approvals.denied_message(denial))
            waiting = approvals.ask(wallet, amount, reason=reason, requested_by=requested_by)
            raise TopUpAwaitingApproval(approvals.waiting_message(waiting))
    try:
        signed = client.top_up(amount, policy)
    except errors.PaymentRefused as exc:
        log.warning("top-up for wallet %s refused before signing: %s", wallet.name, exc)
        raise TopUpNotAllowed(str(exc)) from exc
    except errors.MalformedResponse as exc:
        log.warning("top-up for wallet %s: Venice's 402 answer is unreadable: %s", wallet.name, exc)
        raise
    # Saved, committed, before a single byte is sent: after a crash this row is re-sent.
    with transaction.atomic():
        topup = _record_signed(wallet, signed, reason, requested_by)
        if approval is not None:
            approvals.mark_used(approval, topup)
    return topup


def _record_signed(wallet: Wallet, signed, reason: str, requested_by) -> TopUp:
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


def expired(topup: TopUp) -> bool:
    """Past its validBefore (and the margin): it can no longer settle, only have settled."""
    return timezone.now() > topup.valid_before + EXPIRY_MARGIN


def settle_open_topups(wallet: Wallet, client: VeniceClient) -> None:
    """Bring every payment without a definite answer to one: re-send it while it can still
    settle, settle it from the ledger and the chain once it cannot. TopUpPending while one may
    still land (signing another then could pay twice); an expired one whose outcome the chain
    cannot tell yet no longer blocks, since nothing can happen to it any more."""
    still_open = None
    for topup in wallet.topups.filter(status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT]):
        if expired(topup):
            settle_expired(topup, client)
            continue
        send(topup, client)
        if topup.is_open and topup.status == TopUp.Status.SENT:
            # "Already processed or still settling": only the ledger says which.
            settle_from_ledger(topup, client)
        if topup.is_open:
            still_open = topup
    if still_open is not None:
        raise TopUpPending(f"top-up {still_open.pk} is still settling")


def settle_from_ledger(topup: TopUp, client: VeniceClient) -> bool:
    """Credited if Venice's ledger holds a top-up of its amount, newer than its signature, that
    no other payment of ours has claimed. True when that settled it."""
    try:
        ledger.sync(topup.wallet, client)
    except errors.VeniceError as exc:
        log.warning("top-up %s: Venice's ledger could not be read: %s", topup.pk, exc)
        return False
    claimed = LedgerEntry.objects.filter(topup__isnull=False).values("topup_id")
    entry = (
        LedgerEntry.objects.filter(
            wallet_id=topup.wallet_id,
            type=LedgerEntry.Type.TOP_UP,
            topup__isnull=True,
            amount_usd=topup.amount_usd,
            created_at__gte=topup.created_at - LEDGER_SLACK,
        )
        .exclude(topup_id__in=claimed)
        .order_by("created_at", "pk")
        .first()
    )
    if entry is None:
        return False
    with transaction.atomic():
        moved = TopUp.objects.filter(
            pk=topup.pk, status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT]
        ).update(
            status=TopUp.Status.CREDITED,
            amount_credited_usd=entry.amount_usd,
            settled_at=entry.created_at,
            settled_from=f"found in Venice's ledger, row {entry.venice_id}"[:300],
        )
        if moved:
            LedgerEntry.objects.filter(pk=entry.pk).update(topup=topup)
    topup.refresh_from_db()
    forget_credit(topup.wallet)
    log.info("top-up %s credited per Venice's ledger row %s", topup.pk, entry.venice_id)
    return bool(moved)


def settle_expired(topup: TopUp, client: VeniceClient) -> TopUp:
    """A payment past its validBefore with no definite answer: the ledger, then the chain's
    ``authorizationState`` decide. Never sent again (it would only be refused)."""
    if settle_from_ledger(topup, client):
        return topup
    try:
        used = authorization_used(settings.CHAIN_RPC_URL, topup.payer, topup.nonce)
    except errors.VeniceError as exc:
        note = (
            f"It expired at {topup.valid_before:%Y-%m-%d %H:%M} UTC; the chain could not be "
            f"read ({exc.message[:120]}), so it is settled on a later sync. It does not block "
            f"new top-ups."
        )
        TopUp.objects.filter(pk=topup.pk).update(settled_from=note[:300])
        topup.settled_from = note[:300]
        log.warning("top-up %s expired unsettled; the chain could not be read", topup.pk)
        return topup
    now = timezone.now()
    if used:
        fields = {
            "status": TopUp.Status.CREDITED,
            "amount_credited_usd": topup.amount_usd,
            "settled_at": now,
            "settled_from": "settled from the chain: its authorization was used; Venice's "
            "ledger does not show it yet, reconciliation will",
        }
    else:
        fields = {
            "status": TopUp.Status.FAILED,
            "settled_at": now,
            "last_error_code": EXPIRED_UNUSED,
            "last_error": "no definite answer came before it expired, and the chain shows "
            "its authorization unused",
            "settled_from": "Settled from the chain and Venice's ledger",
        }
    TopUp.objects.filter(pk=topup.pk, status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT]).update(
        **fields
    )
    topup.refresh_from_db()
    forget_credit(topup.wallet)
    log.info("top-up %s settled from the chain: %s", topup.pk, topup.status)
    return topup


def send(topup: TopUp, client: VeniceClient, *, settle_wait_s: float = 15.0) -> TopUp:
    """Send (or re-send) the stored payment until Venice answers definitely or time runs out.

    Definite: 200 (credited) or a refusal (400 with its code in `error`, 402
    SETTLEMENT_FAILED, 401, 403), which is recorded and never sent again. Open: 409, 429, 503,
    504 and no answer, re-sent a few times and then left for a later sync."""
    if expired(topup):
        return topup  # too late to settle: settle_expired decides it from the chain
    deadline = time.monotonic() + settle_wait_s
    delay = 1.0  # the top-up route allows 10 calls a minute per IP
    while True:
        # Only while it is still open: a worker whose top-up lease ran out (a heartbeat that
        # could not reach the database) may find it settled by the next holder meanwhile.
        if not TopUp.objects.filter(pk=topup.pk, status__in=OPEN).update(
            status=TopUp.Status.SENT, attempts=F("attempts") + 1, sent_at=timezone.now()
        ):
            topup.refresh_from_db()
            return topup
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
        except errors.VeniceError as exc:
            # PaymentFailed, or any other 4xx: the same bytes would get the same answer.
            if not isinstance(exc, errors.PaymentFailed) and not (
                exc.status and 400 <= exc.status < 500
            ):
                raise
            _note_error(topup, exc)
            TopUp.objects.filter(pk=topup.pk, status__in=OPEN).update(
                status=TopUp.Status.FAILED, settled_at=timezone.now()
            )
            topup.refresh_from_db()
            log.warning("top-up %s refused: %s", topup.pk, exc)
            if topup.status == TopUp.Status.FAILED:
                signals.topup_refused.send(sender=TopUp, topup_id=topup.pk)
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
    message = exc.message if exc.status is None else f"{exc.message} (HTTP {exc.status})"
    topup.last_error_code, topup.last_error = code[:60], message[:2000]
    TopUp.objects.filter(pk=topup.pk).update(
        last_error_code=topup.last_error_code, last_error=topup.last_error
    )


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
