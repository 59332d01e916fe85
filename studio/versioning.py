"""The library's versions and labels: plain functions the views, the admin and the job signal
call. Every save of a prompt's content adds a version; nothing here rewrites one, except the
`approved` label, which moves (and is written to the audit log)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Max

from jobs.models import Job
from wallets import audit
from wallets.models import AuditEntry

from .models import VERSIONED_FIELDS, LibrarySettings, Prompt, PromptRun, PromptVersion


class LabelRefused(Exception):
    """The member may not move this prompt's label."""


def _content(obj) -> dict:
    return {name: getattr(obj, name) for name in VERSIONED_FIELDS}


def latest_version(prompt: Prompt) -> PromptVersion | None:
    return prompt.versions.order_by("-number").first()


def version_for_use(prompt: Prompt) -> PromptVersion | None:
    """What *Use* takes: the approved version when there is one, else the latest."""
    return prompt.versions.order_by("-approved", "-number").first()


@transaction.atomic
def save_prompt(prompt: Prompt, by, note: str = "") -> PromptVersion | None:
    """Save the prompt and, when its content differs from its latest version, add a version.

    Returns the new version, or None when the content is as it was (a change of `private` only,
    or a form saved without change): history holds edits, not saves. The prompt's row is locked
    while the next number is taken, so two editors saving at once get 4 and 5, never 4 twice.
    """
    prompt.save()
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    latest = latest_version(prompt)
    if latest is not None and _content(latest) == _content(prompt):
        return None
    number = (prompt.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    return PromptVersion.objects.create(
        prompt=prompt,
        number=number,
        author=by if getattr(by, "pk", None) else None,
        note=note.strip()[:200],
        **_content(prompt),
    )


def restore(prompt: Prompt, version: PromptVersion, by) -> PromptVersion | None:
    """Make an old version the prompt's content again, as a new version: history only grows."""
    for name, value in _content(version).items():
        setattr(prompt, name, value)
    return save_prompt(prompt, by, note=f"Restored from version {version.number}")


def may_move_label(user, prompt: Prompt) -> bool:
    """Admins always; the prompt's owner when the admin lets owners (LibrarySettings)."""
    if user.is_staff:
        return True
    return prompt.author_id == user.pk and LibrarySettings.current().owners_may_approve


@transaction.atomic
def set_approved(prompt: Prompt, version: PromptVersion | None, by) -> None:
    """Move the `approved` label to `version`, or take it off the prompt (None).

    The old label is cleared before the new one is set, in one transaction: the database's
    one-approved-version constraint holds at every statement.
    """
    if not may_move_label(by, prompt):
        raise LabelRefused("Only an admin may move the approved label of this prompt.")
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    current = prompt.versions.filter(approved=True).first()
    before = current.number if current else None
    after = version.number if version else None
    if before == after:
        return
    prompt.versions.filter(approved=True).update(approved=False)
    if version is not None:
        PromptVersion.objects.filter(pk=version.pk, prompt=prompt).update(approved=True)
    audit.record(
        by,
        AuditEntry.Action.PROMPT_APPROVAL,
        prompt,
        before={"approved_version": before},
        after={"approved_version": after},
    )


def record_use(
    sender, *, job: Job, library_prompt: int | None, library_version: int | None = None, **kwargs
) -> None:
    """On jobs.signals.job_created: a job made from a library prompt its author may see counts
    as one use of it (a request of several takes, once), and remembers the version it came from
    (the one the form carried, else the one *Use* would take today)."""
    if not library_prompt:
        return
    prompt = Prompt.objects.visible_to(job.user).filter(pk=library_prompt).first()
    if prompt is None:
        return
    if job.take_number in (None, 1):
        Prompt.objects.filter(pk=prompt.pk).update(times_used=F("times_used") + 1)
    version = None
    if library_version:
        version = prompt.versions.filter(pk=library_version).first()
    version = version or version_for_use(prompt)
    if version is not None:
        PromptRun.objects.get_or_create(job=job, defaults={"prompt": prompt, "version": version})


def run_of(job: Job, user) -> PromptRun | None:
    """The library version a job came from, if the member may still see its prompt."""
    run = PromptRun.objects.select_related("prompt", "version").filter(job=job).first()
    if run is None or not Prompt.objects.visible_to(user).filter(pk=run.prompt_id).exists():
        return None
    return run
