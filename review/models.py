"""The spend review's records: the overview's proxy, its summary, and reconciliation's findings.

They moved here from `wallets` (issue 12) without moving their tables: each keeps its
`wallets_...` table (``db_table``), and SpendSummary is still filled by the triggers that
wallets/migrations/0002 put on wallets_ledgerentry.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.models import USD, Budget, LedgerEntry, TopUp, Wallet


class Spend(LedgerEntry):
    """The spend overview's entry in the admin (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "spend overview"
        verbose_name_plural = "spend overview"


class SpendSummary(models.Model):
    """Venice's ledger summed for the spend overview, at three grains:

    - DAY: per UTC day, wallet, type, member and model;
    - MONTH: the same per month (`day` is the month's first day), so a long range reads whole
      months here and only its partial months from DAY;
    - DAY_TOTAL: per day, wallet and type (member and model left out), for the daily chart.

    Kept exact by database triggers on LedgerEntry (wallets/migrations/0002): every insert,
    update and delete of a ledger row moves these sums in the same transaction, so they always
    equal the sums over LedgerEntry. Nothing in Python writes here except ``spend.rebuild_rollup``.
    `user_key` is the linked job's member, 0 when the row has no job ("unattributed"), -1 at the
    DAY_TOTAL grain; `model_key` the job's model, else the row's own modelId ("" at DAY_TOTAL).
    """

    class Grain(models.TextChoices):
        DAY = "D", "Day"
        MONTH = "M", "Month"
        DAY_TOTAL = "T", "Day total"

    grain = models.CharField(max_length=1, choices=Grain.choices)
    day = models.DateField()
    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=10, choices=LedgerEntry.Type.choices)
    user_key = models.BigIntegerField()
    model_key = models.CharField(max_length=100)
    amount_usd = models.DecimalField(max_digits=20, decimal_places=6)
    entries = models.BigIntegerField(help_text="How many ledger rows the sum covers.")

    class Meta:
        db_table = "wallets_spendsummary"
        verbose_name_plural = "spend summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "day", "wallet", "type", "user_key", "model_key"],
                name="one_spend_summary_row",
            )
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.type} {self.amount_usd}"


# A difference still to be looked at: neither resolved by an admin nor cleared by a later run.
OPEN_DIFFERENCE = Q(resolved_at__isnull=True, cleared_at__isnull=True)


class Difference(models.Model):
    """Something Studio's records and Venice's ledger (or the chain) disagree on.

    Found by review.reconcile; the same difference found again is the same row (`key`). One
    that is no longer found is `cleared`; an admin `resolves` one with a note.
    """

    class Kind(models.TextChoices):
        CHARGE_WITHOUT_JOB = "charge_without_job", "Charge with no job"
        REFUND_WITHOUT_JOB = "refund_without_job", "Refund with no job"
        DOUBLE_CHARGE = "double_charge", "Job charged twice"
        REFUND_NOT_APPLIED = "refund_not_applied", "Refund not applied to a budget"
        BUDGET_MISMATCH = "budget_mismatch", "Budget differs from its jobs"
        TOPUP_NOT_RECORDED = "topup_not_recorded", "Top-up Venice credited, not recorded"
        TOPUP_NOT_CREDITED = "topup_not_credited", "Top-up recorded, not in Venice's ledger"
        AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
        ROW_GONE = "row_gone", "Ledger row Venice no longer lists"
        BALANCE_MISMATCH = "balance_mismatch", "Ledger does not add up to the balance"
        RECEIPT_MISSING = "receipt_missing", "Top-up receipt missing"
        RECEIPT_MISMATCH = "receipt_mismatch", "Top-up receipt does not match"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True)
    wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.CASCADE, related_name="differences"
    )
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    topup = models.ForeignKey(
        TopUp, null=True, blank=True, on_delete=models.SET_NULL, related_name="differences"
    )
    ledger_entry = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    budget = models.ForeignKey(
        Budget, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    venice_id = models.CharField(max_length=100, blank=True)
    expected_usd = models.DecimalField(**USD, null=True, blank=True)
    actual_usd = models.DecimalField(**USD, null=True, blank=True)
    detail = models.TextField()

    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    cleared_at = models.DateTimeField(
        null=True, blank=True, help_text="When reconciliation stopped finding it."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        db_table = "wallets_difference"
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(
                fields=["wallet", "kind"],
                condition=OPEN_DIFFERENCE,
                name="difference_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail[:80]}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None and self.cleared_at is None

    @property
    def status(self) -> str:
        if self.resolved_at:
            return "resolved"
        return "cleared" if self.cleared_at else "open"


class ReconcileRun(models.Model):
    """One reconciliation: when, started by whom (empty: the periodic task), what it found."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    wallets = models.PositiveIntegerField(default=0)
    found = models.PositiveIntegerField(default=0, help_text="Differences found by this run.")
    new = models.PositiveIntegerField(default=0, help_text="Of which not seen before.")
    cleared = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True)

    class Meta:
        db_table = "wallets_reconcilerun"
        ordering = ["-started_at", "-id"]
        verbose_name = "reconciliation run"

    def __str__(self) -> str:
        return f"Reconciliation {self.pk} at {self.started_at:%Y-%m-%d %H:%M}"
