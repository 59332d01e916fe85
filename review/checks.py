"""Reconciliation's checks: what Studio's records and Venice's ledger (or the chain) disagree on.

Each check reads one side of one wallet (or the budgets) and returns what it found (``Found``),
storing nothing; review.reconcile runs them under its lease and stores the differences.

- a CHARGE (or REFUND) with no job; a job charged twice; a charge or refund of another amount
  than the quote or the charges; a job Venice accepted but never charged;
- a refund not applied to a budget; a budget whose figures differ from its jobs';
- a top-up Venice credited that we did not record, or one we recorded that Venice's ledger
  lacks; a top-up credited for another amount than we signed;
- a receipt missing, or one that does not show the transfer;
- a row of our copy that Venice changed or no longer lists; a ledger that does not add up to its
  own balance.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import accounting
from jobs.models import Job
from venice import VeniceClient, errors
from wallets import ledger, payments
from wallets.models import Budget, LedgerEntry, TopUp, Wallet
from wallets.money import usd
from wallets.venice import client_for

from .models import Difference

Kind = Difference.Kind
CHARGE, REFUND, TOP_UP = LedgerEntry.Type.CHARGE, LedgerEntry.Type.REFUND, LedgerEntry.Type.TOP_UP
RECEIPT_KINDS = frozenset({Kind.RECEIPT_MISSING, Kind.RECEIPT_MISMATCH})
WALLET_KINDS = frozenset(set(Kind) - {Kind.BUDGET_MISMATCH})
# A charge this recent may still be adopted by a job whose queue answer was lost (NEEDS_REVIEW).
REVIEW_GRACE = datetime.timedelta(minutes=30)
USD_FIELD = DecimalField(max_digits=14, decimal_places=6)
ZERO = Decimal("0")


@dataclass(frozen=True)
class Found:
    kind: str
    key: str
    detail: str
    job_id: int | None = None
    topup_id: int | None = None
    ledger_entry_id: int | None = None
    budget_id: int | None = None
    venice_id: str = ""
    expected: Decimal | None = None
    actual: Decimal | None = None


@dataclass
class WalletCheck:
    wallet: Wallet
    found: list[Found] = field(default_factory=list)
    # The kinds this check covered completely: open differences of these kinds it did not find
    # again are cleared. (Receipts are left out when the chain could not be read.)
    checked: set[str] = field(default_factory=lambda: set(WALLET_KINDS))
    errors: list[str] = field(default_factory=list)
    rows_read: int = 0
    chain_down: bool = False


class _FetchOnce:
    """A client whose ledger is read from Venice once, so the sync and the comparison see the
    same rows (the ledger endpoint allows 20 calls a minute; a big ledger is many pages)."""

    def __init__(self, client: VeniceClient):
        self._client = client
        self.rows: list | None = None

    def transactions(
        self, page_size: int = 100, stop_at: str | None = None, *, offset: int = 0, on_page=None
    ) -> list:
        # Always the whole ledger: reconciliation compares every row. Each page is handed to
        # the sync as it arrives, so a read cut short keeps what it got and resumes later.
        if self.rows is None:
            self.rows = self._client.transactions(page_size, on_page=on_page)
        elif on_page is not None:
            on_page(self.rows, len(self.rows), False)
        return self.rows


# --- the checks ---------------------------------------------------------------------------------


def check_wallet(
    wallet: Wallet, client: VeniceClient | None = None, *, all_receipts: bool = False
) -> WalletCheck:
    """Sync the wallet's ledger, apply it, and list its differences (stores nothing)."""
    result = WalletCheck(wallet)
    own_client = client is None
    client = client or client_for(wallet)
    try:
        fetched_at = timezone.now()
        fetch = _FetchOnce(client)
        ledger.sync(wallet, fetch, full=True)  # type: ignore[arg-type]  # only .transactions()
        accounting.apply_ledger(wallet)
        rows = fetch.rows or []
        result.rows_read = len(rows)
        try:
            payments.refresh_credit(wallet, client)
        except errors.VeniceError as exc:
            result.errors.append(f"{wallet.name}: Venice credit not refreshed ({exc})")
    finally:
        if own_client:
            client.close()
    result.found += compare_copy(wallet, rows, fetched_at)
    result.found += check_balance(wallet, rows)
    result.found += check_charges(wallet, fetched_at)
    result.found += check_topups(wallet, fetched_at)
    try:
        payments.refresh_usdc(wallet)
        result.found += check_receipts(wallet, all_receipts=all_receipts)
    except errors.VeniceError as exc:
        result.checked -= RECEIPT_KINDS
        result.chain_down = True
        result.errors.append(f"{wallet.name}: the chain could not be read ({exc})")
    return result


def compare_copy(wallet: Wallet, rows: list, fetched_at: datetime.datetime) -> list[Found]:
    """Our copy of each ledger row against what Venice lists now."""
    upstream = {row.id: row for row in rows}
    found = []
    ours = (
        LedgerEntry.objects.filter(wallet=wallet, synced_at__lt=fetched_at)
        .values_list("pk", "venice_id", "type", "amount_usd")
        .order_by("pk")
    )
    for pk, venice_id, kind, amount in ours.iterator(chunk_size=5000):
        row = upstream.get(venice_id)
        if row is None:
            found.append(
                Found(
                    Kind.ROW_GONE,
                    f"row_gone:{wallet.pk}:{venice_id}",
                    f"Venice no longer lists its {kind} row {venice_id} of {usd(amount)}.",
                    ledger_entry_id=pk,
                    venice_id=venice_id,
                    expected=amount,
                )
            )
        elif row.type != kind or abs(row.amount) != amount:
            found.append(
                Found(
                    Kind.AMOUNT_MISMATCH,
                    f"amount:row:{wallet.pk}:{venice_id}:{row.type}:{abs(row.amount)}",
                    f"Venice's row {venice_id} now reads {row.type} {usd(abs(row.amount))}; "
                    f"our copy reads {kind} {usd(amount)}.",
                    ledger_entry_id=pk,
                    venice_id=venice_id,
                    expected=amount,
                    actual=abs(row.amount),
                )
            )
    return found


def check_balance(wallet: Wallet, rows: list) -> list[Found]:
    """Venice's rows must add up to the balance its newest row reports."""
    if not rows:
        return []
    total = sum((-abs(row.amount) if row.type == CHARGE else abs(row.amount) for row in rows), ZERO)
    newest = rows[0]  # Venice lists newest first
    if total == newest.balance_after:
        return []
    return [
        Found(
            Kind.BALANCE_MISMATCH,
            f"balance:{wallet.pk}:{newest.id}:{total}",
            f"Venice's ledger rows add up to {usd(total)}, but its newest row says the balance is "
            f"{usd(newest.balance_after)}.",
            venice_id=newest.id,
            expected=total,
            actual=newest.balance_after,
        )
    ]


def _awaiting_review(entry: LedgerEntry, unknown: list[tuple[str, datetime.datetime]]) -> bool:
    """Whether a job whose queue answer was lost may still adopt this charge (pipeline review)."""
    if timezone.now() - entry.created_at > REVIEW_GRACE:
        return False
    return any(
        model_id == entry.model_id
        and sent_at - datetime.timedelta(seconds=5) <= entry.created_at
        and entry.created_at <= sent_at + datetime.timedelta(minutes=5)
        for model_id, sent_at in unknown
    )


def _sum(kind: str):
    return Coalesce(Sum("amount_usd", filter=Q(type=kind)), Value(ZERO), output_field=USD_FIELD)


def check_charges(wallet: Wallet, fetched_at: datetime.datetime) -> list[Found]:
    found: list[Found] = []
    unknown = list(
        Job.objects.filter(
            wallet=wallet,
            queue_id__isnull=True,
            queue_sent_at__isnull=False,
            state__in=[Job.State.SUBMITTING, Job.State.NEEDS_REVIEW],
        ).values_list("model_id", "queue_sent_at")
    )
    unlinked = LedgerEntry.objects.filter(
        wallet=wallet, job__isnull=True, type__in=[CHARGE, REFUND]
    ).order_by("created_at")
    # A charge a lost submission may still adopt is not a difference yet, nor is its refund
    # (a refused job's refund lands as soon as Venice ends it, before the review adopts it).
    waiting = (
        {
            entry.request_id
            for entry in unlinked.filter(type=CHARGE).exclude(request_id="")
            if _awaiting_review(entry, unknown)
        }
        if unknown
        else set()
    )
    for entry in unlinked.iterator(chunk_size=2000):
        request = f"request {entry.request_id}" if entry.request_id else "no request id"
        if entry.request_id and entry.request_id in waiting:
            continue
        if entry.type == CHARGE:
            if _awaiting_review(entry, unknown):
                continue
            found.append(
                _unexplained(
                    entry,
                    Kind.CHARGE_WITHOUT_JOB,
                    f"charge_without_job:{wallet.pk}:{entry.venice_id}",
                    f"Venice charged {usd(entry.amount_usd)} ({entry.model_id or 'no model'}, "
                    f"{request}) at {entry.created_at:%Y-%m-%d %H:%M:%S} UTC, and no job of "
                    f"ours has that queue id.",
                )
            )
        else:
            found.append(
                _unexplained(
                    entry,
                    Kind.REFUND_WITHOUT_JOB,
                    f"refund_without_job:{wallet.pk}:{entry.venice_id}",
                    f"Venice refunded {usd(entry.amount_usd)} ({request}) and no job of ours "
                    f"has that queue id.",
                )
            )

    # Each job's ledger rows against its quote and its records. The SQL keeps only the jobs where
    # something differs (SQLite's float sums may let a few equal ones through; Python decides).
    per_job = (
        LedgerEntry.objects.filter(wallet=wallet, job__isnull=False)
        .values(
            "job_id",
            "job__quoted_usd",
            "job__charged_usd",
            "job__refunded_usd",
            "job__settled_usd",
            "job__state",
        )
        .annotate(
            charges=Count("pk", filter=Q(type=CHARGE)),
            charged=_sum(CHARGE),
            refunds=Count("pk", filter=Q(type=REFUND)),
            refunded=_sum(REFUND),
        )
        .filter(
            Q(charges__gt=0) & ~Q(charged=F("job__quoted_usd"))
            | Q(refunds__gt=0) & ~Q(refunded=F("charged"))
            | Q(job__charged_usd__isnull=True)
            | ~Q(job__charged_usd=F("charged"))
            | ~Q(job__refunded_usd=F("refunded"))
            | Q(job__state__in=Job.FINISHED) & ~Q(job__settled_usd=F("charged") - F("refunded"))
        )
        .order_by("job_id")
    )
    for row in per_job.iterator(chunk_size=2000):
        found += _job_differences(row, finished=row["job__state"] in Job.FINISHED)

    # A job Venice accepted (it answered with a queue id) but never charged.
    uncharged = (
        Job.objects.filter(wallet=wallet, queue_id__isnull=False, queued_at__lt=fetched_at)
        .exclude(Exists(LedgerEntry.objects.filter(job=OuterRef("pk"))))
        .values_list("pk", "quoted_usd", "queue_id")
    )
    for job_id, quoted, queue_id in uncharged.iterator(chunk_size=2000):
        found.append(
            Found(
                Kind.AMOUNT_MISMATCH,
                f"amount:uncharged:{job_id}",
                f"Venice accepted job {job_id} (queue id {queue_id}, quoted {usd(quoted)}) but "
                f"its ledger has no charge for it.",
                job_id=job_id,
                expected=quoted,
                actual=ZERO,
            )
        )
    return found


def _unexplained(entry: LedgerEntry, kind: str, key: str, detail: str) -> Found:
    """A ledger row nothing of Studio's accounts for: all of its amount is the difference."""
    return Found(
        kind,
        key,
        detail,
        ledger_entry_id=entry.pk,
        venice_id=entry.venice_id,
        actual=entry.amount_usd,
    )


def _q6(value) -> Decimal:
    return (value or ZERO).quantize(Decimal("0.000001"))


def _job_differences(row: dict, *, finished: bool) -> list[Found]:
    job_id = row["job_id"]
    quoted, settled = _q6(row["job__quoted_usd"]), _q6(row["job__settled_usd"])
    recorded_charge = row["job__charged_usd"]
    recorded_refund = _q6(row["job__refunded_usd"])
    charged, refunded = _q6(row["charged"]), _q6(row["refunded"])
    charges, refunds = row["charges"], row["refunds"]
    net = charged - refunded
    found = []

    def differ(kind: str, key: str, detail: str, expected: Decimal, actual: Decimal) -> None:
        found.append(Found(kind, key, detail, job_id=job_id, expected=expected, actual=actual))

    if charges > 1 and charged > quoted:
        differ(
            Kind.DOUBLE_CHARGE,
            f"double_charge:{job_id}:{charged}",
            f"Job {job_id} was charged {charges} times, {usd(charged)} in all, for a "
            f"{usd(quoted)} quote.",
            quoted,
            charged,
        )
    elif charges and charged != quoted:
        differ(
            Kind.AMOUNT_MISMATCH,
            f"amount:charge:{job_id}:{charged}",
            f"Venice charged {usd(charged)} for job {job_id}, quoted {usd(quoted)}.",
            quoted,
            charged,
        )
    if refunds and refunded != charged:
        differ(
            Kind.AMOUNT_MISMATCH,
            f"amount:refund:{job_id}:{refunded}:{charged}",
            f"Venice refunded {usd(refunded)} for job {job_id}, which it charged {usd(charged)}.",
            charged,
            refunded,
        )
    settled_wrong = finished and settled != net
    if refunds and (recorded_refund != refunded or settled_wrong):
        differ(
            Kind.REFUND_NOT_APPLIED,
            f"refund_not_applied:{job_id}:{refunded}:{settled}",
            f"Venice refunded {usd(refunded)} for job {job_id}, but Studio records a refund "
            f"of {usd(recorded_refund)} and charged its member's budget {usd(settled)} "
            f"(Venice's net charge: {usd(net)}).",
            net,
            settled,
        )
    elif recorded_charge is None or _q6(recorded_charge) != charged or settled_wrong:
        differ(
            Kind.AMOUNT_MISMATCH,
            f"amount:settled:{job_id}:{charged}:{refunded}:{settled}",
            f"Job {job_id}: Studio records a charge of {usd(recorded_charge)} and charged its "
            f"member's budget {usd(settled)}; Venice's ledger says {usd(charged)} charged, "
            f"{usd(refunded)} refunded.",
            net,
            settled,
        )
    return found


def check_topups(wallet: Wallet, fetched_at: datetime.datetime) -> list[Found]:
    found = []
    for entry in LedgerEntry.objects.filter(
        wallet=wallet, type=TOP_UP, topup__isnull=False
    ).select_related("topup"):
        topup = entry.topup
        answered = topup.amount_credited_usd
        if entry.amount_usd != topup.amount_usd or (
            answered is not None and answered != topup.amount_usd
        ):
            found.append(_topup_amount(topup, entry))

    linked = LedgerEntry.objects.filter(topup__isnull=False).values("topup_id")
    unmatched = list(
        TopUp.objects.filter(
            wallet=wallet, status=TopUp.Status.CREDITED, settled_at__lt=fetched_at
        ).exclude(pk__in=linked)
    )
    settling = list(
        TopUp.objects.filter(wallet=wallet, status__in=[TopUp.Status.SIGNED, TopUp.Status.SENT])
    )
    for entry in LedgerEntry.objects.filter(
        wallet=wallet, type=TOP_UP, topup__isnull=True
    ).order_by("created_at"):
        if any(t.amount_usd == entry.amount_usd for t in settling):
            continue  # a payment of ours still settling: the next sync links it
        near = [
            t
            for t in unmatched
            if t.settled_at and abs(t.settled_at - entry.created_at) <= ledger.MATCH_WINDOW
        ]
        if near:
            topup = min(near, key=lambda t: abs(t.settled_at - entry.created_at))
            unmatched.remove(topup)
            found.append(_topup_amount(topup, entry))
            continue
        found.append(
            _unexplained(
                entry,
                Kind.TOPUP_NOT_RECORDED,
                f"topup_not_recorded:{wallet.pk}:{entry.venice_id}",
                f"Venice credited a top-up of {usd(entry.amount_usd)} at "
                f"{entry.created_at:%Y-%m-%d %H:%M:%S} UTC that Studio has no record of.",
            )
        )
    for topup in unmatched:
        found.append(
            Found(
                Kind.TOPUP_NOT_CREDITED,
                f"topup_not_credited:{topup.pk}",
                f"Studio recorded top-up {topup.pk} of {usd(topup.amount_usd)} as credited "
                f"(payment {topup.payment_id or 'without id'}), but Venice's ledger has no such "
                f"top-up.",
                topup_id=topup.pk,
                expected=topup.amount_usd,
            )
        )
    return found


def _topup_amount(topup: TopUp, entry: LedgerEntry) -> Found:
    return Found(
        Kind.AMOUNT_MISMATCH,
        f"amount:topup:{topup.pk}:{entry.venice_id}:{entry.amount_usd}",
        f"Top-up {topup.pk} was signed for {usd(topup.amount_usd)}; Venice's ledger credited "
        f"{usd(entry.amount_usd)}"
        + (
            f" and its answer said {usd(topup.amount_credited_usd)}."
            if topup.amount_credited_usd is not None
            else "."
        ),
        topup_id=topup.pk,
        ledger_entry_id=entry.pk,
        venice_id=entry.venice_id,
        expected=topup.amount_usd,
        actual=entry.amount_usd,
    )


def check_receipts(wallet: Wallet, *, all_receipts: bool = False) -> list[Found]:
    """Every credited top-up's transaction must show its USDC transfer on chain. Those already
    verified are read again only with ``all_receipts`` (a mined transfer does not change)."""
    found = []
    for topup in TopUp.objects.filter(wallet=wallet, status=TopUp.Status.CREDITED).order_by("pk"):
        if not topup.tx_hash:
            found.append(
                Found(
                    Kind.RECEIPT_MISSING,
                    f"receipt_missing:{topup.pk}:",
                    f"Venice credited top-up {topup.pk} ({usd(topup.amount_usd)}) without "
                    f"naming its transaction: there is no receipt to check.",
                    topup_id=topup.pk,
                    expected=topup.amount_usd,
                )
            )
            continue
        if all_receipts or topup.receipt != TopUp.Receipt.VERIFIED:
            payments.verify_receipt(topup)  # raises UpstreamUnavailable when the RPC fails
        if topup.receipt != TopUp.Receipt.MISMATCH:
            continue
        missing = topup.receipt_note.startswith("no receipt")
        kind = Kind.RECEIPT_MISSING if missing else Kind.RECEIPT_MISMATCH
        found.append(
            Found(
                kind,
                f"{kind}:{topup.pk}:{topup.tx_hash}",
                f"Top-up {topup.pk} ({usd(topup.amount_usd)}, tx {topup.tx_hash}): "
                f"{topup.receipt_note or 'the receipt does not match'}.",
                topup_id=topup.pk,
                expected=topup.amount_usd,
            )
        )
    return found


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view of the database for several reads (REPEATABLE READ on PostgreSQL;
    SQLite's transactions already are). Inside an outer transaction, that transaction's."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def check_budgets() -> list[Found]:
    """Each budget's spent and reserved figures against the sums over its month's jobs."""
    with _snapshot():
        budgets = list(Budget.objects.select_related("user"))
        per_member = {
            (row["user_id"], row["budget_month"]): (_q6(row["settled"]), _q6(row["reserved"]))
            for row in Job.objects.values("user_id", "budget_month")
            .annotate(settled=Sum("settled_usd"), reserved=Sum("reserved_usd"))
            .order_by()
        }
    per_month: dict = {}
    for (_, month), (settled, reserved) in per_member.items():
        total = per_month.get(month, (ZERO, ZERO))
        per_month[month] = (total[0] + settled, total[1] + reserved)
    found = []
    for budget in budgets:
        sums = per_member if budget.user_id else per_month
        key = (budget.user_id, budget.month) if budget.user_id else budget.month
        settled, reserved = sums.get(key, (ZERO, ZERO))
        spent, held = _q6(budget.spent_usd), _q6(budget.reserved_usd)
        if (spent, held) == (settled, reserved):
            continue
        found.append(
            Found(
                Kind.BUDGET_MISMATCH,
                f"budget:{budget.pk}:{spent}:{held}:{settled}:{reserved}",
                f"{budget}: the budget records {usd(spent)} spent and {usd(held)} reserved; its "
                f"jobs add up to {usd(settled)} spent and {usd(reserved)} reserved.",
                budget_id=budget.pk,
                expected=settled,
                actual=spent,
            )
        )
    return found
