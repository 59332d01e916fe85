"""Sign-in and the team's shared prompt library."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import Truncator
from django.views.decorators.http import require_POST, require_safe

from jobs import catalogue
from jobs.models import Job
from jobs.views import generate

from . import diff, results, transfer, versioning
from .forms import PromptForm
from .models import SETTING_KEYS, Prompt, PromptVersion

PROMPTS_PER_PAGE = 30


class LoginView(auth_views.LoginView):
    # Failed sign-ins are counted and limited by django-axes (studio/signin.py).
    redirect_authenticated_user = True


# --- the prompt library ---------------------------------------------------------------------------


def _model_choices() -> list[tuple[str, str]]:
    try:
        models = catalogue.usable_models()
    except catalogue.CatalogueUnavailable:
        return []
    return [(m.id, m.spec.name or m.id) for m in models.values()]


def _model_names() -> dict[str, str]:
    try:
        return {m.id: m.spec.name or m.id for m in catalogue.music_models().values()}
    except catalogue.CatalogueUnavailable:
        return {}


def _library_prompts(request) -> tuple:
    """The prompts the member can see, filtered as the list's search asks (?q=, ?tag=,
    ?mine=1): what the list shows and what *Export* writes. Each knows its approved number."""
    approved = PromptVersion.objects.filter(prompt=OuterRef("pk"), approved=True)
    prompts = (
        Prompt.objects.visible_to(request.user)
        .select_related("author")
        .annotate(approved_number=Subquery(approved.values("number")[:1]))
    )
    q = request.GET.get("q", "").strip()[:200]
    tag = request.GET.get("tag", "").strip().lower()[:30]
    if q:
        prompts = prompts.filter(
            Q(title__icontains=q)
            | Q(text__icontains=q)
            | Q(lyrics__icontains=q)
            | Q(tags__icontains=q)
        )
    if tag:
        prompts = prompts.tagged(tag)
    mine = request.GET.get("mine") == "1"
    if mine:
        prompts = prompts.filter(author=request.user)
    return prompts, {"q": q, "tag": tag, "mine": mine}


def library(request):
    prompts, filters = _library_prompts(request)
    mine = filters["mine"]
    # Each prompt's results, the member's stars first, then the sort asked for (studio.results).
    sort = results.sort_or_default(request.GET.get("sort"))
    prompts = results.ordered(results.with_results(prompts, request.user), sort)
    page = Paginator(prompts, PROMPTS_PER_PAGE).get_page(request.GET.get("page"))
    # The tag cloud: tags of what this member can see (a few hundred rows at most).
    all_tags = sorted(
        {
            t
            for tags in Prompt.objects.visible_to(request.user).values_list("tags", flat=True)
            for t in tags.split(",")
            if t
        }
    )
    names = _model_names()
    for prompt in page.object_list:
        prompt.model_name = names.get(prompt.model_id, prompt.model_id)
        prompt.can_edit = prompt.editable_by(request.user)
        prompt.results = results.tally(prompt)
    return render(
        request,
        "studio/library.html",
        {
            "page": page,
            **filters,
            # The list's filters, for *Export* to write what the list shows.
            "filtered": urlencode(
                {
                    k: v
                    for k, v in (("q", filters["q"]), ("tag", filters["tag"]), ("mine", "1" * mine))
                    if v
                }
            ),
            "all_tags": all_tags,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in results.SORTS.items()],
        },
    )


def _editable_prompt(request, pk: int) -> Prompt:
    """404 for a prompt the member cannot see; 404 too for one they may see but not edit."""
    prompt = get_object_or_404(Prompt.objects.visible_to(request.user), pk=pk)
    if not prompt.editable_by(request.user):
        raise Http404("You can only edit your own prompts.")
    return prompt


def prompt_new(request):
    return _prompt_form(request, Prompt(author=request.user), "is in the library.")


def prompt_edit(request, pk: int):
    return _prompt_form(request, _editable_prompt(request, pk), "is saved.")


def _prompt_form(request, prompt: Prompt, saved: str):
    form = PromptForm(request.POST or None, instance=prompt, model_choices=_model_choices())
    if request.method == "POST" and form.is_valid():
        version = versioning.save_prompt(
            form.save(commit=False), request.user, form.cleaned_data["note"]
        )
        if version is None:
            saved += " Nothing in its text or settings changed, so no new version."
        else:
            saved += f" Version {version.number}."
        messages.success(request, f"“{prompt.title}” {saved}")
        return redirect("library:list")
    # A prompt not saved yet is a new one: nothing to use or delete, and the page says "New".
    shown = prompt if prompt.pk else None
    return render(request, "studio/prompt_form.html", {"form": form, "prompt": shown})


@require_POST
def prompt_delete(request, pk: int):
    prompt = _editable_prompt(request, pk)
    prompt.delete()
    messages.success(request, f"“{prompt.title}” is deleted from the library.")
    return redirect("library:list")


@require_safe
def prompt_use(request, pk: int):
    """Generate, pre-filled with this prompt (a job made from it counts a use: models.count_use).

    Shown here rather than by a redirect to Generate carrying the prompt in its query string: the
    text stays out of the address bar and access logs, and long lyrics fit in any request line.
    """
    prompt = get_object_or_404(Prompt.objects.visible_to(request.user), pk=pk)
    version = versioning.version_for_use(prompt)
    return _use(request, prompt, version, private=prompt.private)


def _use(request, prompt: Prompt, version: PromptVersion | None, *, private: bool):
    """Generate, pre-filled with a version of the prompt; a job made from it records both."""
    params = version.generate_params if version else prompt.generate_params
    prefill = {**params, "library_prompt": prompt.pk, "private": private}
    if version is not None:
        prefill["library_version"] = version.pk
    return generate(request, prefill=prefill)


@require_POST
def save_job(request, pk: int):
    """One click: a job's prompt, model and settings become a library prompt."""
    job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
    body = job.queue_body
    settings = {key: body[key] for key in SETTING_KEYS if key in body}
    if "speed" in settings:
        settings["speed"] = str(settings["speed"])
    prompt = Prompt(
        title=Truncator(job.prompt).words(8, truncate="…")[:120],
        text=job.prompt,
        lyrics=job.lyrics_prompt,
        model_id=job.model_id,
        settings=settings,
        author=request.user,
        private=job.private and job.user_id == request.user.pk,
        source_job=job,
    )
    prompt.set_tags([])
    versioning.save_prompt(prompt, request.user, note=f"Saved from job {job.pk}")
    messages.success(
        request,
        "Saved to the library. Give it a better title and some tags here, or leave it as it is.",
    )
    return redirect(prompt)


# --- versions and the approved label ------------------------------------------------------------


def _visible_prompt(request, pk: int) -> Prompt:
    return get_object_or_404(Prompt.objects.visible_to(request.user), pk=pk)


def _version(prompt: Prompt, number) -> PromptVersion:
    """The prompt's version by its number; 404 for a number it has not (or not a number)."""
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise Http404("No such version") from None
    return get_object_or_404(prompt.versions, number=number)


@require_safe
def prompt_history(request, pk: int):
    """The prompt's versions, newest first, and the diff between two of them (?a=1&b=3)."""
    prompt = results.results_of(_visible_prompt(request, pk), request.user)
    prompt.results = results.tally(prompt)
    versions = list(prompt.versions.select_related("author"))
    names = _model_names()
    for version in versions:
        version.model_name = names.get(version.model_id, version.model_id)
    compared = None
    if "a" in request.GET or "b" in request.GET:
        old, new = _version(prompt, request.GET.get("a")), _version(prompt, request.GET.get("b"))
        compared = {"old": old, "new": new, "fields": diff.compare(old, new)}
    elif len(versions) > 1:
        # Opened plainly: the last edit, so the page answers "what changed?" at once.
        compared = {"old": versions[1], "new": versions[0]}
        compared["fields"] = diff.compare(compared["old"], compared["new"])
    return render(
        request,
        "studio/prompt_history.html",
        {
            "prompt": prompt,
            "versions": versions,
            "compared": compared,
            "in_use": versioning.version_for_use(prompt),
            "can_edit": prompt.editable_by(request.user),
            "may_label": versioning.may_move_label(request.user, prompt),
        },
    )


@require_safe
def version_use(request, pk: int, number: int):
    prompt = _visible_prompt(request, pk)
    return _use(request, prompt, _version(prompt, number), private=prompt.private)


@require_POST
def version_restore(request, pk: int, number: int):
    prompt = _editable_prompt(request, pk)
    old = _version(prompt, number)
    version = versioning.restore(prompt, old, request.user)
    if version is None:
        messages.info(request, f"Version {old.number} is already the prompt as it is.")
    else:
        messages.success(request, f"Version {old.number} is restored as version {version.number}.")
    return redirect("library:history", pk=prompt.pk)


@require_POST
def version_approve(request, pk: int, number: int):
    prompt = _visible_prompt(request, pk)
    version = _version(prompt, number)
    _move_label(request, prompt, version)
    messages.success(request, f"Version {version.number} is approved: Use takes it.")
    return redirect("library:history", pk=prompt.pk)


@require_POST
def prompt_unapprove(request, pk: int):
    prompt = _visible_prompt(request, pk)
    _move_label(request, prompt, None)
    messages.success(request, "No version is approved now: Use takes the latest.")
    return redirect("library:history", pk=prompt.pk)


def _move_label(request, prompt: Prompt, version: PromptVersion | None) -> None:
    try:
        versioning.set_approved(prompt, version, request.user)
    except versioning.LabelRefused as exc:
        raise PermissionDenied(str(exc)) from exc


@require_safe
def run_again(request, pk: int):
    """*Run again* on a job's page: a job made from a library prompt runs that prompt's version
    again (its text, model and settings); any other job, its own request (Generate's ?job=).

    The job page links here because jobs cannot know the library: studio keeps which version
    a job came from (PromptRun, written on jobs.signals.job_created)."""
    job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
    run = versioning.run_of(job, request.user)
    if run is None:
        return redirect(f"{reverse('jobs:generate')}?job={job.pk}")
    return _use(request, run.prompt, run.version, private=job.private)


# --- stars ----------------------------------------------------------------------------------------


@require_POST
def prompt_star(request, pk: int):
    """Star a prompt the member can see, or unstar it: their starred prompts come first in their
    library. With htmx the button swaps itself; without, back to the page it was on."""
    prompt = _visible_prompt(request, pk)
    prompt.starred = results.toggle_star(prompt, request.user)
    if request.htmx:
        compact = request.POST.get("compact") == "1"
        return render(request, "studio/_star.html", {"prompt": prompt, "compact": compact})
    if prompt.starred:
        messages.success(request, f"“{prompt.title}” is starred: it comes first in your library.")
    else:
        messages.success(request, f"“{prompt.title}” is no longer starred.")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect("library:list")


# --- quick insert: `/` in Generate's prompt ---------------------------------------------------

QUICK_RESULTS = 8


@require_POST
def quick_insert(request):
    """The library prompts matching what follows a `/` typed at the start of Generate's prompt
    (htmx, as the member types). Each result is a link to its *Use*: Generate pre-filled with
    the prompt's version, settings and variables, as the library's own button does.

    Any other text answers an empty list: the filter is here, not in an hx-trigger expression,
    which would need eval (the Content-Security-Policy forbids it). A POST, as Generate's other
    live parts are (jobs.views.switch_model says why)."""
    typed = request.POST.get("q", request.POST.get("prompt", ""))
    if not typed.startswith("/"):
        return HttpResponse("")
    words = typed[1:].split("\n", 1)[0].strip()[:100]
    approved = PromptVersion.objects.filter(prompt=OuterRef("pk"), approved=True)
    prompts = Prompt.objects.visible_to(request.user).annotate(
        approved_number=Subquery(approved.values("number")[:1])
    )
    for word in words.split()[:5]:
        prompts = prompts.filter(
            Q(title__icontains=word) | Q(tags__icontains=word) | Q(text__icontains=word)
        )
    # The most used first: a bare `/` lists the team's favourites.
    prompts = list(prompts.order_by("-times_used", "-updated_at", "-id")[:QUICK_RESULTS])
    names = _model_names()
    for prompt in prompts:
        prompt.model_name = names.get(prompt.model_id, prompt.model_id)
    return render(request, "studio/_quick_insert.html", {"prompts": prompts, "words": words})


# --- export and import ------------------------------------------------------------------------

IMPORT_KEY = "library_import"  # the session's copy of the uploaded file, until confirmed


@require_safe
def library_export(request):
    """The library as JSON (studio.transfer), filtered as the list is (?q=, ?tag=, ?mine=1)."""
    prompts, _ = _library_prompts(request)
    now = timezone.now()
    response = HttpResponse(
        transfer.dumps(transfer.export(prompts, now)),
        content_type="application/json; charset=utf-8",
    )
    name = f"studio-prompts-{now:%Y%m%d-%H%M}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def library_import(request):
    """Upload a file: it is read and checked, kept in the session, and the preview shown.
    Nothing is written to the library here."""
    if request.method != "POST":
        return render(request, "studio/import.html", {})
    upload = request.FILES.get("file")
    try:
        text = _read_upload(upload)
    except transfer.FileRefused as exc:
        return render(request, "studio/import.html", {"refused": str(exc)}, status=400)
    request.session[IMPORT_KEY] = {
        "name": upload.name[:200],
        "text": text,
        "digest": hashlib.sha256(text.encode()).hexdigest(),
    }
    return redirect("library:import_preview")


def _read_upload(upload) -> str:
    if upload is None:
        raise transfer.FileRefused("Choose a file to import.")
    if not upload.name.lower().endswith(".json"):
        raise transfer.FileRefused(
            f"“{upload.name[:80]}” is not a .json file: choose a file exported from the library."
        )
    if upload.size > transfer.MAX_FILE_BYTES:
        # Refused before it is read: the size is known from the request.
        raise transfer.FileRefused(
            f"The file is {upload.size / 1024 / 1024:.1f} MB; an import takes at most "
            f"{transfer.MAX_FILE_BYTES // 1024 // 1024} MB. Export a filtered part instead."
        )
    raw = upload.read()
    transfer.read(raw)
    return raw.decode("utf-8-sig")


def _stored_plan(request):
    """The plan of the file kept in the session, made again now (the library may have changed
    since the upload), or None when there is no file or it no longer reads."""
    stored = request.session.get(IMPORT_KEY)
    if not stored:
        return None, None
    try:
        records = transfer.read(stored["text"].encode())
    except transfer.FileRefused:
        return stored, None
    return stored, transfer.plan(records, request.user)


@require_safe
def import_preview(request):
    stored, plan = _stored_plan(request)
    if plan is None:
        messages.info(request, "Choose a file to import first.")
        return redirect("library:import")
    return _preview(request, stored, plan)


def _preview(request, stored: dict, plan: transfer.Plan, status: int = 200):
    context = {
        "plan": plan,
        "stored": stored,
        "creates": plan.count(transfer.CREATE),
        "updates": plan.count(transfer.UPDATE),
        "skips": plan.count(transfer.SKIP),
    }
    return render(request, "studio/import_preview.html", context, status=status)


@require_POST
def import_confirm(request):
    """Write the import: planned again from the session's file (never from the page), only
    if the file is the one previewed and no record is refused, in one transaction."""
    stored, plan = _stored_plan(request)
    if plan is None:
        messages.info(request, "Choose a file to import first.")
        return redirect("library:import")
    if request.POST.get("digest") != stored["digest"]:
        messages.error(request, "Another file was uploaded since that preview: check this one.")
        return redirect("library:import_preview")
    if not plan.confirmable:
        return _preview(request, stored, plan, status=400)
    transfer.apply(plan, request.user)
    del request.session[IMPORT_KEY]
    messages.success(
        request,
        f"Imported “{stored['name']}”: {plan.count(transfer.CREATE)} created, "
        f"{plan.count(transfer.UPDATE)} updated, {plan.count(transfer.SKIP)} skipped.",
    )
    return redirect("library:list")
