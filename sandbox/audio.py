"""Playable 16-bit PCM WAV audio, generated while it is being sent.

A job's audio is a short phrase of plucked notes chosen by its prompt, repeated for the
job's duration and faded out at the end. Only one phrase (a couple of seconds of samples)
is ever held in memory, so a 50 MB file streams with flat memory.
"""

from __future__ import annotations

import hashlib
import math
import struct
import sys
from array import array
from collections.abc import Iterator
from functools import lru_cache

SAMPLE_BYTES = 2  # 16-bit PCM
CHUNK_BYTES = 64 * 1024
_NOTES_PER_PHRASE = 8
_NOTE_SECONDS = 0.25
_FADE_OUT_SECONDS = 0.5
# A major pentatonic scale over two octaves, in semitones above A3 (220 Hz).
_SCALE = (0, 2, 4, 7, 9, 12, 14, 16, 19, 21)


def _little_endian(samples: array) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


@lru_cache(maxsize=16)
def phrase(seed: bytes, sample_rate: int, channels: int) -> bytes:
    """One phrase of interleaved PCM frames; the seed picks the notes."""
    note_frames = int(sample_rate * _NOTE_SECONDS)
    attack = max(1, sample_rate // 200)
    mono = array("h")
    for index in range(_NOTES_PER_PHRASE):
        semitones = _SCALE[seed[index] % len(_SCALE)]
        step = 2 * math.pi * 220.0 * 2 ** (semitones / 12) / sample_rate
        decay = 4.0 / note_frames
        mono.extend(
            int(
                9000
                * min(1.0, n / attack)
                * math.exp(-decay * n)
                * (math.sin(step * n) + 0.3 * math.sin(2 * step * n))
            )
            for n in range(note_frames)
        )
    if channels == 1:
        return _little_endian(mono)
    frames = array("h", bytes(len(mono) * channels * SAMPLE_BYTES))
    for channel in range(channels):
        frames[channel::channels] = mono
    return _little_endian(frames)


class WavStream:
    """A WAV file of ``seconds`` length whose content is fixed by ``seed_text``."""

    def __init__(self, seed_text: str, seconds: float, sample_rate: int, channels: int) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = round(seconds * sample_rate)
        self._block_align = channels * SAMPLE_BYTES
        self._data_bytes = self.frames * self._block_align
        self._seed = hashlib.sha256(seed_text.encode()).digest()

    @property
    def content_length(self) -> int:
        return 44 + self._data_bytes

    def header(self) -> bytes:
        byte_rate = self.sample_rate * self._block_align
        return b"".join(
            (
                b"RIFF",
                struct.pack("<I", 36 + self._data_bytes),
                b"WAVE",
                b"fmt ",
                struct.pack(
                    "<IHHIIHH",
                    16,
                    1,
                    self.channels,
                    self.sample_rate,
                    byte_rate,
                    self._block_align,
                    SAMPLE_BYTES * 8,
                ),
                b"data",
                struct.pack("<I", self._data_bytes),
            )
        )

    def chunks(self) -> Iterator[bytes]:
        """The whole file, header first, in chunks of at most ``CHUNK_BYTES``."""
        yield self.header()
        notes = phrase(self._seed, self.sample_rate, self.channels)
        # Enough repeats that any chunk can be cut from one place without wrapping.
        loop = notes * (2 + CHUNK_BYTES // len(notes))
        fade_bytes = min(
            self._data_bytes, round(_FADE_OUT_SECONDS * self.sample_rate) * self._block_align
        )
        steady_end = self._data_bytes - fade_bytes
        position = 0
        while position < steady_end:
            size = min(CHUNK_BYTES, steady_end - position)
            start = position % len(notes)
            yield loop[start : start + size]
            position += size
        if fade_bytes:
            start = position % len(notes)
            yield faded(loop[start : start + fade_bytes], self.channels)


def faded(tail: bytes, channels: int) -> bytes:
    """``tail`` (interleaved 16-bit PCM) with a linear fade to silence."""
    samples = array("h")
    samples.frombytes(tail)
    if sys.byteorder == "big":
        samples.byteswap()
    frames = len(samples) // channels
    for frame in range(frames):
        gain = (frames - frame) / frames
        for channel in range(channels):
            index = frame * channels + channel
            samples[index] = int(samples[index] * gain)
    return _little_endian(samples)
