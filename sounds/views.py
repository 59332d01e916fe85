"""The sound library page, collections, and the panel on a sound's page. Thin: the rules are
sounds.library's, the zip is sounds.zips'."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.models import Job

from . import library, zips
from .forms import AddForm, CollectionForm, SearchForm, TagForm
from .models import Collection, CollectionSound, SoundTag

SOUNDS_PER_PAGE = 20
COLLECTION_PAGE = 50


def _with_marks(sounds, user):
    """Each sound's tags and the collections (of those `user` can open) it is in."""
    return sounds.prefetch_related(
        Prefetch("sound_tags", queryset=SoundTag.objects.order_by("tag")),
        Prefetch(
            "collection_entries",
            queryset=CollectionSound.objects.filter(
                collection__in=library.collections_for(user)
            ).select_related("collection"),
        ),
    )


@require_GET
def sound_library(request):
    form = SearchForm(request.user, request.GET or None)
    query = form.query() if request.GET else library.Search()
    sounds = _with_marks(library.search(request.user, query), request.user)
    page = Paginator(sounds, SOUNDS_PER_PAGE).get_page(request.GET.get("page"))
    choices = list(library.collections_for(request.user))
    shown = list(page.object_list)
    for sound in shown:  # each sound offers the collections it is not in yet
        entries = sound.collection_entries.all()
        already = {entry.collection_id for entry in entries}
        sound.add_choices = [choice for choice in choices if choice.pk not in already]
        sound.in_collections = [
            (entry, library.can_take_out(request.user, entry)) for entry in entries
        ]
    return render(
        request,
        "sounds/library.html",
        {
            "form": form,
            "page": page,
            "sounds": shown,
            "filtered": query != library.Search(),
        },
    )


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback)


# --- collections ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def collections(request):
    """The collections the member can open, and a form for a new one."""
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        collection = form.save(commit=False)
        collection.owner = request.user
        collection.save()
        messages.success(request, f"Collection “{collection.name}” made.")
        return redirect(collection)
    shown = (
        library.collections_for(request.user).select_related("owner").order_by("-updated_at", "-pk")
    )
    return render(
        request,
        "sounds/collections.html",
        {"collections": shown, "form": form},
        status=400 if form.errors else 200,
    )


def _collection(request, pk: int) -> Collection:
    """The collection if the member may open it; a private one of someone else is 404."""
    return get_object_or_404(library.collections_for(request.user).select_related("owner"), pk=pk)


@require_GET
def collection(request, pk: int):
    shown = _collection(request, pk)
    sounds = _with_marks(library.collection_sounds(request.user, shown), request.user)
    page = Paginator(sounds, COLLECTION_PAGE).get_page(request.GET.get("page"))
    page_sounds = list(page.object_list)
    entries = {
        entry.job_id: entry
        for entry in CollectionSound.objects.filter(
            collection=shown, job__in=[sound.pk for sound in page_sounds]
        ).select_related("collection")
    }
    rows = [
        (sound, library.can_take_out(request.user, entries[sound.pk]))
        for sound in page_sounds
        if sound.pk in entries
    ]
    return render(
        request,
        "sounds/collection.html",
        {
            "collection": shown,
            "rows": rows,
            "page": page,
            "can_edit": library.can_edit(request.user, shown),
        },
    )


@require_http_methods(["GET", "POST"])
def collection_edit(request, pk: int):
    shown = _collection(request, pk)
    if not library.can_edit(request.user, shown):
        return HttpResponseForbidden("Only the collection's owner or an admin changes it.")
    form = CollectionForm(request.POST or None, instance=shown)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Collection saved.")
        return redirect(shown)
    return render(
        request,
        "sounds/collection_form.html",
        {"collection": shown, "form": form},
        status=400 if form.errors else 200,
    )


@require_POST
def collection_delete(request, pk: int):
    shown = _collection(request, pk)
    if not library.can_edit(request.user, shown):
        return HttpResponseForbidden("Only the collection's owner or an admin deletes it.")
    name = shown.name
    shown.delete()  # its entries go with it; the sounds stay
    messages.success(request, f"Collection “{name}” deleted; its sounds are still kept.")
    return redirect("sounds:collections")


@require_GET
def collection_zip(request, pk: int):
    shown = _collection(request, pk)
    sounds = library.collection_sounds(request.user, shown).order_by("collection_entries__added_at")
    response = StreamingHttpResponse(zips.stream(list(sounds)), content_type="application/zip")
    name = f"{slugify(shown.name) or 'collection'}.zip"
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["Cache-Control"] = "private, no-store"
    return response


# --- the panel on a sound's page (and the library page's buttons) --------------------------------


def _sound(request, pk: int) -> Job:
    """A job the member can see (404 otherwise); the panel says when it is not a sound."""
    return get_object_or_404(Job.objects.visible_to(request.user), pk=pk)


def _panel(request, job: Job, *, error: str = "", done: str = "", add_form=None, tag_form=None):
    is_sound = library.sounds_for(request.user).filter(pk=job.pk).exists()
    entries = (
        CollectionSound.objects.filter(
            job=job, collection__in=library.collections_for(request.user)
        )
        .select_related("collection")
        .order_by("collection__name")
    )
    return render(
        request,
        "sounds/_panel.html",
        {
            "job": job,
            "is_sound": is_sound,
            "entries": [(entry, library.can_take_out(request.user, entry)) for entry in entries],
            "tags": list(job.sound_tags.all()),
            "add_form": add_form or AddForm(request.user, job=job),
            "tag_form": tag_form or TagForm(),
            "error": error,
            "done": done,
        },
    )


def _answer(request, job: Job, *, error: str = "", done: str = "", **forms):
    """htmx gets the panel again; a plain form post goes back where it came from."""
    if request.htmx:
        return _panel(request, job, error=error, done=done, **forms)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    return _back(request, job.get_absolute_url())


@require_GET
def panel(request, pk: int):
    return _panel(request, _sound(request, pk))


@require_POST
def add(request, pk: int):
    job = _sound(request, pk)
    form = AddForm(request.user, request.POST)
    if not form.is_valid():
        return _answer(request, job, error="Pick one of your collections.", add_form=form)
    target = form.cleaned_data["collection"]
    try:
        added = library.add(request.user, target, job)
    except library.Refused as exc:
        return _answer(request, job, error=str(exc))
    said = f"Added to “{target.name}”." if added else f"Already in “{target.name}”."
    return _answer(request, job, done=said)


@require_POST
def take_out(request, pk: int):
    job = _sound(request, pk)
    chosen = request.POST.get("collection", "")
    target = get_object_or_404(
        library.collections_for(request.user), pk=int(chosen) if chosen.isdigit() else 0
    )
    try:
        library.take_out(request.user, target, job)
    except library.Refused as exc:
        return _answer(request, job, error=str(exc))
    return _answer(request, job, done=f"Taken out of “{target.name}”.")


@require_POST
def tag(request, pk: int):
    job = _sound(request, pk)
    form = TagForm(request.POST)
    if not form.is_valid():
        return _answer(request, job, error="Write a tag first.", tag_form=form)
    try:
        words = library.add_tags(request.user, job, form.cleaned_data["tags"])
    except library.Refused as exc:
        return _answer(request, job, error=str(exc), tag_form=form)
    return _answer(request, job, done=f"Tagged {', '.join(words)}." if words else "Already tagged.")


@require_POST
def untag(request, pk: int):
    job = _sound(request, pk)
    try:
        library.remove_tag(request.user, job, request.POST.get("tag", ""))
    except library.Refused as exc:
        return _answer(request, job, error=str(exc))
    return _answer(request, job)
