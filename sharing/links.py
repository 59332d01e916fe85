"""Share links: a member lends one sound to people outside the team, for 1 to 30 days.

The URL is the link's random key signed with the site's secret (`token`), so it cannot be
guessed, and a key from another site or an edited URL is not found. Whether it still plays is
the row's: revoked or expired answers 410 and shows nothing. Creating and revoking are in the
audit log. Opening one is rate-limited per client address (`allow`), so a leaked link cannot be
used to pull the file at will.
"""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobQuerySet
from wallets import audit
from wallets.models import AuditEntry

from .models import ShareLink

SALT = "sharing.link"
MIN_DAYS, MAX_DAYS = 1, 30
RATE_WINDOW_S = 60


class ShareRefused(Exception):
    """Said to the member, as it is."""


class LinkNotFound(Exception):
    """No such link: a forged, mangled or foreign token (404)."""


class LinkGone(Exception):
    """The link was revoked or has expired, or its sound was discarded or is no longer stored
    (410)."""


def shareable(user) -> JobQuerySet:
    """The jobs `user` may share: the finished sounds they can see (a private one is its owner's
    and the admins' to share, as `visible_to` already says) that nobody discarded."""
    return (
        Job.objects.visible_to(user)
        .filter(state=Job.State.COMPLETED, discarded_at__isnull=True)
        .exclude(audio="")
    )


def token(link: ShareLink) -> str:
    return signing.Signer(salt=SALT).sign(link.key)


def default_title(job: Job) -> str:
    return f"{job.model_name or job.model_id} · {job.created_at:%Y-%m-%d}"


def create(user, job: Job, *, days: int, title: str = "", show_prompt: bool = False) -> ShareLink:
    if not shareable(user).filter(pk=job.pk).exists():
        raise ShareRefused("Only a finished sound you can see can be shared.")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ShareRefused(f"A link lasts {MIN_DAYS} to {MAX_DAYS} days.")
    with transaction.atomic():
        link = ShareLink.objects.create(
            key=secrets.token_urlsafe(16),
            job=job,
            title=(title.strip() or default_title(job))[:120],
            show_prompt=show_prompt,
            created_by=user,
            expires_at=timezone.now() + datetime.timedelta(days=days),
        )
        audit.record(
            user,
            AuditEntry.Action.SHARE_CREATE,
            link,
            after=audit.snapshot(link),
            note=f"Job {job.pk}, {days} days",
        )
    return link


def can_revoke(user, link: ShareLink) -> bool:
    return user.is_staff or user.pk in (link.created_by_id, link.job.user_id)


def revoke(user, link: ShareLink) -> bool:
    """True if this call revoked it (not someone before); the link answers 410 from now on."""
    if not can_revoke(user, link):
        raise ShareRefused("Only whoever made the link, the sound's owner or an admin revokes it.")
    with transaction.atomic():
        now = timezone.now()
        revoked = ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=user
        )
        if revoked:
            link.revoked_at, link.revoked_by = now, user
            audit.record(user, AuditEntry.Action.SHARE_REVOKE, link, after=audit.snapshot(link))
    return bool(revoked)


def resolve(token_text: str) -> ShareLink:
    try:
        key = signing.Signer(salt=SALT).unsign(token_text)
    except signing.BadSignature as exc:
        raise LinkNotFound from exc
    link = ShareLink.objects.select_related("job").filter(key=key).first()
    if link is None:
        raise LinkNotFound
    job = link.job
    if not link.is_live or job.state != Job.State.COMPLETED or not job.audio or job.discarded_at:
        raise LinkGone
    return link


def allow(address: str | None) -> bool:
    """One more request from this address within the minute's allowance (SHARE_RATE_PER_MINUTE).

    Counted in the cache: with several web processes, set CACHE_URL to a shared cache (Redis or
    the database) so that they count together.
    """
    key = f"sharing:rate:{address or 'unknown'}:{int(timezone.now().timestamp()) // RATE_WINDOW_S}"
    cache.add(key, 0, timeout=RATE_WINDOW_S * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: this is the first of a fresh count
        cache.set(key, 1, timeout=RATE_WINDOW_S * 2)
        count = 1
    return count <= settings.SHARE_RATE_PER_MINUTE
