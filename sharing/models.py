from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models import Job
from sounds.models import Collection


class ShareLinkQuerySet(models.QuerySet):
    def live(self) -> ShareLinkQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ShareLink(models.Model):
    """A link that plays one sound, or one collection of sounds, without signing in, until it
    expires or is revoked.

    The URL carries `key` signed with the site's secret (sharing.links.token), so a link cannot be
    guessed or forged; the row says whether it still answers.
    """

    key = models.CharField(max_length=32, unique=True, editable=False)
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    title = models.CharField(max_length=120)
    show_prompt = models.BooleanField(
        default=False, help_text="Show the prompt's text on the shared page."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    views = models.PositiveIntegerField(default=0, help_text="Times the shared page was opened.")

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(job__isnull=False, collection__isnull=True)
                | models.Q(job__isnull=True, collection__isnull=False),
                name="share_one_sound_or_one_collection",
            )
        ]

    def __str__(self) -> str:
        return f"Share link {self.pk}: {self.title}"

    @property
    def target(self) -> Job | Collection:
        return self.job or self.collection

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
