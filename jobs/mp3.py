"""MP3 downloads of WAV originals, encoded as they are sent.

miniaudio decodes the stored WAV (any of its sample formats, as 16-bit PCM: what LAME takes) a
chunk at a time and lameenc encodes each chunk, so a download holds one chunk of audio in memory
whatever the file's length, and its first bytes leave before the last are encoded. The original
stays the file Studio keeps; an MP3 is made anew for each download, never stored: about 0.4 s
of CPU per minute of CD stereo and 0.1 s for 24 kHz mono speech, at LAME's middle quality
(bench/waveform.py prints it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

import lameenc
import miniaudio

from .audio_file import AudioFacts
from .waveform import StreamedFile

log = logging.getLogger(__name__)

# kbit/s, constant: near-transparent for music, and half as much for mono (speech).
BIT_RATES = {1: 96, 2: 192}
QUALITY = 5  # LAME's 0 (best, slowest) .. 9: 5 is its default speed/quality balance
# Frames decoded and encoded at a time: under half a second of 48 kHz audio, about 64 KiB.
CHUNK_FRAMES = 16_384
# The input rates MPEG audio has; another rate is decoded to the nearest of these instead.
MP3_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)


def can_encode(facts: AudioFacts) -> bool:
    """An MP3 is offered for WAV originals (an MP3 original is its own MP3, and the other
    compressed formats would only lose more in a second lossy pass)."""
    return facts.format == "wav" and bool(facts.sample_rate and facts.channels)


def output_rate(sample_rate: int) -> int:
    return min(MP3_RATES, key=lambda rate: abs(rate - sample_rate))


def encode(file: BinaryIO, facts: AudioFacts) -> Iterator[bytes]:
    """The WAV `file` as MP3 bytes, chunk by chunk; the file is closed when the stream ends
    (or is closed early, as a response is when the client goes away).

    More than two channels are mixed down to stereo by the decoder (MPEG audio has no more).
    A file that stops decoding partway ends the MP3 there: the headers are sent by then.
    """
    channels = 1 if facts.channels == 1 else 2
    rate = output_rate(facts.sample_rate or 44_100)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(BIT_RATES[channels])
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(channels)
    encoder.set_quality(QUALITY)
    try:
        file.seek(0)
        pcm_chunks = miniaudio.stream_any(
            StreamedFile(file),
            source_format=miniaudio.FileFormat.WAV,
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=channels,
            sample_rate=rate,
            frames_to_read=CHUNK_FRAMES,
        )
        try:
            for pcm in pcm_chunks:
                if encoded := encoder.encode(pcm.tobytes()):
                    yield bytes(encoded)
        except miniaudio.MiniaudioError as exc:
            log.warning("MP3 download stopped: the WAV stopped decoding (%s)", exc)
        if tail := encoder.flush():
            yield bytes(tail)
    finally:
        file.close()
