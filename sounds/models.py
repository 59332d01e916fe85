"""The team's sound library: collections of kept sounds, and the tags members give them.

A sound is a kept take (jobs: `Job.kept_at` set, not discarded). Collections and tags belong
here, not to the job, so the library can grow without touching the jobs table.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from jobs.models import Job


class Collection(models.Model):
    """A named set of kept sounds: a project, a game level, an episode.

    A team collection is seen by every member and any member may add to it; a private one is
    its owner's and the admins' only. Only the owner or an admin renames or deletes either.
    """

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    private = models.BooleanField(
        default=False, help_text="Only you (and admins) can see it or add to it."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sound_collections"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sounds:collection", args=[self.pk])


class CollectionSound(models.Model):
    """One kept sound in one collection (at most once)."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="entries")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="collection_entries")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "job"], name="collection_sound_once")
        ]

    def __str__(self) -> str:
        return f"Job {self.job_id} in collection {self.collection_id}"


class SoundTag(models.Model):
    """A word a member gives a kept sound ("footsteps", "level-3"), for finding it again.

    The library prompt's own tags live in studio, a layer above; these are the sound's.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="sound_tags")
    tag = models.SlugField(max_length=40, allow_unicode=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tag"]
        constraints = [models.UniqueConstraint(fields=["job", "tag"], name="sound_tag_once")]
        indexes = [models.Index(fields=["tag"], name="sound_tag_word")]

    def __str__(self) -> str:
        return self.tag
