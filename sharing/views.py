"""The share panel on a job's page (members), and the shared page and its audio (anyone with
the link, no sign-in)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from jobs import delivery
from jobs.models import Job
from ops.addresses import client_address

from . import links
from .forms import ShareForm
from .models import ShareLink


def _panel(request, job, form=None, made: ShareLink | None = None, error: str = ""):
    if job.discarded_at:  # its links answer 410 while it stays discarded
        return render(request, "sharing/_panel.html", {"job": job, "discarded": True})
    mine = [
        link
        for link in job.share_links.live().select_related("created_by", "job")
        if links.can_revoke(request.user, link)
    ]
    return render(
        request,
        "sharing/_panel.html",
        {
            "job": job,
            "form": form or ShareForm(),
            "links": [(link, links.token(link)) for link in mine],
            "made": made,
            "error": error,
        },
    )


@require_GET
def panel(request, pk: int):
    """Fetched again when the take is kept or discarded on its page (jobs-changed)."""
    visible = Job.objects.visible_to(request.user).filter(state=Job.State.COMPLETED)
    return _panel(request, get_object_or_404(visible.exclude(audio=""), pk=pk))


@require_POST
def create(request, pk: int):
    job = get_object_or_404(links.shareable(request.user), pk=pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return _panel(request, job, form)
    link = links.create(
        request.user,
        job,
        days=form.cleaned_data["days"],
        title=form.cleaned_data["title"],
        show_prompt=form.cleaned_data["show_prompt"],
    )
    return _panel(request, job, made=link)


@require_POST
def revoke(request, pk: int):
    link = get_object_or_404(
        ShareLink.objects.select_related("job").filter(job__in=links.shareable(request.user)),
        pk=pk,
    )
    try:
        links.revoke(request.user, link)
    except links.ShareRefused as exc:
        return _panel(request, link.job, error=str(exc))
    return _panel(request, link.job)


def _open(request, token: str) -> ShareLink | HttpResponse:
    if not links.allow(client_address(request)):
        response = render(request, "sharing/gone.html", {"why": "busy"}, status=429)
        response["Retry-After"] = str(links.RATE_WINDOW_S)
        return response
    try:
        return links.resolve(token)
    except links.LinkNotFound as exc:
        raise Http404("No such link") from exc
    except links.LinkGone:
        return render(request, "sharing/gone.html", {"why": "gone"}, status=410)


@login_not_required
@require_GET
def shared(request, token: str):
    link = _open(request, token)
    if isinstance(link, HttpResponse):
        return link
    ShareLink.objects.filter(pk=link.pk).update(views=F("views") + 1)
    response = render(
        request, "sharing/shared.html", {"link": link, "job": link.job, "token": token}
    )
    response["X-Robots-Tag"] = "noindex"
    return response


@login_not_required
@require_GET
def shared_audio(request, token: str):
    link = _open(request, token)
    if isinstance(link, HttpResponse):
        return link
    # Named after the link's title: the usual name carries the prompt's first words.
    filename = delivery.audio_filename(link.job, title=link.title)
    return delivery.audio_response(
        request, link.job, cache_control="private, no-store", filename=filename
    )
