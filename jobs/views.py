"""The member's pages for jobs: generate, the job list with its live status, detail and audio.

Views stay thin: the work (validation, pricing, budgets, the state machine) is in `pipeline`.
"""

from __future__ import annotations

import mimetypes
import re
from decimal import Decimal

from django.contrib import messages
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import F, Q
from django.http import FileResponse, Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from studio.models import Prompt
from venice import Model, errors
from wallets import budgets
from wallets.money import format_usd

from . import catalogue, pipeline
from .forms import GenerateForm
from .models import Job

State = Job.State
JOBS_PER_PAGE = 25
# The live endpoint answers for at most this many jobs (a page holds JOBS_PER_PAGE).
LIVE_MAX_IDS = 100
QUOTE_CACHE_S = 60


def visible_jobs(user):
    """A member sees their own jobs and the team's non-private ones; admins see all."""
    if user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(Q(user=user) | Q(private=False))


# --- generate -----------------------------------------------------------------------------------


def _prefill(request, models: dict[str, Model]) -> dict:
    """The form's starting values: a job to run again, a library prompt, or the URL's."""
    if job_id := request.GET.get("job"):
        job = get_object_or_404(visible_jobs(request.user), pk=_int_or_404(job_id))
        values = dict(job.queue_body)
        values.update(model=job.model_id, private=job.private)
        if request.GET.get("suggested") and job.suggested_prompt:
            values["prompt"] = job.suggested_prompt
        return values
    if prompt_id := request.GET.get("library"):
        prompt = get_object_or_404(
            Prompt.objects.visible_to(request.user), pk=_int_or_404(prompt_id)
        )
        return {**prompt.generate_params, "library_prompt": prompt.pk, "private": prompt.private}
    # A model switch (htmx) carries the text already typed over to the new model's form.
    keep = ("model", "prompt", "lyrics_prompt", "private", "library_prompt")
    return {key: request.GET[key] for key in keep if request.GET.get(key)}


def _int_or_404(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404("No such item") from None


def _initial_for(form: GenerateForm, values: dict) -> dict:
    initial = {name: value for name, value in values.items() if name in form.fields}
    voice = values.get("voice")
    if voice and "voice" in form.fields and voice not in form.model.spec.voices:
        initial.pop("voice", None)
        if "custom_voice" in form.fields:
            initial["custom_voice"] = voice
    return initial


def generate(request):
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

    if request.method == "POST":
        model = models.get(request.POST.get("model")) or next(iter(models.values()))
        form = GenerateForm(request.POST, models=models, model=model)
        if form.is_valid():
            try:
                job = pipeline.create_job(
                    user=request.user,
                    model_id=model.id,
                    fields=form.queue_fields(),
                    private=form.cleaned_data["private"],
                )
            except pipeline.JobRejected as exc:
                form.add_rejection(str(exc), exc.field)
            else:
                _count_library_use(request.user, form.cleaned_data.get("library_prompt"))
                messages.success(
                    request, f"Job {job.pk} is on its way, priced at {format_usd(job.quoted_usd)}."
                )
                return redirect(job)
        data = request.POST
    else:
        values = _prefill(request, models)
        model = models.get(values.get("model")) or next(iter(models.values()))
        form = GenerateForm(models=models, model=model)
        form.initial = _initial_for(form, {**values, "model": model.id})
        data = QueryDict(mutable=True)
        data.update({k: v for k, v in form.initial.items() if v not in (None, "")})

    context = {"form": form, "model": model, "pricing": _quote_context(request.user, model, data)}
    if request.htmx and request.htmx.target == "generate-form":
        response = render(request, "jobs/_generate_form.html", context)
        # Keep the address bar on the chosen model, so a reload shows the same form.
        response["HX-Replace-Url"] = f"{reverse('jobs:generate')}?model={model.id}"
        return response
    return render(request, "jobs/generate.html", context)


def _count_library_use(user, prompt_id) -> None:
    if prompt_id:
        Prompt.objects.visible_to(user).filter(pk=prompt_id).update(times_used=F("times_used") + 1)


def _duration_for_quote(model: Model, raw) -> int | None:
    """The duration the price is for: the member's if the model takes it, else the default."""
    spec = model.spec
    if not spec.has_duration:
        return None
    try:
        seconds = int(str(raw).strip())
    except (TypeError, ValueError):
        seconds = None
    if seconds is not None:
        if spec.duration_options and seconds in spec.duration_options:
            return seconds
        low, high = spec.min_duration, spec.max_duration
        if (
            not spec.duration_options
            and (low is None or seconds >= low)
            and (high is None or seconds <= high)
        ):
            return seconds
    return spec.default_duration or (spec.duration_options or (None,))[0]


def _price(model: Model, prompt: str, duration: int | None) -> Decimal:
    """Venice's quote, cached for a minute: typing fires one request per pause, not per key."""
    by_characters = model.spec.pricing and model.spec.pricing.kind == "per_thousand_characters"
    text = (prompt or "").strip() or " "
    key = f"studio:quote:{model.id}:{duration}:{len(text) if by_characters else ''}"
    quote = cache.get(key)
    if quote is None:
        quote = pipeline.price(model, {"prompt": text, "duration_seconds": duration})
        cache.set(key, quote, QUOTE_CACHE_S)
    return quote


def _quote_context(user, model: Model, data) -> dict:
    month = budgets.month_of(timezone.now())
    mine = budgets.member_budget(user.pk, month)
    team = budgets.team_budget(month)
    context = {"budget": mine, "team_budget": team, "month": month}
    duration = _duration_for_quote(model, data.get("duration_seconds"))
    context["duration"] = duration
    try:
        quote = _price(model, data.get("prompt", ""), duration)
    except errors.VeniceError as exc:
        context["quote_error"] = f"Venice could not price this right now ({exc.message})."
        return context
    context["quote"] = quote
    context["over_budget"] = quote > mine.remaining_usd or quote > team.remaining_usd
    context["team_short"] = team.remaining_usd < mine.remaining_usd
    return context


@require_GET
def quote(request):
    """The live price next to the budget, re-fetched (htmx) as the member edits the form."""
    try:
        model = catalogue.usable_models().get(request.GET.get("model", ""))
    except catalogue.CatalogueUnavailable:
        model = None
    if model is None:
        return render(
            request,
            "jobs/_quote.html",
            {"pricing": {"quote_error": "Pick a model to see a price."}},
        )
    return render(
        request, "jobs/_quote.html", {"pricing": _quote_context(request.user, model, request.GET)}
    )


# --- the job list and its live status -------------------------------------------------------------

STATE_FILTERS = {
    "running": ("Running", Job.RUNNING),
    "completed": ("Ready", [State.COMPLETED]),
    "failed": ("Failed", [State.FAILED]),
    "cancelled": ("Cancelled", [State.CANCELLED]),
    "needs_review": ("Needs review", [State.NEEDS_REVIEW]),
}


def job_list(request):
    who = "team" if request.GET.get("who") == "team" else "mine"
    jobs = visible_jobs(request.user) if who == "team" else Job.objects.filter(user=request.user)
    state = request.GET.get("state", "")
    if state in STATE_FILTERS:
        jobs = jobs.filter(state__in=STATE_FILTERS[state][1])
    else:
        state = ""
    jobs = jobs.annotate(author_name=F("user__username"))
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    query = QueryDict(mutable=True)
    query.update({k: v for k, v in {"who": who, "state": state}.items() if v})
    return render(
        request,
        "jobs/list.html",
        {
            "page": page,
            "jobs": rows,
            "who": who,
            "state": state,
            "state_filters": STATE_FILTERS,
            "query": query.urlencode(),
            "live": _live_poll(rows, "list"),
        },
    )


def signature(job: Job) -> str:
    """What the live view shows of a running job, as text: id, state and Venice's progress, and
    ":u" while Venice is unreachable (the page says so, and says so no more once it answers).

    Not `updated_at`: the worker moves jobs with queryset UPDATEs, which leave it alone. Venice's
    estimate (average_execution_time) is written together with the progress, so it needs no part.
    """
    exec_ms = "" if job.execution_duration_ms is None else job.execution_duration_ms
    unreachable = ":u" if job.venice_unreachable_since else ""
    return f"{job.pk}:{job.state}:{exec_ms}{unreachable}"


def changed_jobs(user, shown: dict[int, str]) -> list[Job]:
    """The jobs among `shown` (id -> signature) that `user` may see and that no longer match.

    The live endpoint's one query, and the hottest in Studio (every open page, every second), so
    it is written out: the ORM took four times longer to compile it than the database took to
    run it. The database computes each row's signature exactly as `signature` does, and only
    differing rows come back, so an unchanged page costs an empty result. The visibility test
    is `visible_jobs`' (tests/web/test_ui_live.py checks that they agree).
    """
    if not shown:
        return []
    job_table = Job._meta.db_table
    user_table = Job._meta.get_field("user").related_model._meta.db_table
    ids = ", ".join(["%s"] * len(shown))
    signatures = ", ".join(["%s"] * len(shown))
    # Only placeholders and table names are interpolated; every value is a parameter.
    sql = (
        f'SELECT j.*, u.username AS author_name FROM "{job_table}" j '  # noqa: S608
        f'JOIN "{user_table}" u ON u.id = j.user_id '
        f"WHERE j.id IN ({ids}) AND (%s OR j.user_id = %s OR NOT j.private) "
        f"AND (CAST(j.id AS VARCHAR(20)) || ':' || j.state || ':' || "
        f"COALESCE(CAST(j.execution_duration_ms AS VARCHAR(20)), '') || "
        f"CASE WHEN j.venice_unreachable_since IS NULL THEN '' ELSE ':u' END) "
        f"NOT IN ({signatures})"
    )
    params = [*shown, bool(user.is_staff), user.pk, *shown.values()]
    return list(Job.objects.raw(sql, params))


def _live_poll(jobs, view: str, known: dict[int, str] | None = None) -> dict | None:
    """The poll element's state: the signature of every running job the page shows."""
    signatures = dict(known or {})
    for job in jobs:
        signatures[job.pk] = signature(job) if job.is_running else None
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
    changed = changed_jobs(request.user, known)
    if not changed:
        return HttpResponse(status=204)
    view = "detail" if request.GET.get("view") == "detail" else "list"
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
    response["HX-Trigger"] = "jobs-changed"
    return response


# --- one job ------------------------------------------------------------------------------------


def detail(request, pk: int):
    job = get_object_or_404(visible_jobs(request.user).select_related("user", "wallet"), pk=pk)
    return render(
        request,
        "jobs/detail.html",
        {
            "job": job,
            "events": job.events.all(),
            "live": _live_poll([job], "detail"),
            "mine": job.user_id == request.user.pk,
            "who": "mine",
            "can_cancel": job.state == State.PENDING
            and (job.user_id == request.user.pk or request.user.is_staff),
        },
    )


@require_GET
def timeline(request, pk: int):
    job = get_object_or_404(visible_jobs(request.user), pk=pk)
    return render(request, "jobs/_timeline.html", {"job": job, "events": job.events.all()})


@require_POST
def cancel(request, pk: int):
    job = get_object_or_404(visible_jobs(request.user), pk=pk)
    if job.user_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such job")
    if pipeline.cancel(job, request.user):
        messages.success(request, f"Job {job.pk} is cancelled; its reservation is released.")
    else:
        messages.error(
            request,
            "The worker has already sent this job to Venice, which has no "
            "cancel call: it will run to the end.",
        )
    return redirect(job)


def audio_filename(job: Job) -> str:
    """elevenlabs-music-calm-piano-at-dusk-42.wav"""
    ext = (job.audio_format or job.audio.name.rsplit(".", 1)[-1] or "bin").lower()[:8]
    words = slugify(job.prompt)[:40].strip("-") or "audio"
    return f"{slugify(job.model_id) or 'audio'}-{words}-{job.pk}.{ext}"


class _Slice:
    """A read-only window [start, start + length) of an open file, for FileResponse to stream."""

    def __init__(self, file, start: int, length: int):
        self.file = file
        self.left = length
        file.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        chunk = self.file.read(size)
        self.left -= len(chunk)
        return chunk

    def close(self) -> None:
        self.file.close()


# ASCII digits only (RFC 9110's DIGIT; `\d` would take any script's), matched whole (`$` would
# let a trailing newline through).
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# No file is this large, and no HTTP stack counts bytes past it. Checked on the digits, before
# int(): Python refuses to convert more than 4,300 digits, which used to answer 500.
_MAX_POSITION = 2**63 - 1


def _position(digits: str) -> int | None:
    """A byte position from a header, or None if it is beyond any file."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(_MAX_POSITION)) or int(digits) > _MAX_POSITION:
        return None
    return int(digits)


def parse_range(header: str | None, size: int):
    """One `bytes=` range as (start, end) inclusive; None to send it all; False if unsatisfiable.

    Several ranges or a malformed header are answered with the whole file, as RFC 9110 allows;
    a position beyond any file (more than 2**63 - 1) is unsatisfiable.
    """
    match = _RANGE.fullmatch((header or "").strip(" \t"))
    if not match or match.groups() == ("", ""):
        return None
    start_digits, end_digits = match.groups()
    start = _position(start_digits) if start_digits else None
    end = _position(end_digits) if end_digits else None
    if (start_digits and start is None) or (end_digits and end is None):
        return False
    if start is None:  # the last N bytes
        if end == 0 or size == 0:
            return False
        return max(0, size - end), size - 1
    if start >= size or (end is not None and end < start):
        return False
    return start, size - 1 if end is None else min(end, size - 1)


def audio(request, pk: int):
    """The job's audio from storage, streamed, with Range support so the player can seek."""
    job = get_object_or_404(
        visible_jobs(request.user).filter(state=State.COMPLETED).exclude(audio=""), pk=pk
    )
    name = job.audio.name
    try:
        size = default_storage.size(name)
    except (OSError, NotImplementedError) as exc:
        raise Http404("The audio file is missing") from exc
    content_type = (
        job.audio_content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    download = request.GET.get("download") == "1"
    wanted = parse_range(request.headers.get("Range"), size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    source = default_storage.open(name, "rb")
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = wanted, 206
    response = FileResponse(
        _Slice(source, start, end - start + 1),
        status=status,
        content_type=content_type,
        as_attachment=download,
        filename=audio_filename(job),
    )
    response["Content-Length"] = str(end - start + 1)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
