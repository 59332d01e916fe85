"""The music/audio model catalogue, its four pricing shapes, and how long each job runs.

``MUSIC_MODELS`` is the single source: ``model_spec`` is served as-is by ``GET /models``;
the ``sandbox`` part (never served) says how the simulator runs the model.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from sandbox.errors import ApiError, bad_request
from sandbox.money import usd

DEFAULT_MIN_PROMPT_LENGTH = 10
DEFAULT_LYRICS_CHARACTER_LIMIT = 4096

_TTS_VOICES = ["Rachel", "Adam", "Bella", "Antoni", "Domi", "Elli", "Josh", "Sam"]

_NOTHING_SUPPORTED: dict[str, Any] = {
    "supports_lyrics": False,
    "lyrics_required": False,
    "supports_lyrics_optimizer": False,
    "supports_force_instrumental": False,
    "supports_loop": False,
    "supports_language_code": False,
    "supports_speed": False,
    "voices": [],
    "supports_custom_voice_id": False,
    "supported_formats": ["wav"],
    "default_format": "wav",
    "offline": False,
    "beta": False,
    "voice_changer": False,
}

MUSIC_MODELS: tuple[dict[str, Any], ...] = (
    {
        "id": "elevenlabs-music",
        "created": 1_754_006_400,
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "ElevenLabs Music",
            "description": "Studio-grade songs and instrumentals from a text prompt.",
            "pricing": {
                "durations": {
                    "up_to_60s": {"usd": 0.5, "diem": 0.5, "min_seconds": 10, "max_seconds": 60},
                    "up_to_180s": {"usd": 1.2, "diem": 1.2, "min_seconds": 61, "max_seconds": 180},
                    "up_to_300s": {"usd": 2.0, "diem": 2.0, "min_seconds": 181, "max_seconds": 300},
                }
            },
            "supports_force_instrumental": True,
            "min_duration": 10,
            "max_duration": 300,
            "default_duration": 60,
            "min_prompt_length": 10,
            "prompt_character_limit": 2000,
        },
        "sandbox": {
            "p80_base_s": 75.0,
            "p80_per_audio_s": 0.35,
            "sample_rate": 44_100,
            "channels": 2,
            "reports_audio_duration": True,
        },
    },
    {
        "id": "minimax-music-v25",
        "created": 1_758_240_000,
        # No min_prompt_length or duration metadata: clients must fall back to the defaults.
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "MiniMax Music 2.5",
            "description": "Full songs with vocals: bring lyrics, let the optimizer write them, "
            "or ask for an instrumental.",
            "pricing": {"generation": {"usd": 0.69, "diem": 0.69}},
            "supports_lyrics": True,
            "lyrics_character_limit": 3500,
            "supports_lyrics_optimizer": True,
            "supports_force_instrumental": True,
            "prompt_character_limit": 2000,
        },
        "sandbox": {
            "p80_base_s": 150.0,
            "p80_per_audio_s": 0.0,
            "sample_rate": 44_100,
            "channels": 2,
            "reports_audio_duration": False,
            # Songs come out 90..180 s long, chosen by the prompt.
            "song_seconds": (90, 180),
        },
    },
    {
        "id": "elevenlabs-sound-effects-v2",
        "created": 1_751_328_000,
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "ElevenLabs Sound Effects v2",
            "description": "Short sound effects and loops.",
            "pricing": {"per_second": {"usd": 0.006, "diem": 0.006}},
            "supports_loop": True,
            "min_duration": 1,
            "max_duration": 22,
            "default_duration": 5,
            "min_prompt_length": 3,
            "prompt_character_limit": 450,
        },
        "sandbox": {
            "p80_base_s": 8.0,
            "p80_per_audio_s": 0.2,
            "sample_rate": 44_100,
            "channels": 2,
            "reports_audio_duration": True,
        },
    },
    {
        "id": "elevenlabs-tts-v4",
        "created": 1_756_684_800,
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "ElevenLabs TTS v4",
            "description": "Expressive text to speech; the prompt is the text to speak.",
            "pricing": {"per_thousand_characters": {"usd": 0.18, "diem": 0.18}},
            "voices": _TTS_VOICES,
            "default_voice": "Rachel",
            "supports_custom_voice_id": True,
            "supports_speed": True,
            "default_speed": 1.0,
            "min_speed": 0.7,
            "max_speed": 1.2,
            "supports_language_code": True,
            "min_prompt_length": 1,
            "prompt_character_limit": 5000,
        },
        "sandbox": {
            "p80_base_s": 5.0,
            "p80_per_character_s": 0.003,
            "sample_rate": 24_000,
            "channels": 1,
            "reports_audio_duration": False,
            "characters_per_second": 15.0,
        },
    },
    {
        "id": "ace-step-v15",
        "created": 1_759_276_800,
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "ACE-Step 1.5",
            "description": "Songs from a style prompt and your own lyrics, in fixed lengths.",
            "pricing": {
                "durations": {
                    "30s": {"usd": 0.15, "diem": 0.15, "min_seconds": 30, "max_seconds": 30},
                    "60s": {"usd": 0.25, "diem": 0.25, "min_seconds": 60, "max_seconds": 60},
                    "120s": {"usd": 0.45, "diem": 0.45, "min_seconds": 120, "max_seconds": 120},
                    "240s": {"usd": 0.8, "diem": 0.8, "min_seconds": 240, "max_seconds": 240},
                }
            },
            "supports_lyrics": True,
            "lyrics_required": True,
            "duration_options": [30, 60, 120, 240],
            "min_duration": 30,
            "max_duration": 240,
            "default_duration": 60,
            "min_prompt_length": 10,
            "prompt_character_limit": 1000,
            "beta": True,
        },
        "sandbox": {
            "p80_base_s": 45.0,
            "p80_per_audio_s": 0.25,
            "sample_rate": 44_100,
            "channels": 2,
            "reports_audio_duration": True,
        },
    },
    {
        "id": "elevenlabs-voice-changer",
        "created": 1_751_328_000,
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "ElevenLabs Voice Changer",
            "description": "Re-voices an uploaded recording (served by the voice changer API).",
            "pricing": {"per_second": {"usd": 0.005, "diem": 0.005}},
            "voices": _TTS_VOICES,
            "default_voice": "Adam",
            "voice_changer": True,
            "min_duration": 1,
            "max_duration": 300,
            "default_duration": 30,
        },
        "sandbox": {},
    },
    {
        "id": "stable-audio-25",
        "created": 1_746_057_600,
        # Offline and unpriced: listed so clients learn to hide it.
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "Stable Audio 2.5",
            "description": "Instrumental music and soundscapes (currently offline).",
            "min_duration": 1,
            "max_duration": 190,
            "default_duration": 30,
            "min_prompt_length": 10,
            "prompt_character_limit": 2000,
            "offline": True,
        },
        "sandbox": {},
    },
)

_BY_ID = {entry["id"]: entry for entry in MUSIC_MODELS}


def find_model(model_id: str) -> dict[str, Any] | None:
    return _BY_ID.get(model_id)


def listing(model_type: str) -> dict[str, Any]:
    """The ``GET /models`` answer; only ``music`` lists anything here."""
    data = []
    if model_type == "music":
        data = [
            {
                "id": e["id"],
                "object": "model",
                "created": e["created"],
                "type": "music",
                "owned_by": "venice.ai",
                "model_spec": e["model_spec"],
            }
            for e in MUSIC_MODELS
        ]
    return {"object": "list", "type": model_type, "data": data}


def serving_model(model_id: str) -> dict[str, Any]:
    """A model the audio endpoints can run, or the error Venice gives for it."""
    entry = find_model(model_id)
    if entry is None:
        raise ApiError(404, f"Model {model_id} not found")
    spec = entry["model_spec"]
    if spec["voice_changer"]:
        raise bad_request(
            f"Model {model_id} is a voice changer model and is not available on this endpoint",
            field="model",
        )
    return entry


def has_duration_metadata(spec: dict[str, Any]) -> bool:
    return bool(spec.get("duration_options")) or "min_duration" in spec


def check_duration(spec: dict[str, Any], duration: int) -> None:
    options = spec.get("duration_options")
    if options:
        if duration not in options:
            raise bad_request(
                f"duration_seconds must be one of {options}",
                field="duration_seconds",
                duration_options=options,
            )
    elif not spec["min_duration"] <= duration <= spec["max_duration"]:
        raise bad_request(
            f"duration_seconds must be between {spec['min_duration']} and {spec['max_duration']}",
            field="duration_seconds",
            min_duration=spec["min_duration"],
            max_duration=spec["max_duration"],
        )


def price_usd(entry: dict[str, Any], duration: int | None, characters: int | None) -> Decimal:
    """The quote for one job; ``duration`` is already resolved to the model default."""
    spec = entry["model_spec"]
    pricing = spec.get("pricing")
    if not pricing:
        raise bad_request(f"Pricing is not available for model {entry['id']}", field="model")
    if "generation" in pricing:
        return usd(pricing["generation"]["usd"])
    if "per_second" in pricing:
        assert duration is not None
        return usd(Decimal(str(pricing["per_second"]["usd"])) * duration)
    if "per_thousand_characters" in pricing:
        assert characters is not None
        rate = Decimal(str(pricing["per_thousand_characters"]["usd"]))
        return usd(rate * characters / 1000)
    assert duration is not None
    for tier in pricing["durations"].values():
        if tier["min_seconds"] <= duration <= tier["max_seconds"]:
            return usd(tier["usd"])
    raise bad_request("duration_seconds is outside every priced tier", field="duration_seconds")


def is_character_priced(spec: dict[str, Any]) -> bool:
    return "per_thousand_characters" in (spec.get("pricing") or {})


def _unit_interval(*parts: str) -> float:
    """A number in [0, 1) fixed by ``parts``: the sandbox's only source of 'randomness'."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def audio_seconds(
    entry: dict[str, Any], duration: int | None, prompt: str, speed: float | None
) -> float:
    """How long the generated audio is."""
    run = entry["sandbox"]
    if duration is not None:
        return float(duration)
    if "characters_per_second" in run:
        return max(1.0, len(prompt) / run["characters_per_second"] / (speed or 1.0))
    shortest, longest = run["song_seconds"]
    return float(shortest + int(_unit_interval(entry["id"], prompt) * (longest - shortest + 1)))


def p80_execution_s(entry: dict[str, Any], seconds_of_audio: float, characters: int) -> float:
    """The simulated time within which 80% of such jobs finish (what retrieve reports)."""
    run = entry["sandbox"]
    return (
        run["p80_base_s"]
        + run.get("p80_per_audio_s", 0.0) * seconds_of_audio
        + run.get("p80_per_character_s", 0.0) * characters
    )


def execution_s(p80_s: float, queue_id: str, fastest: float = 0.5) -> float:
    """This job's actual simulated run time, fixed by its queue id.

    Uniform from ``fastest`` x P80 to the point that puts exactly 80% of jobs within P80
    (``fastest`` 0.5 gives 0.5..1.125 x P80).
    """
    slowest = fastest + (1 - fastest) / 0.8
    return p80_s * (fastest + (slowest - fastest) * _unit_interval("run", queue_id))


def installments(entry: dict[str, Any], total: Decimal) -> list[Decimal]:
    """The CHARGE rows a job is billed in.

    Per-second models bill in two installments under one request id, as Venice may: clients
    have to sum a request's charges rather than assume one row per job.
    """
    if "per_second" not in (entry["model_spec"].get("pricing") or {}):
        return [total]
    first = usd(total / 2)
    return [first, total - first]
