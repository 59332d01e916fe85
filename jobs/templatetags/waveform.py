"""`{% waveform job %}`: a finished job's waveform as inline SVG (jobs.waveform.svg)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from jobs.models import Job
from jobs.waveform import BARS, svg

register = template.Library()


@register.simple_tag
def waveform(job: Job, player: str = "", bars: int = BARS) -> SafeString:
    """Drawn for the <audio id=`player`> (a job row's `player-<pk>` by default); nothing for a
    job without peaks."""
    return svg(job.audio_peaks, player=player or f"player-{job.pk}", bars=bars)
