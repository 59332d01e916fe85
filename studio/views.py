"""Sign-in and the team's shared prompt library."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import Truncator
from django.views.decorators.http import require_POST, require_safe

from jobs import catalogue
from jobs.models import Job
from jobs.views import generate

from .forms import PromptForm
from .models import SETTING_KEYS, Prompt

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


def library(request):
    prompts = Prompt.objects.visible_to(request.user).select_related("author")
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
    return render(
        request,
        "studio/library.html",
        {
            "page": page,
            "q": q,
            "tag": tag,
            "mine": mine,
            "all_tags": all_tags,
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
        form.save()
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
    return generate(
        request,
        prefill={**prompt.generate_params, "library_prompt": prompt.pk, "private": prompt.private},
    )


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
    prompt.save()
    messages.success(
        request,
        "Saved to the library. Give it a better title and some tags here, or leave it as it is.",
    )
    return redirect(prompt)
