"""Alert rules an admin sets, the channels they go out through, and the record of each alert.

An Alert row is written before anything is sent, under a unique constraint on (rule, subject,
period, threshold): two evaluations at once, or one after a restart, cannot both insert it, so
an alert is sent once per period and threshold. Each Delivery says who was told, when, through
which channel, and whether it arrived.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models

from wallets.models import Wallet


class Channel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack webhook"
        DISCORD = "discord", "Discord webhook"
        JSON = "json", "JSON webhook"

    name = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.TextField(
        blank=True,
        help_text="Email: addresses, one a line or comma-separated (blank: the ADMINS setting). "
        "Slack or Discord: the webhook URL they give you (or an apprise slack:// or "
        "discord:// URL). JSON: the URL to POST to (http(s)://, or apprise's json(s)://).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def addresses(self) -> list[str]:
        given = [a.strip() for a in self.target.replace("\n", ",").split(",") if a.strip()]
        return given or [address for _, address in settings.ADMINS]

    def clean(self) -> None:
        from . import channels  # apprise is loaded only where a URL is read

        if self.kind == self.Kind.EMAIL:
            for address in self.addresses():
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError(
                        {"target": f"{address!r} is not an email address."}
                    ) from None
            if not self.addresses():
                raise ValidationError(
                    {"target": "Give an address: no ADMINS are set to fall back on."}
                )
        else:
            try:
                channels.webhook(self)
            except channels.BadTarget as exc:
                raise ValidationError({"target": str(exc)}) from None


class Rule(models.Model):
    class Kind(models.TextChoices):
        MEMBER_BUDGET = "member_budget", "A member's monthly budget used"
        TEAM_BUDGET = "team_budget", "The team's monthly budget used"
        VENICE_CREDIT = "venice_credit", "Venice credit below an amount (USD)"
        USDC_RUNWAY = "usdc_runway", "On-chain USDC runway below N days"
        TOPUP_REFUSED = "topup_refused", "A top-up refused"
        TOPUP_UNSETTLED = "topup_unsettled", "A top-up unsettled for N minutes"
        DIFFERENCE = "difference", "A reconciliation found new differences"
        WORKER_SILENT = "worker_silent", "The worker silent for N minutes"
        BUDGET_REQUEST = "budget_request", "A member asked for more budget"

    # What `limit` means for each kind that reads it, and its default.
    LIMITS = {
        Kind.VENICE_CREDIT: ("USD", Decimal("5")),
        Kind.USDC_RUNWAY: ("days", Decimal("7")),
        Kind.TOPUP_UNSETTLED: ("minutes", Decimal("30")),
        Kind.WORKER_SILENT: ("minutes", Decimal("10")),
    }
    BUDGETS = (Kind.MEMBER_BUDGET, Kind.TEAM_BUDGET)

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="A member's budget: this member only (blank: every member).",
    )
    wallet = models.ForeignKey(
        Wallet,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Credit, runway and top-ups: this wallet only (blank: every wallet).",
    )
    percents = models.CharField(
        max_length=50,
        default="50,80,100",
        help_text="Budgets: the percentages used that each send an alert, once a month.",
    )
    limit = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Venice credit: USD; USDC runway: days; an unsettled top-up and a silent "
        "worker: minutes. Blank: 5 USD, 7 days, 30 and 10 minutes.",
    )
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    tell_member = models.BooleanField(
        "also email the member",
        default=False,
        help_text="A member's budget: also email the member whose budget it is, at their "
        "account's address (a member without one is not told).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def thresholds(self) -> list[int]:
        return sorted({int(p) for p in self.percents.replace(" ", "").split(",") if p})

    def limit_or_default(self) -> Decimal:
        unit_default = self.LIMITS.get(self.kind)
        if self.limit is not None or unit_default is None:
            return self.limit
        return unit_default[1]

    def clean(self) -> None:
        if self.kind in self.BUDGETS:
            try:
                thresholds = self.thresholds()
            except ValueError:
                raise ValidationError({"percents": "Whole numbers, comma-separated."}) from None
            if not thresholds or not all(0 < p <= 1000 for p in thresholds):
                raise ValidationError({"percents": "Give percentages from 1 to 1000."})
        if self.limit is not None and self.limit < 0:
            raise ValidationError({"limit": "Not below zero."})
        if self.member_id and self.kind != self.Kind.MEMBER_BUDGET:
            raise ValidationError({"member": "Only a member's budget rule names a member."})
        if self.tell_member and self.kind != self.Kind.MEMBER_BUDGET:
            raise ValidationError(
                {"tell_member": "Only a member's budget rule has a member to tell."}
            )


class Alert(models.Model):
    """One alert, inserted before it is sent. `subject` names what it is about (member:7,
    wallet:2, topup:40, run:12, worker, team), `period` when it counts again (a month, a day, a
    silence that began at a heartbeat; blank for an event), `threshold` which level it passed."""

    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    rule_name = models.CharField(max_length=100, help_text="The rule's name when it was sent.")
    subject = models.CharField(max_length=100)
    period = models.CharField(max_length=40, blank=True)
    threshold = models.CharField(max_length=20, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject", "period", "threshold"], name="one_alert_per_threshold"
            )
        ]

    def __str__(self) -> str:
        return self.title


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        RETRYING = "retrying", "Failed, will retry"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed, gave up"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel_name = models.CharField(max_length=60)
    # Sent to this address rather than through a channel: the member a budget alert is about.
    address = models.EmailField(blank=True)
    recipients = models.CharField(max_length=500, blank=True, help_text="Who was told.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a worker may (next) try: pushed ahead while one is sending, so a second cannot.
    next_try_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "channel_name"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.get_status_display()}"
