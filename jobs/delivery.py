"""A finished job's audio, served from storage in byte ranges so that a player can seek, and a
WAV original as MP3, encoded as it is sent."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify

from . import audio_file, mp3, ranges
from .models import Job


def audio_filename(job: Job, *, title: str = "") -> str:
    """elevenlabs-music-calm-piano-at-dusk-42.wav, or the title's words when one is given."""
    ext = (job.audio_format or job.audio.name.rsplit(".", 1)[-1] or "bin").lower()[:8]
    if title:
        return f"{slugify(title) or 'sound'}.{ext}"
    words = slugify(job.prompt)[:40].strip("-") or "audio"
    return f"{slugify(job.model_id) or 'audio'}-{words}-{job.pk}.{ext}"


def audio_response(
    request, job: Job, *, cache_control: str, filename: str | None = None
) -> HttpResponse:
    """The caller has checked that `request` may have this job's audio."""
    name = job.audio.name
    try:
        size = default_storage.size(name)
    except (OSError, NotImplementedError) as exc:
        raise Http404("The audio file is missing") from exc
    content_type = (
        job.audio_content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    response = ranges.ranged_response(
        lambda: default_storage.open(name, "rb"),
        size,
        request.headers.get("Range"),
        content_type=content_type,
        filename=filename or audio_filename(job),
        as_attachment=request.GET.get("download") == "1",
    )
    if response.status_code != 416:
        response["Cache-Control"] = cache_control
    return response


def mp3_response(job: Job, *, cache_control: str, filename: str | None = None) -> HttpResponse:
    """The caller has checked that the request may have this job's audio."""
    if job.audio_format != "wav":
        raise Http404("Only a WAV original has an MP3 download")
    try:
        file = default_storage.open(job.audio.name, "rb")
    except OSError as exc:
        raise Http404("The audio file is missing") from exc
    facts = audio_file.inspect(file)
    if not mp3.can_encode(facts):
        file.close()
        raise Http404("This file cannot be made into an MP3")
    response = StreamingHttpResponse(mp3.encode(file, facts), content_type="audio/mpeg")
    name = (filename or audio_filename(job)).rsplit(".", 1)[0] + ".mp3"
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["Cache-Control"] = cache_control
    return response
