"""Playable MP3 audio (constant bit rate, encoded with LAME through ``lameenc``).

Encoding a whole track costs about a fifth of a second per minute of stereo, too much for
a simulator that hands out hundreds of tracks. So one phrase is encoded once, as a complete
MP3 stream of its own, and the track is that stream repeated, then a shorter faded tail.
Concatenated MP3 streams are themselves a valid MP3 stream (each starts with an empty bit
reservoir), so browsers and tag readers take the result as one constant-bit-rate file, and
the file's size, hence its ``Content-Length``, is known before a byte is sent.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from functools import lru_cache

import lameenc

from sandbox.audio import SAMPLE_BYTES, faded, phrase

# kbit/s: CD-quality stereo music, and speech-grade mono.
STEREO_BIT_RATE = 128
MONO_BIT_RATE = 64
_FADE_OUT_SECONDS = 0.5
_QUALITY = 7  # LAME's fast setting: plenty for a simulator's tones
# How many input samples LAME delays its output by (encoder delay plus decoder delay).
_ENCODER_DELAY = 1105
_BIT_RATES = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {
    3: (44_100, 48_000, 32_000),
    2: (22_050, 24_000, 16_000),
    0: (11_025, 12_000, 8_000),
}


def count_frames(data: bytes) -> tuple[int, int]:
    """(frames, samples per frame) of an MP3 stream made of bare frames (no tags)."""
    position = frames = 0
    samples_per_frame = 1152
    while position + 4 <= len(data):
        header = int.from_bytes(data[position : position + 4], "big")
        if header >> 21 != 0x7FF:
            raise ValueError(f"no MP3 frame at byte {position}")
        version = (header >> 19) & 3
        mpeg1 = version == 3
        bit_rate = _BIT_RATES[mpeg1][(header >> 12) & 15] * 1000
        sample_rate = _SAMPLE_RATES[version][(header >> 10) & 3]
        padding = (header >> 9) & 1
        samples_per_frame = 1152 if mpeg1 else 576
        position += samples_per_frame // 8 * bit_rate // sample_rate + padding
        frames += 1
    return frames, samples_per_frame


def _encode(pcm: bytes, sample_rate: int, channels: int) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(STEREO_BIT_RATE if channels == 2 else MONO_BIT_RATE)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(_QUALITY)
    return bytes(encoder.encode(pcm) + encoder.flush())


@lru_cache(maxsize=16)
def _encoded_phrase(seed: bytes, sample_rate: int, channels: int) -> tuple[bytes, float]:
    """The phrase as a stand-alone MP3 stream, and how many seconds it plays."""
    data = _encode(phrase(seed, sample_rate, channels), sample_rate, channels)
    frames, samples_per_frame = count_frames(data)
    return data, frames * samples_per_frame / sample_rate


@lru_cache(maxsize=16)
def _encoded_tail(seed: bytes, sample_rate: int, channels: int, frames: int) -> bytes:
    """The phrase's first ``frames`` sample frames, faded out, as a stand-alone stream."""
    pcm = phrase(seed, sample_rate, channels)
    frame_bytes = channels * SAMPLE_BYTES
    take = min(frames, len(pcm) // frame_bytes) * frame_bytes
    if not take:
        return b""
    fade = min(take, round(_FADE_OUT_SECONDS * sample_rate) * frame_bytes)
    tail = pcm[: take - fade] + faded(pcm[take - fade : take], channels)
    return _encode(tail, sample_rate, channels)


class Mp3Stream:
    """An MP3 file of about ``seconds`` length whose content is fixed by ``seed_text``."""

    def __init__(self, seed_text: str, seconds: float, sample_rate: int, channels: int) -> None:
        seed = hashlib.sha256(seed_text.encode()).digest()
        self._body, body_seconds = _encoded_phrase(seed, sample_rate, channels)
        self._repeats = max(0, math.floor(seconds / body_seconds))
        left_s = seconds - self._repeats * body_seconds
        # LAME pads the start by its delay; ask for that much less so the total stays true.
        tail_frames = max(0, round(left_s * sample_rate) - _ENCODER_DELAY)
        if self._repeats == 0:
            tail_frames = max(tail_frames, 1)  # never an empty file
        self._tail = _encoded_tail(seed, sample_rate, channels, tail_frames)
        self.content_length = self._repeats * len(self._body) + len(self._tail)

    def chunks(self) -> Iterator[bytes]:
        for _ in range(self._repeats):
            yield self._body
        if self._tail:
            yield self._tail
