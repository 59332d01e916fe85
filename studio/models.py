from __future__ import annotations

import re

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from ops.models import Singleton
from venice import QueueOptions

# The queue options a saved prompt carries in `settings`: all but its texts, which have columns.
SETTING_KEYS = tuple(
    name for name in QueueOptions.names() if name not in ("prompt", "lyrics_prompt")
)


def normalise_tags(text: str) -> list[str]:
    """ "Lo-fi, chill  piano" -> ["lo-fi", "chill", "piano"]: lower case, no duplicates."""
    seen: list[str] = []
    for tag in re.split(r"[,\s]+", text or ""):
        tag = re.sub(r"[^\w-]", "", tag.lower())[:30]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:12]


class PromptQuerySet(models.QuerySet):
    def visible_to(self, user) -> PromptQuerySet:
        """The team's shared prompts plus the member's own private ones (admins see all)."""
        if user.is_staff:
            return self
        return self.filter(Q(private=False) | Q(author=user))

    def tagged(self, tag: str) -> PromptQuerySet:
        return self.filter(tags__contains=f",{tag},")


class PromptContent(models.Model):
    """What a prompt says and is set up for: a library prompt as it is now, and each version."""

    title = models.CharField(max_length=120)
    text = models.TextField()
    lyrics = models.TextField(blank=True)
    model_id = models.CharField(max_length=100, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    # Stored as ",tag,other," so a tag filter is one exact `contains`, on SQLite and PostgreSQL.
    tags = models.CharField(max_length=400, blank=True)

    class Meta:
        abstract = True

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in self.tags.split(",") if tag]

    @property
    def generate_params(self) -> dict:
        """What the generate form is pre-filled with when a member uses this prompt or version."""
        params = {"model": self.model_id, "prompt": self.text, "lyrics_prompt": self.lyrics}
        params.update({k: v for k, v in (self.settings or {}).items() if k in SETTING_KEYS})
        return params


# What a version records of its prompt: every edit of these makes one.
VERSIONED_FIELDS = ("title", "text", "lyrics", "model_id", "settings", "tags")


class Prompt(PromptContent):
    """A prompt in the team's shared library, with the model and settings it was written for."""

    author = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompts"
    )
    private = models.BooleanField(default=False, help_text="Only you (and admins) can see it.")
    times_used = models.PositiveIntegerField(default=0)
    source_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("library:edit", args=[self.pk])

    def set_tags(self, text_or_list) -> None:
        tags = normalise_tags(
            text_or_list if isinstance(text_or_list, str) else ",".join(text_or_list)
        )
        self.tags = f",{','.join(tags)}," if tags else ""

    def editable_by(self, user) -> bool:
        return user.is_staff or self.author_id == user.pk


# What a version keeps of its prompt: everything a job is made from, plus the title and tags.
class PromptVersion(PromptContent):
    """One state of a prompt, numbered from 1. Never changed once written, except its label:
    an edit or a restore adds a version; `approved` marks the one *Use* takes."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # Who saved it; the version stays when its author's account goes.
    author = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Not auto_now_add: the data migration dates each prompt's first version from the prompt.
    created_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=200, blank=True)
    approved = models.BooleanField(default=False)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number"),
            models.UniqueConstraint(
                fields=["prompt"],
                condition=Q(approved=True),
                name="one_approved_version_per_prompt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prompt_id} v{self.number}"


class PromptRun(models.Model):
    """The library prompt and version a job was made from (jobs knows nothing of the library:
    studio writes this on jobs.signals.job_created)."""

    # The reverse name lets lower layers group jobs by prompt through the ORM
    # (Job.objects.values("prompt_run__prompt")) without importing studio: docs/architecture.md.
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="prompt_run")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="runs")

    def __str__(self) -> str:
        return f"job {self.job_id} from {self.version}"


class PromptStar(models.Model):
    """A member's favourite prompt: it comes first in their library, and only in theirs."""

    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_stars"
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "prompt"], name="one_star_per_member_prompt")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.prompt_id}"


class LibrarySettings(Singleton):
    """The library's one row of settings, edited in the admin."""

    owners_may_approve = models.BooleanField(
        default=False,
        help_text="Let a prompt's owner move its “approved” label too (admins always may).",
    )

    class Meta:
        verbose_name = verbose_name_plural = "library settings"

    def __str__(self) -> str:
        return "Library settings"
