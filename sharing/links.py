"""Share links: a member lends one sound, or one collection of sounds, to people outside the
team, for 1 to 30 days.

The URL is the link's random key signed with the site's secret (`token`), so it cannot be
guessed, and a key from another site or an edited URL is not found. Whether it still plays is
the row's: revoked or expired answers 410 and shows nothing. Creating and revoking are in the
audit log. Opening one is rate-limited per client address (`allow`), so a leaked link cannot be
used to pull the files at will.

A collection's link plays the collection's sounds that its maker can see at the time it is
opened: a sound taken out, discarded or made private later stops playing through it.
"""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import Job, JobQuerySet
from sounds import library
from sounds.models import Collection
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


def shareable_collections(user) -> QuerySet[Collection]:
    """The collections `user` may open (a private one is its owner's and the admins')."""
    return library.collections_for(user)


def token(link: ShareLink) -> str:
    return signing.Signer(salt=SALT).sign(link.key)


def default_title(target: Job | Collection) -> str:
    if isinstance(target, Collection):
        return target.name
    return f"{target.model_name or target.model_id} · {target.created_at:%Y-%m-%d}"


def create(
    user, target: Job | Collection, *, days: int, title: str = "", show_prompt: bool = False
) -> ShareLink:
    if isinstance(target, Collection):
        if not shareable_collections(user).filter(pk=target.pk).exists():
            raise ShareRefused("Only a collection you can open can be shared.")
    elif not shareable(user).filter(pk=target.pk).exists():
        raise ShareRefused("Only a finished sound you can see can be shared.")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ShareRefused(f"A link lasts {MIN_DAYS} to {MAX_DAYS} days.")
    what = "collection" if isinstance(target, Collection) else "job"
    with transaction.atomic():
        link = ShareLink.objects.create(
            key=secrets.token_urlsafe(16),
            **{what: target},
            title=(title.strip() or default_title(target))[:120],
            show_prompt=show_prompt,
            created_by=user,
            expires_at=timezone.now() + datetime.timedelta(days=days),
        )
        audit.record(
            user,
            AuditEntry.Action.SHARE_CREATE,
            link,
            after=audit.snapshot(link),
            note=f"{what.capitalize()} {target.pk}, {days} days",
        )
    return link


def can_revoke(user, link: ShareLink) -> bool:
    owner = link.job.user_id if link.job_id else link.collection.owner_id
    return user.is_staff or user.pk in (link.created_by_id, owner)


def revoke(user, link: ShareLink) -> bool:
    """True if this call revoked it (not someone before); the link answers 410 from now on."""
    if not can_revoke(user, link):
        raise ShareRefused("Only whoever made the link, its owner or an admin revokes it.")
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
    link = ShareLink.objects.select_related("job", "collection", "created_by").filter(key=key)
    link = link.first()
    if link is None:
        raise LinkNotFound
    if not link.is_live:
        raise LinkGone
    job = link.job
    if job and (job.state != Job.State.COMPLETED or not job.audio or job.discarded_at):
        raise LinkGone
    return link


def sounds(link: ShareLink) -> list[Job]:
    """What the link plays: its sound, or the collection's sounds its maker can see now."""
    if link.job_id:
        return [link.job]
    return list(library.collection_sounds(link.created_by, link.collection))


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
