"""Venice's own ledger (/x402/transactions), copied into LedgerEntry and matched to top-ups."""

from __future__ import annotations

import datetime

from django.utils import timezone

from venice import VeniceClient

from .models import LedgerEntry, TopUp, Wallet

# A top-up's ledger row and our record of its settlement are seconds apart; a settlement
# timeout can stretch that to minutes.
MATCH_WINDOW = datetime.timedelta(minutes=15)


PAGE = 100


def sync(wallet: Wallet, client: VeniceClient, *, full: bool = False) -> int:
    """Copy the rows we have not seen yet; returns how many were new.

    Venice allows 20 ledger pages a minute (the client's pacer waits for each), so the periodic
    sync reads only down to the newest row it already has; `full` walks the whole ledger
    (reconciliation does, hourly). Each page is kept as it arrives, and a walk that stops
    part-way (a 429, an outage, a worker's time limit) leaves its offset on the wallet: the
    next sync reads the new rows at the top, then goes on from there.
    """
    started = timezone.now()
    resume = wallet.ledger_resume_offset
    newest = None
    if not full or resume is not None:
        newest = (
            LedgerEntry.objects.filter(wallet=wallet)
            .order_by("-created_at", "-pk")
            .values_list("venice_id", flat=True)
            .first()
        )
    if full and resume is None:
        newest = None
    saved = _Saver(wallet, walking=newest is None)
    client.transactions(page_size=PAGE, stop_at=newest, on_page=saved.page)
    if resume is not None and newest is not None:
        # Rows that arrived since pushed the unread part down; a page of overlap covers the
        # rows that arrived while the interrupted walk was under way.
        saved.walking = True
        offset = max(0, resume + saved.new - PAGE)
        client.transactions(page_size=PAGE, offset=offset, on_page=saved.page)
    match_topups(wallet)
    Wallet.objects.filter(pk=wallet.pk).update(ledger_synced_at=started)
    wallet.ledger_synced_at = started
    return saved.new


class _Saver:
    """Stores each ledger page as it arrives; while walking to the end, notes how far it got."""

    def __init__(self, wallet: Wallet, *, walking: bool):
        self.wallet = wallet
        self.walking = walking
        self.new = 0

    def page(self, rows: list, next_offset: int, has_more: bool) -> None:
        self.new += store_rows(self.wallet, rows)
        if self.walking:
            offset = next_offset if has_more else None
            Wallet.objects.filter(pk=self.wallet.pk).update(ledger_resume_offset=offset)
            self.wallet.ledger_resume_offset = offset


def store_rows(wallet: Wallet, rows: list) -> int:
    known = set(
        LedgerEntry.objects.filter(
            wallet=wallet, venice_id__in=[row.id for row in rows]
        ).values_list("venice_id", flat=True)
    )
    new = [
        LedgerEntry(
            wallet=wallet,
            venice_id=row.id,
            type=row.type,
            amount_usd=abs(row.amount),
            balance_after_usd=row.balance_after,
            created_at=row.created_at,
            request_id=row.request_id or "",
            model_id=row.model_id or "",
        )
        for row in rows
        if row.id not in known
    ]
    LedgerEntry.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def match_topups(wallet: Wallet) -> None:
    """Link TOP_UP rows to our TopUps: by payment id when Venice gives one, else by amount and
    the nearest settlement time (the reference does not promise a requestId on top-ups)."""
    linked = LedgerEntry.objects.filter(topup__isnull=False).values("topup_id")
    for entry in LedgerEntry.objects.filter(
        wallet=wallet, type=LedgerEntry.Type.TOP_UP, topup__isnull=True
    ).order_by("created_at"):
        candidates = TopUp.objects.filter(wallet=wallet, status=TopUp.Status.CREDITED).exclude(
            pk__in=linked
        )
        topup = None
        if entry.request_id:
            topup = candidates.filter(payment_id=entry.request_id).first()
        if topup is None:
            near = candidates.filter(
                amount_credited_usd=entry.amount_usd,
                settled_at__range=(
                    entry.created_at - MATCH_WINDOW,
                    entry.created_at + MATCH_WINDOW,
                ),
            )
            topup = min(near, key=lambda t: abs(t.settled_at - entry.created_at), default=None)
        if topup:
            LedgerEntry.objects.filter(pk=entry.pk).update(topup=topup)
