"""Who sees which sounds and collections, and what a member may do to them.

A sound is a kept take: completed, with audio still stored, `kept_at` set and not discarded. The
library shows the sounds a member can see (`Job.objects.visible_to`: their own and the team's
non-private ones). A discarded take leaves every list and zip, for everyone: discarding
un-keeps, so it is no longer a sound; its collection entries stay and come back if it is
restored and kept again.

Collections: a team collection is seen by all, and any member may add a sound to it or take out
one they added (a shared project grows from the whole team); its owner and the admins take out
any, rename it and delete it. A private collection is its owner's and the admins' only, and to
anyone else it does not exist (404 to every verb).

Tags: any member who can see a sound may tag it; whoever added a tag, the sound's owner or an
admin removes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from jobs.models import Job, JobQuerySet

from .models import Collection, CollectionSound, SoundTag

# The length filter's ranges, in seconds: (label, at least, under).
LENGTHS: dict[str, tuple[str, float | None, float | None]] = {
    "short": ("Under 10 s", None, 10),
    "medium": ("10 s to 1 min", 10, 60),
    "long": ("1 to 3 min", 60, 180),
    "longer": ("Over 3 min", 180, None),
}
MAX_TAGS = 20


class Refused(Exception):
    """Said to the member, as it is."""


def sounds_for(user) -> JobQuerySet:
    """Every kept sound `user` can see and play."""
    return (
        Job.objects.visible_to(user)
        .filter(
            state=Job.State.COMPLETED,
            kept_at__isnull=False,
            discarded_at__isnull=True,
            audio_deleted_at__isnull=True,
        )
        .exclude(audio="")
    )


def collections_for(user) -> QuerySet[Collection]:
    """The collections `user` can open: the team's and their own private ones (admins: all)."""
    if user.is_staff:
        return Collection.objects.all()
    return Collection.objects.filter(Q(private=False) | Q(owner=user))


def can_edit(user, collection: Collection) -> bool:
    return user.is_staff or collection.owner_id == user.pk


def can_take_out(user, entry: CollectionSound) -> bool:
    return can_edit(user, entry.collection) or entry.added_by_id == user.pk


def collection_sounds(user, collection: Collection) -> JobQuerySet:
    """The collection's sounds `user` may see, most recently added first."""
    return (
        sounds_for(user)
        .filter(collection_entries__collection=collection)
        .select_related("user")
        .order_by("-collection_entries__added_at", "-pk")
    )


def add(user, collection: Collection, job: Job) -> bool:
    """Put a kept sound in a collection; False when it was already there."""
    if not collections_for(user).filter(pk=collection.pk).exists():
        raise Refused("No such collection.")
    if not sounds_for(user).filter(pk=job.pk).exists():
        raise Refused("Only a kept sound you can see goes into a collection.")
    try:
        with transaction.atomic():
            CollectionSound.objects.create(collection=collection, job=job, added_by=user)
    except IntegrityError:
        return False
    Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())
    return True


def take_out(user, collection: Collection, job: Job) -> bool:
    """Take a sound out of a collection; False when it was not in it."""
    entry = (
        CollectionSound.objects.select_related("collection")
        .filter(collection=collection, job=job)
        .first()
    )
    if entry is None:
        return False
    if not can_take_out(user, entry):
        raise Refused("Only whoever added it, the collection's owner or an admin takes it out.")
    return bool(CollectionSound.objects.filter(pk=entry.pk).delete()[0])


def tag_word(text: str) -> str:
    word = slugify(text.strip(), allow_unicode=True)[:40].strip("-")
    if not word:
        raise Refused("A tag is a word or two: letters, digits and dashes.")
    return word


def add_tags(user, job: Job, text: str) -> list[str]:
    """Tag a sound with the comma-separated words of `text`; the words added."""
    if not sounds_for(user).filter(pk=job.pk).exists():
        raise Refused("Only a kept sound you can see can be tagged.")
    words = list(dict.fromkeys(tag_word(part) for part in re.split(r"[,\n]", text) if part.strip()))
    if not words:
        raise Refused("Write a tag first.")
    if SoundTag.objects.filter(job=job).count() + len(words) > MAX_TAGS:
        raise Refused(f"A sound has at most {MAX_TAGS} tags.")
    added = []
    for word in words:
        try:
            with transaction.atomic():
                SoundTag.objects.create(job=job, tag=word, added_by=user)
            added.append(word)
        except IntegrityError:
            pass  # already there
    return added


def remove_tag(user, job: Job, word: str) -> bool:
    tag = SoundTag.objects.filter(job=job, tag=word).first()
    if tag is None:
        return False
    if not (user.is_staff or user.pk in (tag.added_by_id, job.user_id)):
        raise Refused("Only whoever added the tag, the sound's owner or an admin removes it.")
    return bool(SoundTag.objects.filter(pk=tag.pk).delete()[0])


@dataclass(frozen=True)
class Search:
    """What the library page filters by; every field empty means every sound."""

    text: str = ""
    model: str = ""
    member: str = ""
    tag: str = ""
    collection: Collection | None = None
    length: str = ""


def search(user, query: Search) -> JobQuerySet:
    """The sounds `user` can see that match every filter given, newest first."""
    sounds = sounds_for(user)
    if query.text:
        sounds = sounds.filter(
            Q(prompt__icontains=query.text) | Q(lyrics_prompt__icontains=query.text)
        )
    if query.model:
        sounds = sounds.filter(model_id=query.model)
    if query.member:
        sounds = sounds.filter(user__username=query.member)
    if query.tag:
        sounds = sounds.filter(sound_tags__tag=query.tag)
    if query.collection is not None:
        sounds = sounds.filter(collection_entries__collection=query.collection)
    if query.length in LENGTHS:
        _, low, high = LENGTHS[query.length]
        if low is not None:
            sounds = sounds.filter(audio_duration_s__gte=low)
        if high is not None:
            sounds = sounds.filter(audio_duration_s__lt=high)
    return sounds.select_related("user").order_by("-created_at", "-pk")
