from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from .money import format_usd

USD = {"max_digits": 14, "decimal_places": 6}


class WalletQuerySet(models.QuerySet):
    def paying(self) -> Wallet | None:
        """The wallet that pays for members' jobs unless another is chosen (at most one)."""
        return self.filter(is_default=True).first()


class Wallet(models.Model):
    """What pays Venice: an EVM key spending x402 credit, or a Venice API key.

    The secret is stored only encrypted (wallets.crypto); nothing renders it, and only the
    address is ever displayed.
    """

    class Kind(models.TextChoices):
        EVM = "evm", "Wallet (x402 credit)"
        API_KEY = "api_key", "Venice API key"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(max_length=42, blank=True)
    secret_encrypted = models.TextField(editable=False)
    is_default = models.BooleanField(
        default=False, help_text="Pays for members' jobs unless another wallet is chosen."
    )

    # The top-up policy, set by an admin: when credit falls below `topup_below_usd`, buy
    # `topup_amount_usd` more, never more than `max_topup_per_day_usd` in a UTC day.
    topup_amount_usd = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("10"))
    max_topup_per_day_usd = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("50")
    )
    topup_below_usd = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("2"))
    # A top-up above this waits for a second admin's approval (wallets.approvals); none: never.
    approve_topups_above_usd = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )

    # Last known figures, refreshed by the worker.
    credit_usd = models.DecimalField(**USD, null=True, blank=True)
    credit_checked_at = models.DateTimeField(null=True, blank=True)
    usdc_balance = models.DecimalField(**USD, null=True, blank=True)
    usdc_checked_at = models.DateTimeField(null=True, blank=True)
    ledger_synced_at = models.DateTimeField(null=True, blank=True)
    # Where an interrupted walk down Venice's ledger stopped (20 pages a minute): the next sync
    # goes on from there instead of starting again. Null when no walk is unfinished.
    ledger_resume_offset = models.PositiveIntegerField(null=True, blank=True, editable=False)

    # Held (by a conditional UPDATE) by the one worker allowed to top this wallet up right now.
    topup_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WalletQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_wallet"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_address})"

    @property
    def display_address(self) -> str:
        return self.address if self.kind == self.Kind.EVM else "API key"

    @property
    def is_evm(self) -> bool:
        return self.kind == self.Kind.EVM


class TopUp(models.Model):
    """One signed x402 payment to Venice.

    Stored SIGNED before it is sent, and re-sent byte for byte (never re-signed) until Venice
    answers definitely: Venice credits a signed payment at most once, so re-sending is safe and
    signing a second one is how money gets spent twice.
    """

    class Status(models.TextChoices):
        SIGNED = "signed", "Signed, not yet sent"
        SENT = "sent", "Sent, awaiting settlement"
        CREDITED = "credited", "Credited"
        FAILED = "failed", "Failed (no funds moved)"

    class Receipt(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked yet"
        VERIFIED = "verified", "Transfer found on chain"
        MISMATCH = "mismatch", "Receipt does not match"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="topups")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SIGNED)
    amount_usd = models.DecimalField(**USD)
    amount_atomic = models.CharField(max_length=30)
    network = models.CharField(max_length=40)
    asset = models.CharField(max_length=42)
    pay_to = models.CharField(max_length=42)
    payer = models.CharField(max_length=42)
    nonce = models.CharField(max_length=66, unique=True)
    valid_before = models.DateTimeField()
    payment_header = models.TextField(editable=False)

    reason = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error_code = models.CharField(max_length=60, blank=True)
    last_error = models.TextField(blank=True)

    payment_id = models.CharField(max_length=100, blank=True, db_index=True)
    amount_credited_usd = models.DecimalField(**USD, null=True, blank=True)
    new_balance_usd = models.DecimalField(**USD, null=True, blank=True)
    tx_hash = models.CharField(max_length=66, blank=True, db_index=True)
    receipt = models.CharField(max_length=10, choices=Receipt.choices, default=Receipt.UNCHECKED)
    receipt_note = models.CharField(max_length=200, blank=True)
    # How the outcome became known when it was not Venice's answer (the ledger or the chain).
    settled_from = models.CharField(max_length=300, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["wallet", "status"])]
        verbose_name = "top-up"

    def __str__(self) -> str:
        return f"Top-up {self.pk}: {self.amount_usd} USD ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.SIGNED, self.Status.SENT)

    @property
    def outcome(self) -> str:
        """What happened to this payment, in words an operator can act on."""
        if self.status == self.Status.CREDITED:
            credited = (
                self.amount_usd if self.amount_credited_usd is None else self.amount_credited_usd
            )
            how = f" ({self.settled_from})" if self.settled_from else ""
            return f"Credited {format_usd(credited)}{how}."
        if self.status == self.Status.FAILED:
            why = " ".join(x for x in (self.last_error_code, self.last_error) if x) or "refused"
            how = f" {self.settled_from}." if self.settled_from else ""
            return (
                f"Failed: {why}.{how} No funds moved; this payment is never sent again, and a new "
                f"top-up signs a new one."
            )
        last = (
            f" Last answer: {self.last_error_code or self.last_error}." if self.last_error else ""
        )
        if self.settled_from:  # expired, and neither the ledger nor the chain could tell yet
            return f"No definite answer yet. {self.settled_from}{last}"
        return (
            f"Sent {self.attempts} time(s) with no definite answer yet: re-sent as is (never "
            f"signed anew) until it is valid no more ({self.valid_before:%Y-%m-%d %H:%M} UTC), "
            f"then settled from the chain and Venice's ledger.{last}"
        )


class LedgerEntry(models.Model):
    """A row of Venice's own ledger (/x402/transactions), matched to our jobs and top-ups."""

    class Type(models.TextChoices):
        TOP_UP = "TOP_UP", "Top-up"
        CHARGE = "CHARGE", "Charge"
        REFUND = "REFUND", "Refund"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="ledger")
    venice_id = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=Type.choices)
    amount_usd = models.DecimalField(**USD)
    balance_after_usd = models.DecimalField(**USD, null=True)
    created_at = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=100, blank=True, db_index=True)
    model_id = models.CharField(max_length=100, blank=True)
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger"
    )
    topup = models.ForeignKey(
        TopUp, null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger"
    )
    synced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["wallet", "venice_id"], name="one_row_per_venice_id")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount_usd} USD"


class Budget(models.Model):
    """Monthly spending limit: a member's (user set) or the whole team's (user empty).

    `reserved_usd` holds the quotes of jobs still running; `spent_usd` what finished jobs
    really cost. Both only move through wallets.budgets, in conditional UPDATEs.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    month = models.DateField(help_text="The first day of the month.")
    limit_usd = models.DecimalField(max_digits=10, decimal_places=2)
    reserved_usd = models.DecimalField(**USD, default=Decimal("0"))
    spent_usd = models.DecimalField(**USD, default=Decimal("0"))

    class Meta:
        ordering = ["-month", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "month"], name="one_budget_per_member_month"),
            models.UniqueConstraint(
                fields=["month"], condition=Q(user__isnull=True), name="one_team_budget_per_month"
            ),
            models.CheckConstraint(
                condition=Q(reserved_usd__gte=0) & Q(spent_usd__gte=0), name="budget_not_negative"
            ),
        ]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user_id else "Team"
        return f"{who} {self.month:%Y-%m}"

    @property
    def used_usd(self) -> Decimal:
        return self.reserved_usd + self.spent_usd

    @property
    def remaining_usd(self) -> Decimal:
        return max(Decimal("0"), self.limit_usd - self.used_usd)


class TopUpApproval(models.Model):
    """A top-up above the wallet's approval amount, waiting for (or given) a second admin's
    approval. The worker's own top-ups ask too (requested_by empty): any admin may approve
    those; an admin's may be approved by any admin but them."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for approval"
        APPROVED = "approved", "Approved, not yet used"
        USED = "used", "Approved and signed"
        DENIED = "denied", "Denied"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="approvals")
    amount_usd = models.DecimalField(max_digits=10, decimal_places=2)
    reason = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, max_length=1000)
    topup = models.OneToOneField(
        TopUp, null=True, blank=True, on_delete=models.PROTECT, related_name="approval"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open question per wallet: the worker asks again and again until it is answered.
            models.UniqueConstraint(
                fields=["wallet"], condition=Q(status="waiting"), name="one_waiting_approval"
            ),
        ]

    def __str__(self) -> str:
        return f"${self.amount_usd} top-up of {self.wallet.name} ({self.get_status_display()})"


class BudgetRequest(models.Model):
    """A member asking for more budget this month; an admin approves (the limit rises by the
    amount, wallets.budgets.decide) or denies it, with a note the member reads."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for an admin"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget_requests"
    )
    month = models.DateField(help_text="The first day of the month the request is for.")
    amount_usd = models.DecimalField(max_digits=10, decimal_places=2)
    reason = models.TextField(max_length=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, max_length=1000)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open question per member and month: a second waits for the first's answer.
            models.UniqueConstraint(
                fields=["user", "month"],
                condition=Q(status="pending"),
                name="one_pending_budget_request",
            ),
            models.CheckConstraint(condition=Q(amount_usd__gt=0), name="budget_request_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} asks for ${self.amount_usd} more ({self.month:%Y-%m})"


class InFlightSlot(models.Model):
    """One of the wallet's concurrent-request slots (Venice allows 5 in flight per wallet).

    Every process that calls Venice with a wallet's credentials holds a slot for the duration
    of the call, so the limit holds across workers and clusters. A slot whose holder died is
    free again once `until` passes.
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="+")
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=40, blank=True)
    until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["wallet", "slot"], name="one_row_per_slot")]

    def __str__(self) -> str:
        return f"{self.wallet_id}/{self.slot}"


class RateSlot(models.Model):
    """One of the calls a wallet may make to one Venice endpoint per minute.

    A call takes a slot last used more than a minute ago, so no minute holds more calls than
    there are slots, whichever process makes them (and a poll loop handing over to a successor
    passes its window on for free).
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=20)
    slot = models.PositiveSmallIntegerField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "endpoint", "slot"], name="one_row_per_rate_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.wallet_id}/{self.endpoint}/{self.slot}"


class AuditEntry(models.Model):
    """An admin's action on money or wallets: who, when, what, and the values before and after.

    Never holds a secret: callers pass only whitelisted fields (wallets.audit).
    """

    class Action(models.TextChoices):
        WALLET_CREATE = "wallet_create", "Wallet created"
        WALLET_IMPORT = "wallet_import", "Wallet imported"
        WALLET_API_KEY = "wallet_api_key", "API-key wallet added"
        POLICY_CHANGE = "policy_change", "Wallet or top-up policy changed"
        KEYS_ROTATE = "keys_rotate", "Encryption key rotated"
        MANUAL_TOPUP = "manual_topup", "Manual top-up"
        BUDGET_CREATE = "budget_create", "Budget created"
        BUDGET_CHANGE = "budget_change", "Budget changed"
        DIFFERENCE_RESOLVE = "difference_resolve", "Difference resolved"
        RECONCILE = "reconcile", "Reconciliation run"
        JOB_ADOPT = "job_adopt", "Job under review adopted a charge"
        JOB_CLOSE = "job_close", "Job under review closed as never accepted"
        BUDGET_REQUEST = "budget_request", "Budget request answered"
        TOPUP_APPROVAL = "topup_approval", "Top-up approval answered"
        SHARE_CREATE = "share_create", "Share link created"
        SHARE_REVOKE = "share_revoke", "Share link revoked"
        PROMPT_APPROVAL = "prompt_approval", "Library prompt's approved version moved"
        LIBRARY_SETTINGS = "library_settings", "Library settings changed"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=30, choices=Action.choices)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=50, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor or 'system'}"
