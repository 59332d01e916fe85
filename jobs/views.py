"""The member's pages for jobs: generate, the job list with its live status, detail and audio.

Views stay thin: the work is in `pipeline` (validation, budgets, takes), `pricing` (the quote
and what the form shows of it), `states` (the state machine) and `delivery` (the audio in byte
ranges, and as MP3 for a WAV original).
"""

from __future__ import annotations

import re
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, F, OuterRef, QuerySet
from django.http import Http404, HttpResponse, HttpResponseForbidden, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import replace_url, trigger_client_event

from wallets.money import format_usd

from . import catalogue, delivery, keepers, pipeline, pricing, states
from .forms import VARIABLE_PREFIX, GenerateForm, VariablesForm, filled_for_quote
from .models import Favourite, Job

State = Job.State
JOBS_PER_PAGE = 25
# The live endpoint answers for at most this many jobs (a page holds JOBS_PER_PAGE).
LIVE_MAX_IDS = 100


# --- generate -----------------------------------------------------------------------------------


def _prefill(request) -> dict:
    """The form's starting values: a job to run again, or the URL's."""
    if job_id := request.GET.get("job"):
        job = get_object_or_404(Job.objects.visible_to(request.user), pk=_int_or_404(job_id))
        values = dict(job.queue_body)
        values.update(model=job.model_id, private=job.private)
        if request.GET.get("suggested") and job.suggested_prompt:
            values["prompt"] = job.suggested_prompt
        return values
    return _typed(request.GET)


def _typed(data: QueryDict) -> dict:
    """What a model switch carries over to the new model's form: the text already typed, and
    the values typed for the prompt's variables."""
    keep = (
        "model",
        "prompt",
        "lyrics_prompt",
        "private",
        "takes",
        "library_prompt",
        "library_version",
    )
    return {
        key: value
        for key, value in data.items()
        if value and (key in keep or key.startswith(VARIABLE_PREFIX))
    }


def _int_or_404(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404("No such item") from None


def generate(request, prefill: dict | None = None, *, switched: bool = False):
    """The generate form, and a job made from it. `prefill` is the form's starting values when
    another page opens it (the library's "Use": studio.views.prompt_use); else the URL's.
    `switched`: only the form, for a model switch (`switch_model`)."""
    try:
        models = catalogue.usable_models()
    except catalogue.CatalogueUnavailable as exc:
        return render(request, "jobs/generate.html", {"unavailable": str(exc)}, status=503)
    if not models:
        return render(
            request,
            "jobs/generate.html",
            {"unavailable": "Venice lists no music model Studio can use right now."},
        )

    if request.method == "POST" and not switched:
        model = models.get(request.POST.get("model")) or next(iter(models.values()))
        form = GenerateForm(request.POST, models=models, model=model)
        if form.is_valid():
            try:
                jobs = pipeline.create_takes(
                    user=request.user,
                    model_id=model.id,
                    fields=form.queue_fields(),
                    takes=form.cleaned_data["takes"],
                    private=form.cleaned_data["private"],
                    library_prompt=form.cleaned_data.get("library_prompt"),
                    library_version=form.cleaned_data.get("library_version"),
                )
            except pipeline.JobRejected as exc:
                form.add_rejection(str(exc), exc.field)
            else:
                return _submitted(request, jobs)
        data = request.POST
    else:
        values = _prefill(request) if prefill is None else prefill
        model = models.get(values.get("model")) or next(iter(models.values()))
        form = GenerateForm(models=models, model=model, initial={**values, "model": model.id})
        data = QueryDict(mutable=True)
        data.update({k: v for k, v in form.initial.items() if v not in (None, "")})

    pricing_context = pricing.quote_context(request.user, model, filled_for_quote(data))
    preview, refused = form.variables.preview()
    context = {
        "form": form,
        "model": model,
        "pricing": pricing_context,
        "variables": form.variables,
        "variable_fields": form.variable_fields,
        "preview": preview,
        "refused": refused,
    }
    if switched:
        response = render(request, "jobs/_generate_form.html", context)
        # Keep the address bar on the chosen model, so a reload shows the same form.
        return replace_url(response, f"{reverse('jobs:generate')}?model={model.id}")
    return render(request, "jobs/generate.html", context)


@require_POST
def switch_model(request):
    """Generate's form for another model (htmx, as the member picks it), keeping what they typed.
    A POST, like the quote and the variables: the prompt travels in the body, where a long text
    meets no request-line limit (gunicorn's is 4 KB) and no access log records it."""
    return generate(request, prefill=_typed(request.POST), switched=True)


def _submitted(request, jobs: list[Job]):
    """One take: its job page, as before takes. Several: the page comparing them."""
    first = jobs[0]
    price = format_usd(first.quoted_usd)
    if len(jobs) == 1:
        messages.success(request, f"Job {first.pk} is on its way, priced at {price}.")
        return redirect(first)
    total = format_usd(first.quoted_usd * len(jobs))
    messages.success(
        request, f"{len(jobs)} takes are on their way, at {price} each ({total} in all)."
    )
    return redirect(first.takes_url)


@require_POST
def quote(request):
    """The live price next to the budget, re-fetched (htmx) as the member edits the form: a
    POST, for the reason `switch_model` gives."""
    try:
        model = catalogue.usable_models().get(request.POST.get("model", ""))
    except catalogue.CatalogueUnavailable:
        model = None
    if model is None:
        return render(
            request,
            "jobs/_quote.html",
            {"pricing": {"quote_error": "Pick a model to see a price."}},
        )
    return render(
        request,
        "jobs/_quote.html",
        {"pricing": pricing.quote_context(request.user, model, filled_for_quote(request.POST))},
    )


@require_POST
def variables(request):
    """The prompt's variables as fields and the text filled in with them, re-fetched (htmx) as
    the member edits the prompt; only the filled text as they fill the fields in. A POST, for
    the reason `switch_model` gives."""
    form = VariablesForm.reading(request.POST)
    preview, refused = form.preview()
    context = {
        "variables": form,
        "variable_fields": list(form),
        "preview": preview,
        "refused": refused,
    }
    if request.htmx.target == "variables-preview":
        return render(request, "jobs/_variables_preview.html", context)
    return render(request, "jobs/_variables.html", context)


# --- the job list and its live status -------------------------------------------------------------

STATE_FILTERS = {
    "running": ("Running", Job.RUNNING),
    "completed": ("Ready", [State.COMPLETED]),
    "failed": ("Failed", [State.FAILED]),
    "cancelled": ("Cancelled", [State.CANCELLED]),
    "needs_review": ("Needs review", [State.NEEDS_REVIEW]),
}


# What the team made of the takes (jobs.keepers); `is_favourite` is the member's own.
MARK_FILTERS = {
    "kept": ("Kept", {"kept_at__isnull": False}),
    "favourite": ("My favourites", {"is_favourite": True}),
    "discarded": ("Discarded", {"discarded_at__isnull": False}),
}


def job_list(request):
    who = "team" if request.GET.get("who") == "team" else "mine"
    jobs = (
        Job.objects.visible_to(request.user)
        if who == "team"
        else Job.objects.filter(user=request.user)
    )
    state = request.GET.get("state", "")
    if state in STATE_FILTERS:
        jobs = jobs.filter(state__in=STATE_FILTERS[state][1])
    else:
        state = ""
    jobs = _with_marks(jobs, request.user)
    mark = request.GET.get("mark", "")
    if mark in MARK_FILTERS:
        jobs = jobs.filter(**MARK_FILTERS[mark][1])
    else:
        mark = ""
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    return render(
        request,
        "jobs/list.html",
        {
            "page": page,
            "jobs": rows,
            "who": who,
            "state": state,
            "state_filters": STATE_FILTERS,
            "mark": mark,
            "mark_filters": MARK_FILTERS,
            "live": _live_poll(rows, "list"),
        },
    )


def _live_poll(jobs, view: str, known: dict[int, str] | None = None) -> dict | None:
    """The poll element's state: the signature of every running job the page shows."""
    signatures = dict(known or {})
    for job in jobs:
        signatures[job.pk] = job.signature if job.is_running else None
    running = [sig for sig in signatures.values() if sig]
    return {"signatures": ",".join(running), "view": view} if running else None


_SIGNATURE = re.compile(r"\d{1,18}:[a-z_]{1,15}:\d{0,10}(:u)?")


@require_GET
def live(request):
    """One poll for all the running jobs a page shows, with what the page shows of them (`s`).

    The one jobs query returns only the rows whose signature differs from the page's, so an
    unchanged page costs an empty result and gets 204 with no body. Otherwise the answer holds
    those jobs' new HTML for out-of-band swaps and the poll element again, without its trigger
    once nothing runs, which stops the polling. Three queries whatever the number of jobs:
    session, user, jobs.
    """
    known = {}
    for sig in request.GET.get("s", "").split(",")[:LIVE_MAX_IDS]:
        if _SIGNATURE.fullmatch(sig):
            known[int(sig.split(":", 1)[0])] = sig
    if not known:
        return HttpResponse(status=204)
    changed = Job.objects.changed_since(request.user, known)
    if not changed:
        return HttpResponse(status=204)
    view = request.GET.get("view")
    view = view if view in ("detail", "takes") else "list"
    response = render(
        request,
        "jobs/_live_update.html",
        {
            "jobs": changed,
            "view": view,
            "live": _live_poll(changed, view, known),
            "who": request.GET.get("who", "mine"),
        },
    )
    # The detail page's timeline listens for this and fetches itself again.
    return trigger_client_event(response, "jobs-changed")


# --- one job ------------------------------------------------------------------------------------


def detail(request, pk: int):
    job = get_object_or_404(
        _with_marks(Job.objects.visible_to(request.user), request.user).select_related(
            "user", "wallet", "kept_by"
        ),
        pk=pk,
    )
    return render(
        request,
        "jobs/detail.html",
        {"events": job.events.all(), "live": _live_poll([job], "detail"), **_detail(request, job)},
    )


def _detail(request, job: Job) -> dict:
    """What the detail page's live section shows besides the job."""
    return {
        "job": job,
        "mine": job.user_id == request.user.pk,
        "who": "mine",
        "can_cancel": job.state == State.PENDING
        and (job.user_id == request.user.pk or request.user.is_staff),
        "audio_deleted_after": keepers.audio_deleted_after(job),
    }


def _with_marks(jobs: QuerySet, user) -> QuerySet:
    """The jobs with their author's name and whether this member favourited each."""
    return jobs.annotate(
        author_name=F("user__username"),
        is_favourite=Exists(Favourite.objects.filter(user=user, job=OuterRef("pk"))),
    )


# --- keep, favourite, discard --------------------------------------------------------------------

CURATE = {
    "keep": keepers.keep,
    "unkeep": keepers.unkeep,
    "discard": keepers.discard,
    "restore": keepers.restore,
    "favourite": keepers.toggle_favourite,
}


@require_POST
def curate(request, pk: int, action: str):
    """Keep, un-keep, discard, restore or (un)favourite a take. With htmx the answer is the
    take's updated row (the list), live section (the detail page) or take (the comparison);
    without, a redirect."""
    job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
    try:
        CURATE[action](job, request.user)
    except keepers.NotAllowed as refused:
        if request.htmx:
            return HttpResponseForbidden(str(refused))
        messages.error(request, str(refused))
        return redirect(job)
    if not request.htmx:
        return redirect(job)
    job = _with_marks(Job.objects.select_related("user", "wallet", "kept_by"), request.user).get(
        pk=pk
    )
    if request.POST.get("view") == "detail":
        response = render(request, "jobs/_live.html", _detail(request, job))
        # The timeline says who kept or discarded it: it fetches itself again on this event.
        return trigger_client_event(response, "jobs-changed")
    if request.POST.get("view") == "takes":
        return render(request, "jobs/_take.html", {"job": job})
    who = "team" if request.POST.get("who") == "team" else "mine"
    return render(request, "jobs/_row.html", {"job": job, "who": who})


@require_GET
def timeline(request, pk: int):
    job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
    return render(request, "jobs/_timeline.html", {"job": job, "events": job.events.all()})


@require_POST
def cancel(request, pk: int):
    job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
    if job.user_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such job")
    if states.cancel(job, request.user):
        messages.success(request, f"Job {job.pk} is cancelled; its reservation is released.")
    else:
        messages.error(
            request,
            "The worker has already sent this job to Venice, which has no "
            "cancel call: it will run to the end.",
        )
    return redirect(job)


def _with_audio(request, pk: int) -> Job:
    """A finished job with audio the member may see: the original's and the MP3's one rule."""
    return get_object_or_404(
        Job.objects.visible_to(request.user).filter(state=State.COMPLETED).exclude(audio=""), pk=pk
    )


def audio(request, pk: int):
    """The job's audio from storage, streamed, with Range support so the player can seek."""
    job = _with_audio(request, pk)
    return delivery.audio_response(request, job, cache_control="private, max-age=3600")


@require_GET
def audio_mp3(request, pk: int):
    """A WAV original as an MP3 download, encoded as it is sent (jobs.mp3)."""
    return delivery.mp3_response(_with_audio(request, pk), cache_control="private, max-age=3600")


# --- the takes of one request ---------------------------------------------------------------------


@require_GET
def takes(request, group: uuid.UUID):
    """The takes of one request side by side, each with its player, live while they run."""
    jobs = list(
        _with_marks(Job.objects.visible_to(request.user), request.user)
        .filter(take_group=group)
        .select_related("user", "kept_by")
        .order_by("take_number", "pk")
    )
    if not jobs:
        raise Http404("No such takes")
    return render(
        request,
        "jobs/takes.html",
        {
            "jobs": jobs,
            "first": jobs[0],
            "total_usd": sum(job.quoted_usd for job in jobs),
            "live": _live_poll(jobs, "takes"),
            "who": "mine",
        },
    )
