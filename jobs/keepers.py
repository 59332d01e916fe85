"""Keep, favourite, discard: what the team makes of each take (a completed job).

A take is kept (the team's keeper), favourited (one member's own mark) or discarded. Only the
job's owner or an admin keeps or discards; anyone who can see the job favourites it. A discarded
take is hidden from the rest of the team (`JobQuerySet.visible_to`) and its audio is deleted from
storage once the admin's retention has passed (`delete_discarded_audio`, run by the sweep); until
then its owner can restore it. The job and its money rows always stay.

Each change is a conditional UPDATE on what the caller saw, so two clicks that race cannot both
act (a restore and the sweep's delete, say), and a timeline entry says who did what.

The tallies behind "cost per keeper" (money spent, takes made, takes kept) are here too, since
the generate form's expected cost per keeper needs them and jobs cannot import the review.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from .models import Favourite, Job, JobEvent, Retention

log = logging.getLogger(__name__)
State = Job.State
ZERO = Decimal("0")
MICRO = Decimal("0.000001")


class NotAllowed(Exception):
    """The member may not do this to this take (or the take is not in a state that allows it)."""


def can_curate(user, job: Job) -> bool:
    """Keep, discard and restore are the owner's and the admins' calls."""
    return job.user_id == user.pk or user.is_staff


def _curated(user, job: Job) -> None:
    if not can_curate(user, job):
        raise NotAllowed("Only the member who made this take, or an admin, can do that.")
    if job.state != State.COMPLETED:
        raise NotAllowed("Only a finished take can be kept or discarded.")


def _change(job: Job, user, note: str, where: Q, **fields) -> bool:
    """One conditional UPDATE and its timeline entry; False when the take had moved on."""
    with transaction.atomic():
        changed = Job.objects.filter(where, pk=job.pk).update(**fields)
        if changed:
            JobEvent.objects.create(
                job_id=job.pk, state=job.state, note=f"{note} by {user.get_username()}."
            )
    job.refresh_from_db()
    return bool(changed)


def keep(job: Job, user) -> bool:
    _curated(user, job)
    return _change(
        job,
        user,
        "Kept",
        Q(state=State.COMPLETED, kept_at__isnull=True, discarded_at__isnull=True),
        kept_at=timezone.now(),
        kept_by=user,
    )


def unkeep(job: Job, user) -> bool:
    _curated(user, job)
    return _change(
        job, user, "No longer kept", Q(kept_at__isnull=False), kept_at=None, kept_by=None
    )


def discard(job: Job, user) -> bool:
    """Discarding a keeper un-keeps it: a take is one or the other."""
    _curated(user, job)
    return _change(
        job,
        user,
        "Discarded",
        Q(state=State.COMPLETED, discarded_at__isnull=True),
        discarded_at=timezone.now(),
        discarded_by=user,
        kept_at=None,
        kept_by=None,
    )


def restore(job: Job, user) -> bool:
    """Undo a discard, while the audio is still there to come back to."""
    _curated(user, job)
    if job.audio_deleted_at is not None:
        raise NotAllowed("This take's audio has been deleted; it cannot be restored.")
    return _change(
        job,
        user,
        "Restored",
        Q(discarded_at__isnull=False, audio_deleted_at__isnull=True),
        discarded_at=None,
        discarded_by=None,
    )


def is_favourite(job: Job, user) -> bool:
    return Favourite.objects.filter(job=job, user=user).exists()


def toggle_favourite(job: Job, user) -> bool:
    """Favourite the take for this member, or take the mark back; True when it is now marked.

    The caller has checked that the member can see the job (views use `visible_to`).
    """
    if job.state != State.COMPLETED:
        raise NotAllowed("Only a finished take can be a favourite.")
    removed, _ = Favourite.objects.filter(job=job, user=user).delete()
    if removed:
        return False
    try:
        with transaction.atomic():
            Favourite.objects.create(job=job, user=user)
    except IntegrityError:
        pass  # a double click: the other request marked it
    return True


# --- the retention -------------------------------------------------------------------------------


def retention_days() -> int:
    return Retention.current().discarded_audio_days


def audio_deleted_after(job: Job) -> datetime.datetime | None:
    """When the sweep deletes this discarded take's audio (None if it is not discarded)."""
    if job.discarded_at is None or job.audio_deleted_at is not None:
        return None
    return job.discarded_at + datetime.timedelta(days=retention_days())


def delete_discarded_audio(now: datetime.datetime | None = None) -> int:
    """Delete from storage the audio of takes discarded longer ago than the retention; the
    number deleted. Kept takes are never touched (discarding un-keeps, and the UPDATE checks).

    Each row is claimed by a conditional UPDATE before its file goes, so a restore that lands
    first wins, and one that lands after finds audio_deleted_at set and is refused.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=retention_days())
    due = Q(
        state=State.COMPLETED,
        discarded_at__lte=cutoff,
        kept_at__isnull=True,
        audio_deleted_at__isnull=True,
    )
    deleted = 0
    for pk, name in Job.objects.filter(due).values_list("pk", "audio")[:500]:
        if not Job.objects.filter(due, pk=pk).update(audio_deleted_at=now):
            continue
        try:
            if name:
                default_storage.delete(name)
        except Exception as exc:  # noqa: BLE001 - any storage's error (a disk's, S3's)
            # Try again at the next sweep: the claim is undone, the row still says discarded.
            log.warning("job %s: discarded audio not deleted: %s", pk, exc)
            Job.objects.filter(pk=pk).update(audio_deleted_at=None)
            continue
        Job.objects.filter(pk=pk).update(audio="")
        JobEvent.objects.create(
            job_id=pk,
            state=State.COMPLETED,
            note="The discarded audio was deleted from storage after the retention.",
        )
        deleted += 1
    return deleted


# --- cost per keeper -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Money spent on a group of jobs, the takes they made and how many the team kept."""

    spent: Decimal = ZERO
    made: int = 0
    kept: int = 0

    @property
    def per_kept(self) -> Decimal | None:
        """USD per kept take; None (shown "—") when nothing was kept: no division by zero."""
        if not self.kept:
            return None
        return (self.spent / self.kept).quantize(Decimal("0.0001"))

    @property
    def keep_rate(self) -> float | None:
        return self.kept / self.made if self.made else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.spent + other.spent, self.made + other.made, self.kept + other.kept)


def tally_aggregates(path: str = "") -> dict:
    """The aggregates behind a Tally, over the jobs at `path` ("" for a Job queryset itself,
    "runs__job__" from a library prompt). Spent is every job's settled charge (a failed job
    Venice charged counts: it was paid for on the way to a keeper); made counts completed jobs;
    kept those kept."""
    done = Q(**{f"{path}state": State.COMPLETED})
    return {
        "spent": Sum(f"{path}settled_usd"),
        "made": Count(f"{path}pk", filter=done),
        "kept": Count(f"{path}pk", filter=done & Q(**{f"{path}kept_at__isnull": False})),
    }


def tally_of(row) -> Tally:
    """A Tally from a row (a dict, or an object) annotated with `tally_aggregates`."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name, None)
    # SQLite sums decimals in floating point: back to the field's six places.
    spent = Decimal(get("spent") or ZERO).quantize(MICRO)
    return Tally(spent=spent, made=get("made") or 0, kept=get("kept") or 0)


def tallies(jobs: QuerySet, *group_by: str) -> dict:
    """The tally of each value of `group_by` (a field path of Job, e.g. "user" or "model_id")
    among `jobs`, in one query. With several paths, a key is the tuple of their values."""
    rows = jobs.order_by().values(*group_by).annotate(**tally_aggregates())
    if len(group_by) == 1:
        return {row[group_by[0]]: tally_of(row) for row in rows}
    return {tuple(row[path] for path in group_by): tally_of(row) for row in rows}


def fold(counted: dict[tuple, Tally], position: int) -> dict:
    """Tallies keyed by tuples (from `tallies` with several paths), summed by one of them."""
    folded: dict = {}
    for key, tally in counted.items():
        folded[key[position]] = folded.get(key[position], Tally()) + tally
    return folded


# How far back the generate form looks for a model's keep rate.
EXPECTATION_DAYS = 90


def expected_per_keeper(
    model_id: str, quote: Decimal, *, prompt_id: int | None = None, user=None
) -> tuple[Decimal | None, Tally]:
    """What a keeper of this model should cost at this quote: the quote times takes made per
    take kept, from the team's takes of the model over the last EXPECTATION_DAYS days. None
    when the team has kept none yet (nothing to go on).

    With `prompt_id`, the takes made from that library prompt instead (any model): the job's
    prompt is studio's PromptRun, reached by its reverse name through the ORM, not an import
    (docs/architecture.md). Only a prompt `user` may see counts: the id comes from the form, and
    another member's private prompt must not answer even with numbers."""
    since = timezone.now() - datetime.timedelta(days=EXPECTATION_DAYS)
    made = Job.objects.filter(state=State.COMPLETED, finished_at__gte=since)
    if prompt_id:
        made = made.filter(prompt_run__prompt_id=prompt_id)
        if not user.is_staff:
            made = made.filter(
                Q(prompt_run__prompt__private=False) | Q(prompt_run__prompt__author=user)
            )
    else:
        made = made.filter(model_id=model_id)
    counts = made.aggregate(made=Count("pk"), kept=Count("pk", filter=Q(kept_at__isnull=False)))
    tally = Tally(made=counts["made"], kept=counts["kept"])
    if not tally.kept:
        return None, tally
    return (quote * tally.made / tally.kept).quantize(Decimal("0.0001")), tally
