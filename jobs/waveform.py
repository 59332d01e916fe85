"""A job's waveform: how loud each slice of its audio is, computed once by the worker when it saves
the file, and drawn by the pages as inline SVG that seeks the player where it is clicked.

The worker decodes with miniaudio (MP3 and WAV, the containers Venice's models name, and FLAC and
Ogg Vorbis; Opus and AAC get no waveform) at the file's own rate and channels, so nothing is
resampled. Samples come out as unsigned 8-bit: a waveform a few dozen pixels high needs no more
than 128 levels, and bytes let each slice's peak be found by C loops (`bytes.translate`, then an
`in` test per level) instead of a Python loop over millions of samples (bench/waveform.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import BinaryIO

import miniaudio
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .audio_file import AudioFacts

# Slices per job: finer than any page draws it (a job row draws fewer, see `fold`).
BARS = 300
# A slice is never shorter than this many frames, whatever the file claims its length is.
MIN_FRAMES_PER_BAR = 256
DECODERS = {
    "mp3": miniaudio.FileFormat.MP3,
    "wav": miniaudio.FileFormat.WAV,
    "flac": miniaudio.FileFormat.FLAC,
    "ogg": miniaudio.FileFormat.VORBIS,
}
# An unsigned 8-bit sample -> its distance from silence (128), 0..128.
_DISTANCE = bytes(abs(sample - 128) for sample in range(256))
_LEVELS = [bytes([level]) for level in range(129)]


class StreamedFile(miniaudio.StreamableSource):
    """The spooled file, read by miniaudio's decoder as it goes (never whole in memory)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def read(self, num_bytes: int) -> bytes:
        return self.file.read(num_bytes)

    def seek(self, offset: int, origin: miniaudio.SeekOrigin) -> bool:
        self.file.seek(offset, 0 if origin == miniaudio.SeekOrigin.START else 1)
        return True


def peaks(file: BinaryIO, facts: AudioFacts) -> list[float] | None:
    """The loudest sample of each of about BARS equal slices, 0..1; None when the file cannot
    be decoded. The file's position is back at the start afterwards."""
    decoder = DECODERS.get(facts.format)
    if decoder is None or not (facts.seconds and facts.sample_rate and facts.channels):
        return None
    frames_per_bar = max(MIN_FRAMES_PER_BAR, math.ceil(facts.seconds * facts.sample_rate / BARS))
    file.seek(0)
    try:
        stream = miniaudio.stream_any(
            StreamedFile(file),
            source_format=decoder,
            output_format=miniaudio.SampleFormat.UNSIGNED8,
            nchannels=facts.channels,
            sample_rate=facts.sample_rate,
            frames_to_read=frames_per_bar,
        )
        found = [_loudest(bytes(chunk).translate(_DISTANCE)) / 128 for chunk in stream]
    except miniaudio.MiniaudioError:
        return None
    finally:
        file.seek(0)
    # The length came from the file's headers; a wrong one makes more slices than BARS.
    return [round(peak, 3) for peak in fold(found, BARS)] or None


def _loudest(distances: bytes) -> int:
    # memchr per level, from the loudest down: loud music stops within a few levels.
    for level in range(128, 0, -1):
        if _LEVELS[level] in distances:
            return level
    return 0


def fold(values: Sequence[float], bars: int) -> list[float]:
    """`values` in `bars` bars (or fewer, if there are fewer values), each the loudest of the
    values it covers."""
    count = len(values)
    if count <= bars:
        return list(values)
    return [max(values[bar * count // bars : (bar + 1) * count // bars]) for bar in range(bars)]


# --- drawing ------------------------------------------------------------------------------------

HEIGHT = 40  # the viewBox's; CSS sets the drawn height, and the shape stretches to the width
QUIETEST_SCALE = 0.1  # below this peak, a track is drawn as quiet as it is, not magnified


def svg(peaks: Sequence[float] | None, *, player: str, bars: int = BARS) -> SafeString:
    """The waveform as inline SVG for the <audio id=`player`> beside it; empty without peaks.

    One closed outline through the peaks, mirrored about the middle and drawn against the track's
    loudest, so a quiet track still shows its shape. An outline rather than separate bars: bars
    narrower than a pixel (300 of them on a phone) blur into stripes. The outline clips two
    rectangles: the played part is the second, scaled by the CSS variable --played that
    static/studio.js sets as the player plays; a click seeks the player.
    """
    if not peaks:
        return SafeString("")
    shown = fold(peaks, bars)
    scale = 1 / max(max(shown), QUIETEST_SCALE)
    middle = HEIGHT / 2
    # Silence is a thin line, still there to see and to click.
    halves = [max(0.5, min(1.0, peak * scale) * middle) for peak in shown]
    if len(halves) == 1:  # one point is no outline: stretch it over the width
        halves *= 2
    points = [f"{x} {round(middle - half, 1):g}" for x, half in enumerate(halves)]
    points += [f"{x} {round(middle + half, 1):g}" for x, half in reversed(list(enumerate(halves)))]
    width = len(halves) - 1
    clip = f"wave-{player}"
    return format_html(
        '<svg class="waveform" data-player="{player}" viewBox="0 0 {width} {height}" '
        'preserveAspectRatio="none" role="img" '
        'aria-label="Waveform: a click moves the player there">'
        '<clipPath id="{clip}"><path d="M{start}L{rest}Z"/></clipPath>'
        '<g clip-path="url(#{clip})"><rect class="wave-all" width="{width}" height="{height}"/>'
        '<rect class="wave-played" width="{width}" height="{height}"/></g></svg>',
        player=player,
        width=width,
        height=HEIGHT,
        clip=clip,
        start=points[0],
        rest=" ".join(points[1:]),
    )
