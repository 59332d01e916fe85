"""Kept sounds and collections for the sound library's tests, made in the database."""

from __future__ import annotations

from django.utils import timezone

from jobs.models import Job
from sounds.models import Collection, CollectionSound, SoundTag
from tests.web.ui_helpers import give_audio, make_job


def kept_sound(user, wallet, *, seconds: float = 5.0, data: bytes | None = None, **fields) -> Job:
    """A finished take with audio, kept by its owner."""
    job = give_audio(make_job(user, wallet, **fields), data)
    job.audio_duration_s = seconds
    job.kept_at, job.kept_by = timezone.now(), user
    job.save()
    return job


def collection(owner, name: str = "Level 3", *, private: bool = False, sounds=()) -> Collection:
    made = Collection.objects.create(owner=owner, name=name, private=private)
    for job in sounds:
        CollectionSound.objects.create(collection=made, job=job, added_by=owner)
    return made


def tag(job: Job, *words: str) -> None:
    for word in words:
        SoundTag.objects.create(job=job, tag=word, added_by=job.user)
