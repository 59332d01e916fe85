from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from ops.models import Singleton
from venice import QueueOptions
from wallets.models import USD, Wallet


class JobQuerySet(models.QuerySet):
    def visible_to(self, user) -> JobQuerySet:
        """A member sees their own jobs and the team's non-private ones they have not discarded;
        admins see all."""
        if user.is_staff:
            return self
        return self.filter(Q(user=user) | Q(private=False, discarded_at__isnull=True))


class JobManager(models.Manager.from_queryset(JobQuerySet)):
    def changed_since(self, user, shown: Mapping[int, str]) -> list[Job]:
        """The jobs among `shown` (id -> the signature a page shows) that `user` may see and
        whose signature differs, with their `author_name`.

        The live endpoint's one query, and the hottest in Studio (every open page, every second),
        so it is written out: the ORM took four times longer to compile it than the database took
        to run it (twenty times the whole request, measured with bench/web.py). The database
        computes each row's signature exactly as `Job.signature` does, and only differing rows
        come back, so an unchanged page costs an empty result. The visibility test is
        `visible_to`'s (tests/test_ui_live.py checks that they agree).
        """
        if not shown:
            return []
        job_table = self.model._meta.db_table
        user_table = self.model._meta.get_field("user").related_model._meta.db_table
        ids = ", ".join(["%s"] * len(shown))
        signatures = ", ".join(["%s"] * len(shown))
        # Only placeholders and table names are interpolated; every value is a parameter.
        sql = (
            f'SELECT j.*, u.username AS author_name FROM "{job_table}" j '  # noqa: S608
            f'JOIN "{user_table}" u ON u.id = j.user_id '
            f"WHERE j.id IN ({ids}) "
            f"AND (%s OR j.user_id = %s OR (NOT j.private AND j.discarded_at IS NULL)) "
            f"AND (CAST(j.id AS VARCHAR(20)) || ':' || j.state || ':' || "
            f"COALESCE(CAST(j.execution_duration_ms AS VARCHAR(20)), '') || "
            f"CASE WHEN j.venice_unreachable_since IS NULL THEN '' ELSE ':u' END) "
            f"NOT IN ({signatures})"
        )
        params = [*shown, bool(user.is_staff), user.pk, *shown.values()]
        return list(self.raw(sql, params))


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
    # The takes of one request (pipeline.create_takes): asked for together, reserved as one,
    # compared side by side. Null for a job asked for alone.
    take_group = models.UUIDField(null=True, blank=True, db_index=True, editable=False)
    take_number = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

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
    audio_peaks = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The waveform: the loudest sample of each slice of the audio, 0..1 "
        "(jobs.waveform); [] when the file could not be decoded, null when it was saved before "
        "waveforms existed (manage.py waveforms computes those).",
    )
    media_deleted_at = models.DateTimeField(null=True, blank=True)  # Venice's copy, not ours

    # What the team made of the take (jobs.keepers): kept (the team's), or discarded, whose
    # audio leaves storage after the retention (Retention) unless it is restored first.
    kept_at = models.DateTimeField(null=True, blank=True)
    kept_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # never looked up by; spares the jobs table an index build
    )
    discarded_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # never looked up by; spares the jobs table an index build
    )
    audio_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the discarded take's audio left storage."
    )

    # What went wrong, in Venice's words and in ours.
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    suggested_prompt = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobManager()

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
            # The sweep's look for discarded audio past its retention: only rows still waiting.
            models.Index(
                fields=["discarded_at"],
                name="job_discarded_audio",
                condition=Q(discarded_at__isnull=False, audio_deleted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.model_id} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("jobs:detail", args=[self.pk])

    @property
    def takes_url(self) -> str:
        """The compare page of this job's takes; "" for a job asked for alone."""
        return reverse("jobs:takes", args=[self.take_group]) if self.take_group else ""

    @property
    def signature(self) -> str:
        """What the live view shows of a running job, as text: id, state and Venice's progress,
        and ":u" while Venice is unreachable (the page says so, and no more once it answers).

        Not `updated_at`: the worker moves jobs with queryset UPDATEs, which leave it alone.
        Venice's estimate (average_execution_time) is written together with the progress, so it
        needs no part. `JobManager.changed_since` computes the same in the database.
        """
        exec_ms = "" if self.execution_duration_ms is None else self.execution_duration_ms
        unreachable = ":u" if self.venice_unreachable_since else ""
        return f"{self.pk}:{self.state}:{exec_ms}{unreachable}"

    @property
    def is_running(self) -> bool:
        return self.state in self.RUNNING

    @property
    def queue_options(self) -> QueueOptions:
        """What was sent to /audio/queue; an empty text column is an option the member left out."""
        options = {name: getattr(self, name) for name in QueueOptions.names() if name != "prompt"}
        return QueueOptions(
            self.prompt, **{name: None if value == "" else value for name, value in options.items()}
        )

    @property
    def queue_body(self) -> dict:
        """The fields sent to /audio/queue, leaving out what the member did not set."""
        return self.queue_options.given()

    @classmethod
    def option_columns(cls, options: QueueOptions) -> dict:
        """The job's columns for these options: a text column holds "" for an option left out."""
        return {
            name: "" if value is None and not cls._meta.get_field(name).null else value
            for name, value in ((name, getattr(options, name)) for name in QueueOptions.names())
        }


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


class Favourite(models.Model):
    """A member's own mark on a take they like (jobs.keepers); nobody else sees it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "job"], name="favourite_once_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.job_id}"


class Retention(Singleton):
    """How long a discarded take's audio stays in storage before the sweep deletes it: one row,
    edited in the admin."""

    DEFAULT_DAYS = 30

    discarded_audio_days = models.PositiveIntegerField(
        default=DEFAULT_DAYS,
        help_text="Days a discarded take's audio is kept (so its owner can restore it) before "
        "it is deleted from storage. The job and its money stay.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention"
        verbose_name_plural = "retention"

    def __str__(self) -> str:
        return f"Discarded audio kept {self.discarded_audio_days} days"
