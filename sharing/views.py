"""The share panel on a sound's or a collection's page (members), and the shared page, its
audio and a collection's zip (anyone with the link, no sign-in)."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_not_required
from django.db.models import F
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from jobs import delivery
from jobs.models import Job
from ops.addresses import client_address
from sounds import zips
from sounds.models import Collection

from . import links
from .forms import ShareForm
from .models import ShareLink

# What a panel is about: the URL names of its sound's or collection's pages and its queryset.
KINDS = {"job": "sharing:panel", "collection": "sharing:collection_panel"}


def _target(request, kind: str, pk: int) -> Job | Collection:
    if kind == "collection":
        return get_object_or_404(links.shareable_collections(request.user), pk=pk)
    visible = Job.objects.visible_to(request.user).filter(state=Job.State.COMPLETED)
    return get_object_or_404(visible.exclude(audio=""), pk=pk)


def _panel(request, kind: str, target, form=None, made: ShareLink | None = None, error=""):
    context = {
        "target": target,
        "panel_url": reverse(KINDS[kind], args=[target.pk]),
        "create_url": reverse(KINDS[kind].replace("panel", "create"), args=[target.pk]),
        "kind": "collection" if kind == "collection" else "sound",
    }
    if kind == "job" and target.discarded_at:  # its links answer 410 while it stays discarded
        return render(request, "sharing/_panel.html", {**context, "discarded": True})
    mine = [
        link
        for link in target.share_links.live().select_related("created_by", "job", "collection")
        if links.can_revoke(request.user, link)
    ]
    context.update(
        form=form or ShareForm(),
        links=[(link, links.token(link)) for link in mine],
        made=made,
        error=error,
    )
    return render(request, "sharing/_panel.html", context)


@require_GET
def panel(request, pk: int, kind: str = "job"):
    """Fetched again when a take is kept or discarded on its page (jobs-changed)."""
    return _panel(request, kind, _target(request, kind, pk))


@require_POST
def create(request, pk: int, kind: str = "job"):
    target = _target(request, kind, pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return _panel(request, kind, target, form)
    try:
        link = links.create(
            request.user,
            target,
            days=form.cleaned_data["days"],
            title=form.cleaned_data["title"],
            show_prompt=form.cleaned_data["show_prompt"],
        )
    except links.ShareRefused as exc:
        return _panel(request, kind, target, form, error=str(exc))
    return _panel(request, kind, target, made=link)


@require_POST
def revoke(request, pk: int):
    link = get_object_or_404(ShareLink.objects.select_related("job", "collection"), pk=pk)
    kind = "collection" if link.collection_id else "job"
    target = _target(request, kind, link.target.pk)  # 404 unless the member may see it
    try:
        links.revoke(request.user, link)
    except links.ShareRefused as exc:
        return _panel(request, kind, target, error=str(exc))
    return _panel(request, kind, target)


def opened_by_link(view):
    """For anyone holding the link, no sign-in: the view gets the live link, after the rate
    limit (429), a forged token (404), or a revoked or expired link (410) have answered."""

    @login_not_required
    @require_GET
    @functools.wraps(view)
    def opened(request, token: str, **kwargs):
        if not links.allow(client_address(request)):
            response = render(request, "sharing/gone.html", {"why": "busy"}, status=429)
            response["Retry-After"] = str(links.RATE_WINDOW_S)
            return response
        try:
            link = links.resolve(token)
        except links.LinkNotFound as exc:
            raise Http404("No such link") from exc
        except links.LinkGone:
            return render(request, "sharing/gone.html", {"why": "gone"}, status=410)
        return view(request, link, token, **kwargs)

    return opened


@opened_by_link
def shared(request, link: ShareLink, token: str):
    ShareLink.objects.filter(pk=link.pk).update(views=F("views") + 1)
    context = {"link": link, "sounds": links.sounds(link), "token": token}
    response = render(request, "sharing/shared.html", context)
    response["X-Robots-Tag"] = "noindex"
    return response


@opened_by_link
def shared_audio(request, link: ShareLink, token: str, job: int | None = None):
    sound = next((s for s in links.sounds(link) if job is None or s.pk == job), None)
    if sound is None or (job is None and link.collection_id):
        raise Http404("No such sound in this link")
    # Named after the link's title: the usual name carries the prompt's first words.
    title = link.title if link.job_id else f"{link.title} {sound.pk}"
    filename = delivery.audio_filename(sound, title=title)
    return delivery.audio_response(
        request, sound, cache_control="private, no-store", filename=filename
    )


@opened_by_link
def shared_zip(request, link: ShareLink, token: str):
    if not link.collection_id:
        raise Http404("Only a collection's link has a zip")
    sounds = links.sounds(link)
    response = StreamingHttpResponse(
        zips.stream(sounds, link.title), content_type="application/zip"
    )
    name = f"{slugify(link.title) or 'collection'}.zip"
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["Cache-Control"] = "private, no-store"
    return response
