"""What a saved audio file really is: its container and its length, read from the bytes.

Venice's headers are hints (only Seed Audio sends a length, and a model's `default_format` is
informational), so the file decides. mutagen reads every container `supported_formats` names:
MP3, WAV, FLAC, Ogg (Vorbis, Opus), AAC/M4A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import mutagen
from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

# mutagen's class for a container -> (the format name and extension, its media type).
FORMATS: dict[type, tuple[str, str]] = {
    MP3: ("mp3", "audio/mpeg"),
    WAVE: ("wav", "audio/wav"),
    FLAC: ("flac", "audio/flac"),
    OggVorbis: ("ogg", "audio/ogg"),
    OggOpus: ("opus", "audio/ogg"),
    MP4: ("m4a", "audio/mp4"),
    AAC: ("aac", "audio/aac"),
}


@dataclass(frozen=True)
class AudioFacts:
    format: str  # "" when the bytes are no audio container mutagen knows
    content_type: str
    seconds: float | None
    # What the waveform's decoder needs to read the file as it is (no resampling).
    sample_rate: int | None = None
    channels: int | None = None


def inspect(file: BinaryIO) -> AudioFacts:
    """Read the container and length from an open file, leaving its position at the start."""
    file.seek(0)
    try:
        found = mutagen.File(file, options=list(FORMATS))
    except mutagen.MutagenError:
        found = None
    finally:
        file.seek(0)
    if found is None:
        return AudioFacts("", "", None)
    name, content_type = FORMATS[type(found)]
    length = getattr(found.info, "length", None)
    seconds = round(float(length), 3) if length and length > 0 else None
    return AudioFacts(
        name,
        content_type,
        seconds,
        sample_rate=getattr(found.info, "sample_rate", None) or None,
        channels=getattr(found.info, "channels", None) or None,
    )
