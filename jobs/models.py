from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse

from wallets.models import USD, Wallet


class Job(models.Model):
    """One generation, from the member's submit to the saved audio.

    PENDING → SUBMITTING → QUEUED → PROCESSING → COMPLETED, with side exits FAILED, CANCELLED
    and NEEDS_REVIEW (a queue call was sent but its answer was lost, so Venice may or may not
    have the job: it is settled against Venice's ledger, never blindly sent again).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the worker"
        SUBMITTING = "submitting", "Submitting"
        QUEUED = "queued", "Queued at Venice"
        PROCESSING = "processing", "Generating"
        COMPLETED = "completed", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        NEEDS_REVIEW = "needs_review", "Needs review"

    RUNNING = (State.PENDING, State.SUBMITTING, State.QUEUED, State.PROCESSING)
    FINISHED = (State.COMPLETED, State.FAILED, State.CANCELLED)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="jobs")
    private = models.BooleanField(default=False, help_text="Only you (and admins) can see it.")

    # What was asked for: the queue body of the seed, validated against the model's spec.
    model_id = models.CharField(max_length=100, db_index=True)
    model_name = models.CharField(max_length=200, blank=True)
    prompt = models.TextField()
    lyrics_prompt = models.TextField(blank=True)
    lyrics_optimizer = models.BooleanField(null=True, blank=True)
    force_instrumental = models.BooleanField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    voice = models.CharField(max_length=200, blank=True)
    language_code = models.CharField(max_length=8, blank=True)
    speed = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    loop = models.BooleanField(null=True, blank=True)

    state = models.CharField(max_length=15, choices=State.choices, default=State.PENDING)

    # Money. `reserved_usd` is held against the budgets while the job runs; `settled_usd` is
    # what the budgets have been charged for it since (the quote at completion, corrected to
    # Venice's ledger by the sync).
    quoted_usd = models.DecimalField(**USD)
    reserved_usd = models.DecimalField(**USD, default=Decimal("0"))
    settled_usd = models.DecimalField(**USD, default=Decimal("0"))
    charged_usd = models.DecimalField(**USD, null=True, blank=True)
    refunded_usd = models.DecimalField(**USD, default=Decimal("0"))
    budget_month = models.DateField()

    # The worker's bookkeeping.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queue_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set before the queue call; with no queue_id it means unknown.",
    )
    queue_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    poll_errors = models.PositiveIntegerField(default=0, help_text="Failed polls in a row.")
    venice_unreachable_since = models.DateTimeField(
        null=True, blank=True, help_text="Polls have had no answer from Venice since then."
    )
    execution_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    average_execution_time_ms = models.PositiveIntegerField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)

    # The result.
    audio = models.FileField(upload_to="audio/%Y/%m/", blank=True)
    audio_content_type = models.CharField(max_length=100, blank=True)
    audio_format = models.CharField(max_length=20, blank=True)
    audio_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    audio_duration_s = models.FloatField(null=True, blank=True)
    inference_time_s = models.FloatField(null=True, blank=True)
    media_deleted_at = models.DateTimeField(null=True, blank=True)

    # What went wrong, in Venice's words and in ours.
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    suggested_prompt = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_poll_at"]),
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["-created_at", "-id"], name="job_newest_first"),
            # The poll schedule's history: a model's recent completions, its known lengths.
            models.Index(fields=["model_id", "state", "-finished_at"], name="job_model_history"),
            models.Index(
                fields=["model_id", "duration_seconds", "-queued_at"], name="job_model_length"
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.model_id} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("jobs:detail", args=[self.pk])

    @property
    def is_running(self) -> bool:
        return self.state in self.RUNNING

    @property
    def queue_body(self) -> dict:
        """The fields sent to /audio/queue, leaving out what the member did not set."""
        body = {
            "prompt": self.prompt,
            "lyrics_prompt": self.lyrics_prompt or None,
            "lyrics_optimizer": self.lyrics_optimizer,
            "force_instrumental": self.force_instrumental,
            "duration_seconds": self.duration_seconds,
            "voice": self.voice or None,
            "language_code": self.language_code or None,
            "speed": self.speed,
            "loop": self.loop,
        }
        return {key: value for key, value in body.items() if value is not None}


class JobEvent(models.Model):
    """The job's timeline: each state change, with why."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=15, choices=Job.State.choices)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.job_id} → {self.state}"
